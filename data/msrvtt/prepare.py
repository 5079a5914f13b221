"""Write MSRVTT-QA's question files into a STAIR dataset folder (layout:
:mod:`stair.data.benchmark`).

- One split per file, named after its stem without ``_qa`` (``test_qa.json`` -> ``test``).
- A record per question: ``qid`` = the benchmark's ``id``, ``video_id`` = ``video<video_id>``,
  ``answer`` = the one-word answer, ``metadata.family`` = the question word (what, who, how,
  when, where, other: results are reported by it), ``metadata.template`` =
  ``category:<category_id>``; ``answer_type`` ``open``, no options, no clip.
- ``vocab.json`` "answers": every training answer, most frequent first (ties alphabetical), so
  that the usual answer vocabulary is its first 1,000 (or 4,000); answers outside it count wrong.
- ``videos.json``: ``video<id>`` -> ``video<id>.mp4``.
"""

from __future__ import annotations

import os
from pathlib import Path

from stair.data.benchmark import BenchmarkFolder, PrepareSummary, benchmark_meta, split_names
from stair.data.dataset import QuestionRecord
from stair.data.msrvtt.files import MSRVTTQuestion, iter_msrvtt

__all__ = ["prepare_msrvtt", "question_record"]


def question_record(q: MSRVTTQuestion, split: str) -> QuestionRecord:
    """The dataset-folder record of one MSRVTT-QA question (no program yet)."""
    meta = benchmark_meta(template=f"category:{q.category_id}", family=q.word,
                          answer_type="open", split=split)  # fmt: skip
    return QuestionRecord(str(q.id), q.video, q.question, "", q.answer, meta, {})


def prepare_msrvtt(
    out: str | os.PathLike,
    json_files: list[str | os.PathLike],
    video_root: str | os.PathLike | None = None,
    skip_bad: bool = False,
) -> PrepareSummary:
    """Write the dataset folder ``out`` from MSRVTT-QA's ``json_files`` (module docstring).

    ``video_root``: the folder of ``video<id>.mp4`` files, recorded in ``videos.json``;
    ``skip_bad``: list malformed records in ``prepare_report.jsonl`` instead of stopping.
    """
    paths = [Path(p) for p in json_files]
    splits = split_names(paths, suffix="_qa")
    with BenchmarkFolder(out, "msrvtt", skip_bad) as folder:
        for path, split in zip(paths, splits):
            for where, q in iter_msrvtt(path, on_error=folder.bad):
                folder.write(split, question_record(q, split), path, where)
                folder.video(q.video, f"{q.video}.mp4")
        meta = {"answers": "open", "sources": {s: str(p) for s, p in zip(splits, paths)}}
        return folder.finish(meta, video_root)
