"""Write NExT-QA's CSV files into a STAIR dataset folder (layout: :mod:`stair.data.benchmark`).

- One split per CSV file, named after its stem (``val.csv`` -> ``questions/val.jsonl``).
- A record per row: ``qid`` = ``<video>_<qid>`` (NExT-QA's key), ``answer`` = the right option's
  text ("" where the file withholds it), ``metadata.template`` = the type code (CW, CH, TN, TC,
  TP, DL, DC, DO), ``metadata.family`` = its group (Causal, Temporal, Descriptive),
  ``metadata.options`` = ``a0..a4``; no clip (each question is about its whole video).
- ``videos.json``: each video's ``frames``, ``width`` and ``height``, and, with
  ``map_vid_vidorID.json``, its file ``<folder>/<video>.mp4`` under the VidOR video root (a video
  the map lacks is then a malformed row).
"""

from __future__ import annotations

import os
from pathlib import Path

from stair.data.benchmark import BenchmarkFolder, PrepareSummary, benchmark_meta, split_names
from stair.data.dataset import QuestionRecord
from stair.data.nextqa.files import NExTQARow, iter_nextqa, load_video_map
from stair.errors import DatasetFormatError

__all__ = ["prepare_nextqa", "question_record"]


def question_record(row: NExTQARow, split: str) -> QuestionRecord:
    """The dataset-folder record of one NExT-QA question (no program yet)."""
    meta = benchmark_meta(template=row.type, family=row.group, answer_type="multiple_choice",
                          split=split, options=row.options)  # fmt: skip
    answer = "" if row.answer is None else row.options[row.answer]
    return QuestionRecord(row.question_id, row.video, row.question, "", answer, meta, {})


def prepare_nextqa(
    out: str | os.PathLike,
    csv_files: list[str | os.PathLike],
    video_map: str | os.PathLike | None = None,
    video_root: str | os.PathLike | None = None,
    skip_bad: bool = False,
) -> PrepareSummary:
    """Write the dataset folder ``out`` from NExT-QA's ``csv_files`` (see the module docstring).

    ``video_map``: ``map_vid_vidorID.json``; ``video_root``: the VidOR video folder, recorded in
    ``videos.json``; ``skip_bad``: list malformed rows in ``prepare_report.jsonl`` instead of
    stopping at the first.
    """
    paths = [Path(p) for p in csv_files]
    splits = split_names(paths)
    where = load_video_map(video_map) if video_map is not None else None
    with BenchmarkFolder(out, "nextqa", skip_bad) as folder:
        for path, split in zip(paths, splits):
            for line, row in iter_nextqa(path, on_error=folder.bad):
                file = None
                if where is not None:
                    if row.video not in where:
                        folder.bad(DatasetFormatError(
                            path, f"line {line}", f"video {row.video} is not in {video_map}"
                        ))  # fmt: skip
                        continue
                    file = f"{where[row.video]}.mp4"
                folder.write(split, question_record(row, split), path, f"line {line}")
                folder.video(row.video, file, frames=row.frame_count, width=row.width,
                             height=row.height)  # fmt: skip
        meta = {"answers": "multiple_choice", "options": 5,
                "sources": {s: str(p) for s, p in zip(splits, paths)}}  # fmt: skip
        return folder.finish(meta, video_root)
