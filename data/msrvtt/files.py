"""Reader for MSRVTT-QA's question files, ``train_qa.json`` / ``val_qa.json`` / ``test_qa.json``
(format in DATASETS.md): each one JSON list of ``{id, video_id, question, answer, category_id}``.

:func:`iter_msrvtt` streams a file element by element
(:func:`~stair.data.json_stream.iter_json_list`); a record not in that schema raises
:class:`DatasetFormatError` naming the file and the record index (and its id when it has one).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from stair.data.json_stream import iter_records
from stair.errors import DatasetFormatError

__all__ = ["QUESTION_WORDS", "MSRVTTQuestion", "iter_msrvtt", "make_question"]

#: the question words MSRVTT-QA reports accuracy by (anything else counts as "other")
QUESTION_WORDS = ("what", "who", "how", "when", "where")


@dataclass(frozen=True, slots=True)
class MSRVTTQuestion:
    """One MSRVTT-QA question; the video's file is ``video<video_id>.mp4``."""

    id: int
    video_id: int
    question: str
    answer: str
    category_id: int

    @property
    def video(self) -> str:
        """The video's id in the dataset folder (its file name without ``.mp4``)."""
        return f"video{self.video_id}"

    @property
    def word(self) -> str:
        """The question word results are reported by: the first of :data:`QUESTION_WORDS` among
        the question's words, else ``other``."""
        words = self.question.lower().replace("?", " ").split()
        return next((w for w in words if w in QUESTION_WORDS), "other")


def _whole(rec: dict, key: str) -> int:
    value = rec.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"field {key!r} must be a non-negative integer, got {value!r}")
    return value


def make_question(rec: Any) -> MSRVTTQuestion:
    """The typed question of one decoded record (raises ``ValueError`` saying what is wrong)."""
    if not isinstance(rec, dict):
        raise ValueError(f"record is a {type(rec).__name__}, not an object")
    for key in ("question", "answer"):
        if not isinstance(rec.get(key), str) or not rec[key].strip():
            raise ValueError(f"field {key!r} must be a non-empty string, got {rec.get(key)!r}")
    return MSRVTTQuestion(_whole(rec, "id"), _whole(rec, "video_id"), rec["question"].strip(),
                          rec["answer"].strip(), _whole(rec, "category_id"))  # fmt: skip


def iter_msrvtt(
    path: str | os.PathLike, on_error: Callable[[DatasetFormatError], None] | None = None
) -> Iterator[tuple[str, MSRVTTQuestion]]:
    """Stream ``(where, question)`` from an MSRVTT-QA file; ``where`` is ``"record <i>"``, as
    errors name it. A record not in the schema raises :class:`DatasetFormatError`, or is handed to
    ``on_error`` and passed over when one is given; a file that is not a JSON list always raises.
    """
    return iter_records(path, make_question, "id", on_error, id_label="id ")
