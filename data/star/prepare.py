"""Write STAR's question files into a STAIR dataset folder (layout: :mod:`stair.data.benchmark`).

- One split per file, named after its stem without ``STAR_`` (``STAR_val.json`` -> ``val``).
- A record per question: ``qid`` = STAR's ``question_id`` (what the evaluation server expects),
  ``video_id`` = the clip, ``<video>_<start>_<end>`` (the question is about that part of the
  Charades video only), ``answer`` = the right choice's text ("" in the test file),
  ``metadata.family`` = the question type (Interaction, Sequence, Prediction, Feasibility),
  ``metadata.template`` = STAR's template (``T1``...), ``metadata.options`` = the choices by
  ``choice_id`` (a prediction is the index of one), ``metadata.clip`` = ``[start, end]``.
- ``videos.json``: clip -> ``{"path": "<video>.mp4", "video": <video>, "start", "end"}``.
- With the class lists (``classes``), each clip's situations become its scene graph
  (:mod:`stair.data.star.situations`) in ``scene_graphs.json``, their names in ``vocab.json``;
  programs run on them give the golds of intermediate steps. Without, no graphs are written.

STAR's own ``question_program`` / ``choice_program`` (in STAR's functional language, not the
AGQA syntax STAIR compiles) are not read.
"""

from __future__ import annotations

import os
from pathlib import Path

from stair.data.benchmark import BenchmarkFolder, PrepareSummary, benchmark_meta, split_names
from stair.data.dataset import QuestionRecord
from stair.data.star.classes import STARClasses, load_star_classes
from stair.data.star.files import STARQuestion, iter_star
from stair.data.star.situations import FrameFacts, merge_situations, read_situations
from stair.data.star.situations import situation_graph as build_graph
from stair.errors import DatasetFormatError
from stair.programs import SceneGraph

__all__ = ["prepare_star", "question_record"]

#: Charades' usual frame rate, for keyframe numbers -> seconds when none is given
DEFAULT_FPS = 30.0


def question_record(q: STARQuestion, split: str) -> QuestionRecord:
    """The dataset-folder record of one STAR question (no program yet)."""
    meta = benchmark_meta(template=q.template, family=q.type, answer_type="multiple_choice",
                          split=split, options=q.choices, clip=(q.start, q.end))  # fmt: skip
    return QuestionRecord(q.qid, q.clip_id, q.question, "", q.answer or "", meta, {})


def _vocab(graphs: dict[str, SceneGraph]) -> dict:
    actions = {a.phrase: a for g in graphs.values() for a in g.actions}
    return {
        "objects": sorted({o for g in graphs.values() for f in g.frames for o in f.objects}),
        "relations": sorted({r for g in graphs.values() for f in g.frames for r, _ in f.relations}),
        "actions": [{"phrase": p, "verb": a.verb, "object": a.object}
                    for p, a in sorted(actions.items())],
    }  # fmt: skip


def prepare_star(
    out: str | os.PathLike,
    json_files: list[str | os.PathLike],
    classes: str | os.PathLike | STARClasses | None = None,
    video_root: str | os.PathLike | None = None,
    fps: float = DEFAULT_FPS,
    skip_bad: bool = False,
) -> PrepareSummary:
    """Write the dataset folder ``out`` from STAR's ``json_files`` (see the module docstring).

    ``classes``: the ``STAR_classes`` folder (or loaded lists), for scene graphs; ``video_root``:
    the Charades video folder, recorded in ``videos.json``; ``fps``: the videos' frame rate
    (keyframe number -> seconds); ``skip_bad``: list malformed records in
    ``prepare_report.jsonl`` instead of stopping at the first.
    """
    if fps <= 0:
        raise DatasetFormatError(out, "", f"fps must be positive, got {fps}")
    paths = [Path(p) for p in json_files]
    splits = split_names(paths, strip="STAR_")
    names = load_star_classes(classes) if isinstance(classes, str | os.PathLike) else classes
    situations: dict[str, dict[int, FrameFacts]] = {}
    clips: dict[str, STARQuestion] = {}
    with BenchmarkFolder(out, "star", skip_bad) as folder:
        for path, split in zip(paths, splits):
            for where, q in iter_star(path, on_error=folder.bad):
                if names is not None:
                    try:
                        facts = read_situations(q.situations, names)
                    except ValueError as err:
                        folder.bad(DatasetFormatError(path, where, str(err)))
                        continue
                    merge_situations(situations.setdefault(q.clip_id, {}), facts)
                clips.setdefault(q.clip_id, q)
                folder.write(split, question_record(q, split), path, where)
                folder.video(q.clip_id, f"{q.video_id}.mp4", video=q.video_id, start=q.start,
                             end=q.end)  # fmt: skip
        graphs = {}
        for clip, frames in sorted(situations.items()):
            if frames:
                q = clips[clip]
                graphs[clip] = build_graph(clip, frames, names, q.start, q.end, fps)
        meta = {"answers": "multiple_choice", "fps": fps,
                "sources": {s: str(p) for s, p in zip(splits, paths)}}  # fmt: skip
        return folder.finish(meta, video_root, graphs, _vocab(graphs))
