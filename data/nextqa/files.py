"""Readers for the files NExT-QA ships: ``train.csv`` / ``val.csv`` / ``test.csv`` and
``map_vid_vidorID.json`` (formats in DATASETS.md).

A CSV row is one question: ``video,frame_count,width,height,question,answer,qid,type,a0..a4``.
``answer`` is the 0-based index of the right option (empty where it is withheld); ``qid`` numbers
the question *within its video*, so the benchmark's question id is ``<video>_<qid>`` (the key of
NExT-QA's own result files). Rows are streamed with the ``csv`` module; a malformed row raises
:class:`DatasetFormatError` naming the file and the line.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from stair.errors import DatasetFormatError

__all__ = ["GROUPS", "HEADER", "NExTQARow", "iter_nextqa", "load_video_map"]

HEADER = ("video", "frame_count", "width", "height", "question", "answer", "qid", "type",
          "a0", "a1", "a2", "a3", "a4")  # fmt: skip
OPTIONS = ("a0", "a1", "a2", "a3", "a4")

#: question type code -> the group NExT-QA reports it in
GROUPS = {
    "CW": "Causal", "CH": "Causal",
    "TN": "Temporal", "TC": "Temporal", "TP": "Temporal",
    "DL": "Descriptive", "DC": "Descriptive", "DO": "Descriptive",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class NExTQARow:
    """One NExT-QA question. ``answer``: index into ``options``, None where withheld."""

    video: str
    frame_count: int
    width: int
    height: int
    question: str
    answer: int | None
    qid: int
    type: str
    options: tuple[str, ...]

    @property
    def question_id(self) -> str:
        """The benchmark's id of the question: ``<video>_<qid>``."""
        return f"{self.video}_{self.qid}"

    @property
    def group(self) -> str:
        return GROUPS[self.type]


def _count(row: dict[str, str], key: str) -> int:
    text = row[key].strip()
    if not text.isdigit():
        raise ValueError(f"column {key!r} must be a whole number, found {row[key]!r}")
    return int(text)


def make_row(row: dict[str, str]) -> NExTQARow:
    """The typed question of one CSV row (raises ``ValueError`` saying what is wrong)."""
    if None in row:
        raise ValueError(f"more columns than the header's {len(row) - 1}")
    if any(value is None for value in row.values()):
        raise ValueError(f"fewer columns than the header's {len(row)}")
    video, question, code = row["video"].strip(), row["question"].strip(), row["type"].strip()
    if not video:
        raise ValueError("column 'video' is empty")
    if not question:
        raise ValueError("column 'question' is empty")
    if code not in GROUPS:
        raise ValueError(f"unknown question type {code!r} (expected one of {', '.join(GROUPS)})")
    options = tuple(row[k].strip() for k in OPTIONS)
    if not all(options):
        raise ValueError(f"option {OPTIONS[options.index('')]!r} is empty")
    answer = None
    if row["answer"].strip():
        answer = _count(row, "answer")
        if answer >= len(options):
            raise ValueError(f"answer index {answer} is not one of 0..{len(options) - 1}")
    return NExTQARow(
        video, _count(row, "frame_count"), _count(row, "width"), _count(row, "height"),
        question, answer, _count(row, "qid"), code, options,
    )  # fmt: skip


def iter_nextqa(
    path: str | os.PathLike, on_error: Callable[[DatasetFormatError], None] | None = None
) -> Iterator[tuple[int, NExTQARow]]:
    """Stream ``(line, question)`` from a NExT-QA CSV file.

    A missing file or a header without NExT-QA's columns raises :class:`DatasetFormatError`. A
    malformed row raises one too (naming the file and the line), or is handed to ``on_error``
    and passed over when one is given.
    """
    path = Path(path)
    try:
        f = open(path, encoding="utf-8", newline="")  # noqa: SIM115 (closed below; generator)
    except OSError as err:
        raise DatasetFormatError(path, "", f"cannot read ({err.strerror or err})") from None
    with f:
        try:
            rows = csv.DictReader(f)
            missing = [k for k in HEADER if k not in (rows.fieldnames or [])]
            if missing:
                raise DatasetFormatError(
                    path, "line 1", f"header lacks column(s) {', '.join(missing)} "
                    f"(expected {','.join(HEADER)})",
                )  # fmt: skip
            for row in rows:
                line = rows.line_num  # the row's last line (rows hold no line breaks)
                try:
                    yield line, make_row(row)
                except ValueError as err:
                    error = DatasetFormatError(path, f"line {line}", str(err))
                    if on_error is None:
                        raise error from None
                    on_error(error)
        except UnicodeDecodeError as err:
            raise DatasetFormatError(path, "", f"not UTF-8 text ({err.reason})") from None
        except csv.Error as err:
            raise DatasetFormatError(path, f"line {rows.line_num}", f"bad CSV ({err})") from None


def load_video_map(path: str | os.PathLike) -> dict[str, str]:
    """``map_vid_vidorID.json``: video -> ``<folder>/<video>``, its path under the VidOR video
    root without the ``.mp4``."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DatasetFormatError(path, "", f"cannot read ({err})") from None
    if not isinstance(data, dict):
        raise DatasetFormatError(path, "", "expected one JSON object mapping video -> path")
    for video, where in data.items():
        if not isinstance(where, str) or not where:
            raise DatasetFormatError(path, f"video {video!r}", f"path must be a string: {where!r}")
    return {str(k): v for k, v in data.items()}
