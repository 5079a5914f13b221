"""Readers for the files AGQA and AGQA 2.0 ship, at the file level (no program compilation).

* :func:`iter_balanced` / :func:`load_balanced`: ``train_balanced.txt`` / ``test_balanced.txt``,
  one JSON object mapping question id -> record, as typed :class:`AGQAQuestion` records.
* :func:`iter_csv`: the ``Train_frameqa_question-balanced.csv`` form of the HCRN/HME/PSAC baselines.

The pre-extracted video features (RX ``.h5``, I3D ``.npy``) are read by
:mod:`stair.data.agqa.features`. Formats: ``AGQA_FORMAT.md``. A malformed record raises
:class:`DatasetFormatError` naming the file and the question id or line.

Reading the 1.5 GB train file. ``json.load`` would hold the whole text and then ~1.6 M record
dicts (several GB) at once, before any slimming could start. :func:`iter_balanced` instead streams:
it reads the file in chunks and decodes one ``"id": {record}`` pair at a time with the standard
library's C decoder (``json.JSONDecoder.raw_decode`` at an offset), so memory stays at one chunk
plus one record, whatever the file size, at close to ``json.load``'s speed. Only the slim typed
records the caller keeps stay in memory (``keep_grounding=False`` drops ``sg_grounding`` too).
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stair.data.json_stream import JSONWindow, json_errors
from stair.errors import DatasetFormatError
from stair.files import TextFileError, decode_line, read_raw_lines

__all__ = [
    "AGQACsvRow",
    "AGQAQuestion",
    "DatasetFormatError",
    "iter_balanced",
    "iter_csv",
    "load_balanced",
]


@dataclass(frozen=True, slots=True)
class AGQAQuestion:
    """One AGQA question record (field meanings in AGQA_FORMAT.md).

    ``global_`` is AGQA's ``global`` (reasoning categories, multi-label). The last fields exist
    only in the test files and are ``None`` elsewhere.
    """

    qid: str
    question: str
    answer: str
    video_id: str
    global_: tuple[str, ...]
    local: str
    ans_type: str
    steps: int
    semantic: str
    structural: str
    novel_comp: bool
    more_steps: bool
    program: str
    sg_grounding: dict[str, Any] = field(default_factory=dict)
    nc_seq: int | None = None
    nc_sup: int | None = None
    nc_dur: int | None = None
    nc_objrel: int | None = None
    indirect: int | None = None
    i_obj: int | None = None
    i_rel: int | None = None
    i_act: int | None = None
    i_temp: int | None = None
    direct_equiv: str | None = None


_STR_FIELDS = ("question", "answer", "video_id", "local", "ans_type", "semantic", "structural")
_TEST_FLAGS = ("nc_seq", "nc_sup", "nc_dur", "nc_objrel", "indirect", "i_obj", "i_rel", "i_act")


def _flag(value: Any) -> int:
    if isinstance(value, bool) or value in (0, 1):
        return int(value)
    raise ValueError(f"expected 0/1, got {value!r}")


def make_question(qid: str, rec: Any, keep_grounding: bool = True) -> AGQAQuestion:
    """The typed record of question ``qid`` (raises ``ValueError`` saying what is wrong)."""
    if not isinstance(rec, dict):
        raise ValueError(f"record is a {type(rec).__name__}, not an object")
    missing = [k for k in (*_STR_FIELDS, "global", "steps", "program") if k not in rec]
    missing += [k for k in ("novel_comp", "more_steps") if k not in rec]
    if missing:
        raise ValueError(f"missing field(s) {', '.join(missing)}")
    for key in (*_STR_FIELDS, "program"):
        if not isinstance(rec[key], str):
            raise ValueError(f"field {key!r} must be a string, got {rec[key]!r}")
    cats = rec["global"]
    if not isinstance(cats, list) or not all(isinstance(c, str) for c in cats):
        raise ValueError(f"field 'global' must be a list of strings, got {cats!r}")
    steps = rec["steps"]
    if isinstance(steps, bool) or not isinstance(steps, int | str) or not str(steps).isdigit():
        raise ValueError(f"field 'steps' must be an integer, got {steps!r}")
    grounding = rec.get("sg_grounding", {}) if keep_grounding else {}
    if not isinstance(grounding, dict):
        raise ValueError(f"field 'sg_grounding' must be an object, got {grounding!r}")
    extra: dict[str, Any] = {}
    for key in (*_TEST_FLAGS, "i_temp"):
        if rec.get(key) is not None:
            extra[key] = _flag(rec[key]) if key != "i_temp" else rec[key]
    if rec.get("direct_equiv") is not None:
        extra["direct_equiv"] = str(rec["direct_equiv"])
    return AGQAQuestion(
        qid=qid,
        **{k: rec[k] for k in _STR_FIELDS},
        global_=tuple(cats),
        steps=int(steps),
        novel_comp=bool(_flag(rec["novel_comp"])),
        more_steps=bool(_flag(rec["more_steps"])),
        program=rec["program"],
        sg_grounding=grounding,
        **extra,
    )


def iter_balanced(
    path: str | os.PathLike,
    *,
    keep_grounding: bool = True,
    chunk_size: int = 1 << 20,
    max_record_chars: int = 1 << 24,
) -> Iterator[AGQAQuestion]:
    """Stream the records of an AGQA ``*_balanced.txt`` file, in file order.

    ``keep_grounding``: keep ``sg_grounding`` (the largest field; drop it to save memory).
    ``chunk_size``: characters read at a time. A record longer than ``max_record_chars`` is
    malformed (this bounds memory on a broken file). Raises :class:`DatasetFormatError` naming the
    file and the question id (or character offset) of the first malformed record.
    """
    path = Path(path)
    decoder = json.JSONDecoder()
    qid = None
    try:
        f = open(path, encoding="utf-8")  # noqa: SIM115 (closed below; generator)
    except OSError as err:
        raise DatasetFormatError(path, "", f"cannot read: {err.strerror}") from None
    with f:
        src = JSONWindow(f, chunk_size)

        def fail(reason: str) -> DatasetFormatError:
            where = f"after question {qid!r}" if qid else "at the start"
            return DatasetFormatError(path, f"{where} (character {src.where})", reason)

        with json_errors(fail):
            if src.peek() != "{":
                raise fail("expected one JSON object mapping question id -> record")
            src.pos += 1
            while True:
                c = src.peek()
                if c == "}" and qid is None:
                    src.pos += 1
                    break
                if c != '"':
                    raise fail(f"expected a question id string, found {c!r}")
                key = src.value(decoder, max_record_chars)
                if src.peek() != ":":
                    raise fail(f"expected ':' after question id {key!r}")
                src.pos += 1
                rec = src.value(decoder, max_record_chars)
                qid = key
                try:
                    yield make_question(key, rec, keep_grounding)
                except ValueError as err:
                    raise DatasetFormatError(path, f"question {key!r}", str(err)) from None
                c = src.peek()
                src.pos += 1
                if c == "}":
                    break
                if c != ",":
                    raise fail(f"expected ',' or '}}', found {c!r}")
            if src.peek() is not None:
                raise fail("unexpected data after the closing '}'")


def load_balanced(path: str | os.PathLike, **kwargs: Any) -> dict[str, AGQAQuestion]:
    """All records of a ``*_balanced.txt`` file by question id (see :func:`iter_balanced`)."""
    return {q.qid: q for q in iter_balanced(path, **kwargs)}


@dataclass(frozen=True, slots=True)
class AGQACsvRow:
    """One row of the baselines' CSV form (``,key,question,answer,vid_id,gif_name,description``).

    ``index`` is the unnamed first column (the pandas row index the file was written with).
    """

    index: int
    key: str
    question: str
    answer: str
    vid_id: str
    gif_name: str
    description: str


CSV_HEADER = ["", "key", "question", "answer", "vid_id", "gif_name", "description"]


def iter_csv(path: str | os.PathLike) -> Iterator[AGQACsvRow]:
    """Stream the rows of an AGQA question CSV; a bad header or row raises DatasetFormatError."""
    path = Path(path)
    rows = csv.reader(_text_lines(path))
    try:
        yield from _csv_rows(path, rows)
    except TextFileError as err:
        raise DatasetFormatError(path, f"line {err.line}" if err.line else "", err.reason) from None


def _text_lines(path: Path) -> Iterator[str]:
    """The lines of ``path`` decoded from UTF-8, each with one newline (what csv.reader reads)."""
    for number, raw in read_raw_lines(path):
        yield decode_line(raw, path, number) + "\n"


def _csv_rows(path: Path, rows: Any) -> Iterator[AGQACsvRow]:
    header = next(rows, None)
    if header != CSV_HEADER:
        raise DatasetFormatError(path, "line 1", f"header {header} is not {CSV_HEADER}")
    for row in rows:
        if not row:
            continue
        if len(row) != len(CSV_HEADER):
            raise DatasetFormatError(
                path, f"line {rows.line_num}", f"{len(row)} columns, expected {len(CSV_HEADER)}"
            )
        if not row[0].strip().isdigit():
            raise DatasetFormatError(
                path, f"line {rows.line_num}", f"row index {row[0]!r} is not an integer"
            )
        yield AGQACsvRow(int(row[0]), *row[1:])
