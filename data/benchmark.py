"""Write a benchmark that has no program annotations (NExT-QA, STAR, MSRVTT-QA) as a dataset folder.

The folder extends the synthetic benchmark's layout (:mod:`stair.data.dataset`)::

    DIR/
      questions/<split>.jsonl   question records; ``program`` is "" and ``golds`` {} until
                                programs exist (``meta.json`` "programs" says where they came from)
      videos.json               {"root": the video root given, or null,
                                 "videos": {video_id: {"path": file under the root, or null,
                                                       "start": s, "end": e, ...}}}
      scene_graphs.json         (STAR, with its class lists) {video_id: scene graph}
      vocab.json                objects, relations, actions (from the scene graphs) and answers
      meta.json                 format, benchmark, programs, answers, sizes, skipped, sources, ...
      prepare_report.jsonl      one line per skipped record: {"file", "where", "reason"}

A question record keeps the benchmark's own question id as ``qid`` (what its evaluation server
expects), the right option's text as ``answer`` ("" where the benchmark hides it, e.g. STAR test),
and in ``metadata``: ``template`` (the benchmark's question type code), ``family`` (its reporting
group), ``answer_type`` (``multiple_choice`` or ``open``), ``options`` (the candidates, in order)
and ``clip`` (``[start, end]`` seconds of the video, where the question is about a part of it).
``semantic`` and ``structural`` are "" (not annotated) and ``steps`` 0 (no program yet).

``videos.json`` is the benchmark's video-id -> file mapping, for ``stair features``: the file of
a video is ``<root>/<path>``; ``start`` / ``end`` (seconds) cut a clip out of it, and the clip's
features are stored under the clip's ``video_id``.

Malformed records: :class:`BenchmarkFolder` either stops at the first one (the default; the
error names the file and the line or record) or, with ``skip_bad``, lists it in
``prepare_report.jsonl`` and goes on. A file that cannot be read as a whole (bad header, broken
JSON) always stops. Nothing is left half-written: question files appear only when complete.
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stair.data.dataset import QuestionMeta, QuestionRecord, QuestionWriter
from stair.errors import DatasetFormatError
from stair.files import AtomicFile, write_json
from stair.programs import SceneGraph, save_scene_graphs

__all__ = ["BenchmarkFolder", "PrepareSummary", "benchmark_meta", "split_names"]

log = logging.getLogger(__name__)

#: what ``meta.json`` "programs" says before any program is written
NO_PROGRAMS = "none"


@dataclass(frozen=True)
class PrepareSummary:
    """What one ``stair prepare <benchmark>`` run wrote."""

    out: Path
    sizes: dict[str, int]
    skipped: int
    videos: int
    scene_graphs: int


def split_names(paths: list[str | os.PathLike], strip: str = "", suffix: str = "") -> list[str]:
    """The split each file becomes: its stem without the benchmark's ``strip`` prefix and
    ``suffix`` (``STAR_val.json`` -> ``val``, ``test_qa.json`` -> ``test``); two files that would
    write the same split raise :class:`DatasetFormatError`."""
    names = [Path(p).stem.removeprefix(strip).removesuffix(suffix) for p in paths]
    for i, name in enumerate(names):
        if not name:
            raise DatasetFormatError(paths[i], "", "cannot name a split after this file")
        if name in names[:i]:
            raise DatasetFormatError(
                paths[i], "", f"split {name!r} already comes from {paths[names.index(name)]}"
            )
    return names


def benchmark_meta(
    *, template: str, family: str, answer_type: str, split: str, options=(), clip=None
) -> QuestionMeta:
    """The metadata of a benchmark question that has no program yet (meanings above)."""
    return QuestionMeta(
        template=template, family=family, semantic="", structural="", answer_type=answer_type,
        steps=0, time_expr="video", indirect=False, compositions=(), novel=False, split=split,
        options=tuple(options), clip=None if clip is None else (float(clip[0]), float(clip[1])),
    )  # fmt: skip


class BenchmarkFolder:
    """Collects one benchmark's questions, videos and graphs into the folder ``out``.

    Use as a context manager: leaving the block by an exception deletes the question files being
    written; :meth:`finish` writes the rest of the folder.
    """

    def __init__(self, out: str | os.PathLike, benchmark: str, skip_bad: bool = False) -> None:
        self.out, self.benchmark, self.skip_bad = Path(out), benchmark, skip_bad
        self.writers: dict[str, QuestionWriter] = {}
        self.qids: dict[str, set[str]] = {}
        self.videos: dict[str, dict[str, Any]] = {}
        self.train_answers: Counter[str] = Counter()
        self.skipped = 0
        self._report = AtomicFile(self.out / "prepare_report.jsonl")

    def bad(self, err: DatasetFormatError) -> None:
        """A malformed record: raise ``err`` or, with ``skip_bad``, report it and go on."""
        if not self.skip_bad:
            raise err
        self.skipped += 1
        line = {"file": err.path, "where": err.where, "reason": err.reason}
        self._report.write(json.dumps(line) + "\n")

    def write(self, split: str, record: QuestionRecord, path: os.PathLike, where: str) -> None:
        """Add ``record`` to ``split``; a question id seen before in the split is malformed."""
        seen = self.qids.setdefault(split, set())
        if record.qid in seen:
            self.bad(DatasetFormatError(path, where, f"question id {record.qid!r} repeats"))
            return
        seen.add(record.qid)
        if split not in self.writers:
            self.writers[split] = QuestionWriter(self.out / "questions" / f"{split}.jsonl")
        self.writers[split].write(record)
        if split == "train" and record.answer:
            self.train_answers[record.answer] += 1

    def video(self, video_id: str, path: str | None, **extra: Any) -> None:
        """Record where ``video_id`` is (``path`` under the video root) and what else is known."""
        self.videos.setdefault(video_id, {"path": path, **extra})

    def finish(
        self,
        meta: dict[str, Any],
        video_root: str | os.PathLike | None = None,
        graphs: dict[str, SceneGraph] | None = None,
        vocab: dict[str, Any] | None = None,
    ) -> PrepareSummary:
        """Close the question files and write ``videos.json``, ``scene_graphs.json``,
        ``vocab.json`` and ``meta.json`` (``meta`` adds the benchmark's own fields)."""
        for writer in self.writers.values():
            writer.close()
        self._report.commit()
        sizes = {split: w.count for split, w in sorted(self.writers.items())}
        root = None if video_root is None else str(Path(video_root).resolve())
        write_json(self.out / "videos.json", {"root": root, "videos": self.videos})
        if graphs:
            save_scene_graphs(graphs, self.out / "scene_graphs.json")
        answers = [a for a, _ in sorted(self.train_answers.items(), key=lambda x: (-x[1], x[0]))]
        write_json(self.out / "vocab.json", {
            "objects": [], "relations": [], "actions": [], **(vocab or {}), "answers": answers,
        })  # fmt: skip
        write_json(self.out / "meta.json", {
            "format": f"stair-{self.benchmark}/1", "benchmark": self.benchmark,
            "programs": NO_PROGRAMS, **meta, "sizes": sizes, "skipped": self.skipped,
            "videos": len(self.videos), "scene_graphs": len(graphs or {}),
        })  # fmt: skip
        log.info("%s -> %s: %s, %d skipped", self.benchmark, self.out, sizes, self.skipped)
        return PrepareSummary(self.out, sizes, self.skipped, len(self.videos), len(graphs or {}))

    def __enter__(self) -> BenchmarkFolder:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is not None:
            for writer in self.writers.values():
                writer.abort()
            self._report.abort()
