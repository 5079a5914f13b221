"""Reader for STAR's question files, ``STAR_train.json`` / ``STAR_val.json`` / ``STAR_test.json``
(format in DATASETS.md).

Each file is one JSON list of records; :func:`iter_star` streams it element by element
(:func:`~stair.data.json_stream.iter_json_list`) rather than loading it whole, since the
situation graphs make the files large. A record becomes a typed :class:`STARQuestion`; one that
is not in STAR's schema raises :class:`DatasetFormatError` naming the file and the record index
(and its question id when it has one).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from stair.data.json_stream import iter_records
from stair.errors import DatasetFormatError

__all__ = ["QUESTION_TYPES", "STARQuestion", "iter_star", "make_question"]

QUESTION_TYPES = ("Interaction", "Sequence", "Prediction", "Feasibility")


@dataclass(frozen=True, slots=True)
class STARQuestion:
    """One STAR question.

    ``qid``: STAR's ``question_id`` (``<type>_<template>_<n>``); ``video_id``: the Charades video;
    ``start`` / ``end``: seconds of the clip the question is about; ``choices``: the options'
    texts by ``choice_id``; ``answer``: the right option's text, None in the test file;
    ``situations``: STAR's raw ``{frame_id: situation}`` (converted by
    :mod:`stair.data.star.situations`).
    """

    qid: str
    question: str
    video_id: str
    start: float
    end: float
    choices: tuple[str, ...]
    answer: str | None
    situations: Mapping[str, Any]

    @property
    def type(self) -> str:
        """Interaction, Sequence, Prediction or Feasibility."""
        return self.qid.split("_", 1)[0]

    @property
    def template(self) -> str:
        """STAR's question template (``T1``...)."""
        parts = self.qid.split("_")
        return parts[1] if len(parts) > 2 else ""

    @property
    def clip_id(self) -> str:
        """The clip's video id in the dataset folder: ``<video>_<start>_<end>``."""
        return f"{self.video_id}_{self.start:g}_{self.end:g}"


def _seconds(rec: dict, key: str) -> float:
    value = rec.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"field {key!r} must be a number of seconds, got {value!r}")
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError(f"field {key!r} must be a number of seconds, got {value!r}") from None
    if not seconds >= 0:
        raise ValueError(f"field {key!r} must be a non-negative time, got {value!r}")
    return seconds


def make_question(rec: Any) -> STARQuestion:
    """The typed question of one decoded record (raises ``ValueError`` saying what is wrong)."""
    if not isinstance(rec, dict):
        raise ValueError(f"record is a {type(rec).__name__}, not an object")
    for key in ("question_id", "question", "video_id"):
        if not isinstance(rec.get(key), str) or not rec[key].strip():
            raise ValueError(f"field {key!r} must be a non-empty string, got {rec.get(key)!r}")
    qid = rec["question_id"]
    if qid.split("_", 1)[0] not in QUESTION_TYPES:
        raise ValueError(f"question id {qid!r} does not start with one of {QUESTION_TYPES}")
    start, end = _seconds(rec, "start"), _seconds(rec, "end")
    if end < start:
        raise ValueError(f"clip ends ({end}) before it starts ({start})")
    choices = rec.get("choices")
    if not isinstance(choices, list) or not choices:
        raise ValueError(f"field 'choices' must be a non-empty list, got {choices!r}")
    by_id: dict[int, str] = {}
    for i, choice in enumerate(choices):
        cid = choice.get("choice_id") if isinstance(choice, dict) else None
        text = choice.get("choice") if isinstance(choice, dict) else None
        if isinstance(cid, bool) or not isinstance(cid, int) or not isinstance(text, str):
            raise ValueError(f"choices[{i}] must have an integer 'choice_id' and a 'choice' text")
        by_id[cid] = text
    if sorted(by_id) != list(range(len(choices))):
        raise ValueError(f"choice ids {sorted(by_id)} are not 0..{len(choices) - 1}")
    options = tuple(by_id[i] for i in range(len(choices)))
    answer = rec.get("answer")
    if answer is not None and (not isinstance(answer, str) or answer not in options):
        raise ValueError(f"answer {answer!r} is not one of the choices {list(options)}")
    situations = rec.get("situations", {})
    if not isinstance(situations, dict):
        raise ValueError(f"field 'situations' must be an object, got {type(situations).__name__}")
    return STARQuestion(qid, rec["question"].strip(), rec["video_id"], start, end, options,
                        answer, situations)  # fmt: skip


def iter_star(
    path: str | os.PathLike, on_error: Callable[[DatasetFormatError], None] | None = None
) -> Iterator[tuple[str, STARQuestion]]:
    """Stream ``(where, question)`` from a STAR file; ``where`` is ``"record <i>"``, as errors
    name it. A record not in STAR's schema raises :class:`DatasetFormatError`, or is handed to
    ``on_error`` and passed over when one is given; a file that is not a JSON list always raises.
    """
    return iter_records(path, make_question, "question_id", on_error)
