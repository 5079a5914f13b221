"""The on-disk format of a synthetic STAIR dataset, and its reader.

``stair synth --out DIR`` writes a folder::

    DIR/
      questions/<split>.jsonl   one JSON object per line, per question (splits: train, val, test,
                                test_novel, test_more_steps)
      questions/<split>.index   its index, written by its first reader (stair.data.question_index)
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
  ``answer`` and ``golds`` are what ``stair.programs.evaluate`` gives on the video's scene graph
  (``golds``: module-tree node id -> ``SymValue.to_json()``, as ``SymbolicResult.golds_json()``).
- ``metadata``: ``family`` (exists, query, choose, and, xor, first_last, superlative, compare,
  sequencing, count), ``semantic`` (object / relation / action: what the question is about),
  ``structural`` (query / verify / logic / choose / compare), ``answer_type`` (binary: yes/no or
  before/after; open), ``steps`` (modules in the compiled tree), ``time_expr`` (video, before,
  after, while, between, or tag for Compare's before-or-after), ``indirect`` (an indirect
  reference is used), ``compositions`` (see :mod:`stair.data.synth.splits`), ``novel`` (holds a
  held-out composition), ``split``; benchmarks add ``options`` (multiple choice) and ``clip``
  (``[start, end]`` seconds), see :mod:`stair.data.benchmark`.

**features.h5** is a feature store (:mod:`stair.data.video.store`): ``/videos/<video_id>``
float32 ``[T, D]``, attributes ``backbone="symbolic"``, ``frames``, ``fps``, ``timestamps``; read
it with ``FeatureStore(path)``.

Every file is written atomically (:mod:`stair.files`). :class:`~stair.data.datamodule.QADataModule`
reads a folder through an index of each question file (``questions/<split>.index``, written
beside it on first use: :mod:`stair.data.question_index`); :func:`iter_questions` streams one
question file, :func:`parse_question` reads one line, and a malformed record (bad UTF-8, bad JSON,
a missing or mistyped field) raises :class:`DatasetFormatError` naming the file and the line.
"""  # noqa: E501

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from stair.errors import DatasetFormatError
from stair.files import AtomicFile, TextFileError, decode_line, read_raw_lines

__all__ = [
    "FORMAT",
    "DatasetFormatError",
    "QuestionMeta",
    "QuestionRecord",
    "QuestionWriter",
    "iter_questions",
    "parse_question",
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
    #: a multiple-choice question's candidate answers, in the benchmark's order (empty: open-ended)
    options: tuple[str, ...] = ()
    #: ``(start, end)`` seconds of the video the question is about (None: the whole video)
    clip: tuple[float, float] | None = None

    def to_json(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in _META_FIELDS}  # asdict, without deep copies
        out["compositions"] = list(self.compositions)
        for name in _OPTIONAL:  # written only when set, so older files keep their bytes
            if getattr(self, name) in ((), None):
                del out[name]
            else:
                out[name] = list(getattr(self, name))
        return out


_OPTIONAL = ("options", "clip")
_META_FIELDS = tuple(f.name for f in fields(QuestionMeta))
_PY_TYPES = {"str": str, "int": int, "bool": bool}
#: metadata field -> its Python type (None: ``compositions``, a list of strings)
_META_TYPES = {f.name: _PY_TYPES.get(str(f.type)) for f in fields(QuestionMeta)
               if f.name not in _OPTIONAL}  # fmt: skip


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
            if kind is None:
                if not (isinstance(value, list) and all(isinstance(c, str) for c in value)):
                    raise fail(f"metadata {name!r} must be a list of strings")
                value = tuple(value)
            elif type(value) is not kind:
                raise fail(f"metadata {name!r} must be of type {kind.__name__}, found {value!r}")
            values[name] = value
        options, clip = meta.get("options", []), meta.get("clip")
        if not (isinstance(options, list) and all(isinstance(o, str) for o in options)):
            raise fail("metadata 'options' must be a list of strings")
        if clip is not None and not (isinstance(clip, list) and len(clip) == 2 and all(
                isinstance(t, int | float) and not isinstance(t, bool) for t in clip)):  # fmt: skip
            raise fail(f"metadata 'clip' must be [start, end] in seconds, found {clip!r}")
        values.update(options=tuple(options), clip=None if clip is None else tuple(clip))
        if not (isinstance(golds, dict) and all(isinstance(g, dict) and "type" in g
                                                for g in golds.values())):  # fmt: skip
            raise fail("field 'golds' must map node ids to typed values")
        return cls(data["qid"], data["video_id"], data["question"], data["program"],
                   data["answer"], QuestionMeta(**values), golds)  # fmt: skip


class QuestionWriter:
    """Append question records to a ``.jsonl`` file that appears, complete, only on close.

    Lines go to a temporary sibling (:class:`stair.files.AtomicFile`); :meth:`close` renames it
    into place, :meth:`abort` (or leaving a ``with`` block by an exception) deletes it, so a reader
    never sees half a file.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._file = AtomicFile(self.path)
        self.count = 0

    def write(self, record: QuestionRecord) -> None:
        self._file.write(json.dumps(record.to_json(), separators=(",", ":")) + "\n")
        self.count += 1

    def close(self) -> None:
        self._file.commit()

    def abort(self) -> None:
        self._file.abort()

    def __enter__(self) -> QuestionWriter:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()


def parse_question(raw: bytes, path: str | os.PathLike, number: int) -> QuestionRecord:
    """Line ``number`` of ``path`` (its bytes) as a question record; bytes that are not UTF-8,
    not JSON or not a question record raise :class:`DatasetFormatError` naming file and line."""
    try:
        data = json.loads(decode_line(raw, path, number))
    except TextFileError as err:
        raise DatasetFormatError(path, f"line {number}", err.reason) from None
    except json.JSONDecodeError as err:
        raise DatasetFormatError(path, f"line {number}", f"invalid JSON ({err.msg})") from None
    except RecursionError:
        raise DatasetFormatError(path, f"line {number}", "JSON nested too deep") from None
    return QuestionRecord.from_json(data, path, number)


def iter_questions(path: str | os.PathLike) -> Iterator[QuestionRecord]:
    """Stream the question records of one ``questions/<split>.jsonl`` file; a line that is not
    UTF-8, not JSON or not a question record raises :class:`DatasetFormatError` naming the file
    and the line."""
    path = Path(path)
    lines = read_raw_lines(path)
    try:
        for number, raw in lines:
            if raw.strip():
                yield parse_question(raw, path, number)
    except TextFileError as err:  # the file cannot be opened
        raise DatasetFormatError(path, "", err.reason) from None
