"""The on-disk format of a synthetic STAIR dataset, and its reader.

``stair synth --out DIR`` writes a folder::

    DIR/
      questions/<split>.jsonl   one JSON object per line, per question (splits: train, val, test,
                                test_novel, test_more_steps)
      scene_graphs.json         {video_id: scene graph} (stair.programs.save_scene_graphs)
      vocab.json                objects, relations, actions (phrase, verb, object, base,
                                implied relations), verbs, furniture, answers
      meta.json                 format, seed, sizes, fps, frames, dim, held-out compositions, ...
      features.h5               symbolic renderer output (a stair.data.video.store store)
      videos/<video_id>.mp4     optional, video renderer output (H.264)

**A question line** (``questions/<split>.jsonl``)::

    {"qid": "v00012-3", "video_id": "v00012",
     "question": "Were they holding the cup before opening a door?",
     "program": "Exists(cup, Iterate(Localize(before, opening a door), Filter(frame, [relations, holding, objects])))",
     "answer": "yes",
     "metadata": {"template": "exists_relation_object", "family": "exists",
                  "semantic": "relation", "structural": "verify", "answer_type": "binary",
                  "steps": 4, "time_expr": "before", "indirect": false,
                  "compositions": ["family-time:exists|before", "rel-obj:holding|cup"],
                  "novel": false, "split": "train"},
     "golds": {"0": {"type": "Bool", "value": true}, "1": {"type": "Concept", ...}, ...}}

- ``program``: AGQA syntax (AGQA_FORMAT.md), accepted by ``stair.programs.compile_program``;
  ``answer`` and ``golds`` are what ``stair.programs.execute`` gives on the video's scene graph
  (``golds``: module-tree node id -> ``SymValue.to_json()``, as ``SymbolicResult.golds_json()``).
- ``metadata``: ``family`` (exists, query, choose, and, xor, first_last, superlative, compare,
  sequencing, count), ``semantic`` (object / relation / action: what the question is about),
  ``structural`` (query / verify / logic / choose / compare), ``answer_type`` (binary: yes/no or
  before/after; open), ``steps`` (modules in the compiled tree), ``time_expr`` (video, before,
  after, while, between, or tag for Compare's before-or-after), ``indirect`` (an indirect
  reference is used), ``compositions`` (see :mod:`stair.data.synth.splits`), ``novel`` (holds a
  held-out composition), ``split``.

**features.h5** is a feature store (:mod:`stair.data.video.store`): ``/videos/<video_id>``
float32 ``[T, D]``, attributes ``backbone="symbolic"``, ``frames``, ``fps``, ``timestamps``; read
it with ``FeatureStore(path)`` or :meth:`SynthDataset.features`.

Every file is written atomically (temporary file + rename). :class:`SynthDataset` reads a folder;
a malformed record raises :class:`DatasetFormatError` naming the file and the line.
"""  # noqa: E501

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, fields
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from stair.data.agqa.files import DatasetFormatError
from stair.data.synth.vocab import Vocab
from stair.programs import SceneGraph, SceneGraphError, load_scene_graphs

__all__ = [
    "DatasetFormatError",
    "QuestionMeta",
    "QuestionRecord",
    "QuestionWriter",
    "SynthDataset",
    "write_json_atomic",
    "write_jsonl_atomic",
]

FORMAT = "stair-synth/1"


@dataclass(frozen=True)
class QuestionMeta:
    """Per-question metadata (meanings in the module docstring)."""

    template: str
    family: str
    semantic: str
    structural: str
    answer_type: str
    steps: int
    time_expr: str
    indirect: bool
    compositions: tuple[str, ...]
    novel: bool
    split: str

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["compositions"] = list(self.compositions)
        return out


_META_TYPES = {f.name: f.type for f in fields(QuestionMeta)}
_PY_TYPES = {"str": str, "int": int, "bool": bool}


@dataclass(frozen=True)
class QuestionRecord:
    """One question: text, AGQA program, answer, metadata and the gold value of every node."""

    qid: str
    video_id: str
    question: str
    program: str
    answer: str
    metadata: QuestionMeta
    golds: dict[str, dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {
            "qid": self.qid, "video_id": self.video_id, "question": self.question,
            "program": self.program, "answer": self.answer, "metadata": self.metadata.to_json(),
            "golds": self.golds,
        }  # fmt: skip

    @classmethod
    def from_json(cls, data: Any, path: str | os.PathLike, line: int) -> QuestionRecord:
        """Check and convert one decoded line; errors name ``path`` and ``line``."""

        def fail(reason: str) -> DatasetFormatError:
            return DatasetFormatError(path, f"line {line}", reason)

        if not isinstance(data, dict):
            raise fail(f"expected a JSON object, found {type(data).__name__}")
        for key in ("qid", "video_id", "question", "program", "answer"):
            if not isinstance(data.get(key), str):
                raise fail(f"field {key!r} must be a string, found {data.get(key)!r}")
        meta, golds = data.get("metadata"), data.get("golds")
        if not isinstance(meta, dict):
            raise fail("field 'metadata' must be an object")
        values = {}
        for name, kind in _META_TYPES.items():
            value = meta.get(name)
            if name == "compositions":
                if not (isinstance(value, list) and all(isinstance(c, str) for c in value)):
                    raise fail("metadata 'compositions' must be a list of strings")
                value = tuple(value)
            elif type(value) is not _PY_TYPES[str(kind)]:
                raise fail(f"metadata {name!r} must be of type {kind}, found {value!r}")
            values[name] = value
        if not (isinstance(golds, dict) and all(isinstance(g, dict) and "type" in g
                                                for g in golds.values())):  # fmt: skip
            raise fail("field 'golds' must map node ids to typed values")
        return cls(data["qid"], data["video_id"], data["question"], data["program"],
                   data["answer"], QuestionMeta(**values), golds)  # fmt: skip


def _tmp_sibling(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")


def write_json_atomic(path: str | os.PathLike, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` through a temporary file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_sibling(path)
    try:
        tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class QuestionWriter:
    """Append question records to a ``.jsonl`` file that appears, complete, only on close.

    Lines go to a temporary sibling; :meth:`close` renames it into place, :meth:`abort` (or
    leaving a ``with`` block by an exception) deletes it, so a reader never sees half a file.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = _tmp_sibling(self.path)
        self._file = open(self._tmp, "w", encoding="utf-8")  # noqa: SIM115
        self.count = 0

    def write(self, record: QuestionRecord) -> None:
        self._file.write(json.dumps(record.to_json(), separators=(",", ":")) + "\n")
        self.count += 1

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()
            os.replace(self._tmp, self.path)

    def abort(self) -> None:
        self._file.close()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> QuestionWriter:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()


def write_jsonl_atomic(path: str | os.PathLike, records: Iterable[QuestionRecord]) -> int:
    """Write question records, one JSON object a line, atomically; returns how many."""
    with QuestionWriter(path) as writer:
        for record in records:
            writer.write(record)
    return writer.count


def iter_questions(path: str | os.PathLike) -> Iterator[QuestionRecord]:
    """Stream the question records of one ``questions/<split>.jsonl`` file."""
    path = Path(path)
    try:
        f = open(path, encoding="utf-8")  # noqa: SIM115
    except OSError as err:
        raise DatasetFormatError(path, "", f"cannot read questions ({err.strerror})") from err
    with f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as err:
                raise DatasetFormatError(
                    path, f"line {number}", f"invalid JSON ({err.msg})"
                ) from None
            yield QuestionRecord.from_json(data, path, number)


class SynthDataset:
    """A synthetic dataset folder: questions per split, scene graphs, vocabulary and features."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise DatasetFormatError(self.root, "", "no such dataset folder")
        self.meta: dict[str, Any] = self._json("meta.json")
        if self.meta.get("format") != FORMAT:
            raise DatasetFormatError(
                self.root / "meta.json", "format", f"expected {FORMAT!r}, found "
                f"{self.meta.get('format')!r}"
            )  # fmt: skip
        self._questions: dict[str, list[QuestionRecord]] = {}
        self._store = None

    @classmethod
    def load(cls, root: str | os.PathLike) -> SynthDataset:
        return cls(root)

    def _json(self, name: str) -> Any:
        path = self.root / name
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except OSError as err:
            raise DatasetFormatError(path, "", f"cannot read ({err.strerror})") from err
        except json.JSONDecodeError as err:
            raise DatasetFormatError(
                path, f"line {err.lineno}", f"invalid JSON ({err.msg})"
            ) from None

    @property
    def splits(self) -> list[str]:
        """The splits that have a question file."""
        return sorted(p.stem for p in (self.root / "questions").glob("*.jsonl"))

    def questions(self, split: str) -> list[QuestionRecord]:
        """All questions of ``split`` (read once, then cached)."""
        if split not in self._questions:
            self._questions[split] = list(
                iter_questions(self.root / "questions" / f"{split}.jsonl")
            )
        return self._questions[split]

    @cached_property
    def scene_graphs(self) -> dict[str, SceneGraph]:
        try:
            return load_scene_graphs(self.root / "scene_graphs.json")
        except SceneGraphError as err:
            raise DatasetFormatError(self.root / "scene_graphs.json", "", str(err)) from err

    @cached_property
    def vocab(self) -> Vocab:
        try:
            return Vocab.from_json(self._json("vocab.json"))
        except (KeyError, TypeError, ValueError) as err:
            raise DatasetFormatError(self.root / "vocab.json", "", f"malformed ({err!r})") from err

    @cached_property
    def answers(self) -> tuple[str, ...]:
        """The answer vocabulary: every answer a question of this benchmark can have."""
        return tuple(self._json("vocab.json").get("answers", ()))

    def features(self, video_id: str) -> np.ndarray:
        """Symbolic features of a video, float32 ``[T, D]`` (from ``features.h5``)."""
        from stair.data.video.store import FeatureStore

        if self._store is None:
            self._store = FeatureStore(self.root / "features.h5")
        return self._store.get(video_id)[0]

    def video_path(self, video_id: str) -> Path:
        """Where the video renderer put ``video_id`` (the file may not exist)."""
        return self.root / "videos" / f"{video_id}.mp4"
