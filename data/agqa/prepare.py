"""Write AGQA (balanced questions + features [+ scene graphs]) into STAIR's dataset-folder format.

The result is read by :class:`~stair.data.datamodule.QADataModule` like the synthetic benchmark:

- ``questions/train.jsonl`` and ``val.jsonl``: AGQA's train file, with a deterministic
  ``val_fraction`` carved out by a hash of the question id (AGQA has no validation split);
  ``test.jsonl``; ``test_novel.jsonl`` / ``test_more_steps.jsonl``: the test questions flagged
  ``novel_comp`` / ``more_steps`` (with ``hold_out``, train drops the flagged questions, which is
  AGQA's generalisation protocol).
- Every program is compiled; one that does not compile is skipped and listed with its error in
  ``prepare_report.jsonl`` (never fatal).
- With scene graphs, every node's gold comes from the symbolic executor, kept where its answer
  agrees with AGQA's (the agreement rate is in ``meta.json``); without, ``golds`` are empty.
- ``features.h5``: RX (ResNet+ResNeXt, ``[8, 4096]``) or I3D features per video, with clip
  timestamps in seconds when scene graphs give the video's duration, else in clip units.
- Answers are lower-cased (AGQA writes ``Yes``/``No``).
- Metadata: ``template`` = AGQA's ``local``, ``family`` = the first ``global`` category,
  ``compositions`` = every ``global`` category (``global:<name>``) plus the novel-composition
  kinds (``nc:<kind>``), so metrics can be read per category.

The 1.5 GB train file is streamed (:func:`~stair.data.agqa.files.iter_balanced`), never loaded.
"""

from __future__ import annotations

import json
import logging
import re
import zlib
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from stair.data.agqa.files import AGQAQuestion, iter_balanced
from stair.data.dataset import QuestionMeta, QuestionRecord, QuestionWriter
from stair.data.video.store import FeatureStoreWriter
from stair.files import write_json
from stair.programs import ProgramError, SceneGraph, evaluate, save_scene_graphs
from stair.programs.shapes import compile_by_shape

log = logging.getLogger(__name__)
FORMAT = "stair-agqa/1"
_MODE = re.compile(r"Localize\((before|after|while|between|temporal tag)")


@dataclass
class PrepareReport:
    sizes: dict[str, int]
    skipped: int
    agreement: float | None
    videos: int


def _time_expr(program: str) -> str:
    match = _MODE.search(program)
    if match is None:
        return "video"
    return "tag" if match.group(1) == "temporal tag" else match.group(1)


def _meta(q: AGQAQuestion, split: str, steps: int) -> QuestionMeta:
    kinds = [k for k in ("nc_seq", "nc_sup", "nc_dur", "nc_objrel") if getattr(q, k)]
    return QuestionMeta(
        template=q.local, family=q.global_[0] if q.global_ else q.structural,
        semantic=q.semantic, structural=q.structural, answer_type=q.ans_type, steps=steps,
        time_expr=_time_expr(q.program), indirect=bool(q.indirect),
        compositions=(*(f"global:{g}" for g in q.global_), *(f"nc:{k}" for k in kinds)),
        novel=bool(q.novel_comp), split=split,
    )  # fmt: skip


class _Questions:
    """Streams AGQA records into the split files, compiling and (with graphs) executing each."""

    def __init__(self, out: Path, graphs: dict[str, SceneGraph], val_fraction: float) -> None:
        self.out, self.graphs, self.val_fraction = out, graphs, val_fraction
        self.writers: dict[str, QuestionWriter] = {}
        self.sizes: Counter[str] = Counter()
        self.videos: set[str] = set()
        self.answers: Counter[str] = Counter()
        self.answer_category: dict[str, str] = {}
        self.agree = self.executed = self.skipped = 0
        self.report = open(out / "prepare_report.jsonl", "w", encoding="utf-8")  # noqa: SIM115

    def write(self, split: str, record: QuestionRecord) -> None:
        if split not in self.writers:
            self.writers[split] = QuestionWriter(self.out / "questions" / f"{split}.jsonl")
        self.writers[split].write(record)
        self.sizes[split] += 1

    def add(self, q: AGQAQuestion, source: str, hold_out: bool) -> None:
        q = replace(q, answer=q.answer.strip().lower())  # AGQA writes "Yes" / "No"
        try:
            tree = compile_by_shape(q.program)
        except ProgramError as err:
            self.skipped += 1
            self.report.write(json.dumps({"qid": q.qid, "file": source, "error": str(err)}) + "\n")
            return
        golds: dict = {}
        graph = self.graphs.get(q.video_id)
        if graph is not None:
            result = evaluate(tree, graph)
            self.executed += 1
            if result.answer is not None and result.answer.lower() == q.answer:
                self.agree += 1
                golds = result.golds_json()
        if source == "train":
            if hold_out and (q.novel_comp or q.more_steps):
                return
            in_val = zlib.crc32(q.qid.encode()) % 10_000 < self.val_fraction * 10_000
            splits = ["val" if in_val else "train"]
        else:
            splits = (
                ["test"]
                + (["test_novel"] if q.novel_comp else [])
                + (["test_more_steps"] if q.more_steps else [])
            )
        self.videos.add(q.video_id)
        if q.ans_type == "open" and q.answer not in {"yes", "no", "before", "after"}:
            self.answers[q.answer] += 1
            self.answer_category.setdefault(q.answer, f"{q.semantic.rstrip('s')}s")
        for split in splits:
            meta = _meta(q, split, len(tree))
            self.write(split, QuestionRecord(q.qid, q.video_id, q.question, q.program, q.answer,
                                             meta, golds))  # fmt: skip

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()
        self.report.close()


def _vocab(graphs: dict[str, SceneGraph], questions: _Questions) -> dict:
    objects = sorted({o for g in graphs.values() for f in g.frames for o in f.objects})
    relations = sorted({r for g in graphs.values() for f in g.frames for r, _ in f.relations})
    actions = {a.phrase: a for g in graphs.values() for a in g.actions}
    by_kind: dict[str, list[str]] = {"objects": objects, "relations": relations}
    acts = [{"phrase": p, "verb": a.verb, "object": a.object} for p, a in sorted(actions.items())]
    for answer, category in sorted(questions.answer_category.items()):
        known = answer in actions or any(answer in v for v in by_kind.values())
        if not known:
            if category == "actions":
                acts.append({"phrase": answer, "verb": None, "object": None})
            else:
                by_kind.setdefault(category, []).append(answer)
    return {
        "objects": by_kind["objects"], "relations": by_kind["relations"], "actions": acts,
        "answers": ["yes", "no", "before", "after", *sorted(questions.answers)],
    }  # fmt: skip


def _write_features(out: Path, features, videos: set[str], graphs: dict[str, SceneGraph],
                    backbone: str) -> int:  # fmt: skip
    """Copy the features of ``videos`` into ``out/features.h5`` (resumable, skip-and-report)."""
    with FeatureStoreWriter(out / "features.h5", {"backbone": backbone}) as writer:
        for video in tqdm(sorted(videos), desc="features", unit="video"):
            if video in writer:
                continue
            if video not in features:
                writer.skip(video, f"no {backbone} features for video {video}")
                continue
            rows = np.asarray(features.get(video), dtype=np.float32)
            graph = graphs.get(video)
            if graph is not None and graph.num_frames:
                duration = (
                    graph.time_of(graph.num_frames - 1)
                    * graph.num_frames
                    / max(graph.num_frames - 1, 1)
                )
                stamps = (np.arange(len(rows)) + 0.5) * duration / len(rows)
                fps = len(rows) / duration if duration > 0 else 1.0
            else:
                stamps, fps = np.arange(len(rows), dtype=np.float64) + 0.5, 1.0
            writer.add(video, rows, stamps, fps)
        return len(writer.done)


def prepare_agqa(
    out: str | Path,
    train_questions: str | Path,
    test_questions: str | Path,
    features,
    backbone: str,
    graphs: dict[str, SceneGraph] | None = None,
    val_fraction: float = 0.1,
    hold_out: bool = False,
) -> PrepareReport:
    """Write the dataset folder ``out`` (see the module docstring); resumable for features.

    ``features``: an object with ``__contains__`` and ``get(video_id) -> [T, D]`` (e.g.
    :class:`~stair.data.agqa.features.RXFeatures` or ``I3DFeatures``).
    """
    out = Path(out)
    (out / "questions").mkdir(parents=True, exist_ok=True)
    graphs = graphs or {}
    questions = _Questions(out, graphs, val_fraction)
    try:
        for source, path in (("train", train_questions), ("test", test_questions)):
            for q in tqdm(iter_balanced(path, keep_grounding=False), desc=source, unit="q"):
                questions.add(q, source, hold_out)
    finally:
        questions.close()
    if graphs:
        save_scene_graphs({v: graphs[v] for v in sorted(questions.videos) if v in graphs},
                          out / "scene_graphs.json")  # fmt: skip
    write_json(out / "vocab.json", _vocab(graphs, questions))
    videos = _write_features(out, features, questions.videos, graphs, backbone)
    agreement = questions.agree / questions.executed if questions.executed else None
    write_json(out / "meta.json", {
        "format": FORMAT, "sizes": dict(questions.sizes), "skipped_programs": questions.skipped,
        "answer_agreement": agreement, "val_fraction": val_fraction, "hold_out": hold_out,
        "backbone": backbone, "videos": videos,
    })  # fmt: skip
    log.info("AGQA -> %s: %s, %d programs skipped", out, dict(questions.sizes), questions.skipped)
    return PrepareReport(dict(questions.sizes), questions.skipped, agreement, videos)
