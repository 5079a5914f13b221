"""STAR's evaluation-server file, from ``stair predict``'s answers.

The server takes ``{"Interaction": [{"question_id": ..., "answer": <choice index>}],
"Sequence": [...], "Prediction": [...], "Feasibility": [...]}``: every test question under its
question type, the part of its id before the first ``_`` (``Interaction_T1_13``), with the index
of the chosen option (a prediction row's ``choice``, the order of the record's
``metadata.options``, which is STAR's ``choice_id`` order).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from stair.errors import DatasetFormatError

__all__ = ["QUESTION_TYPES", "star_submission"]

#: STAR's question types, in the order the server file lists them
QUESTION_TYPES = ("Interaction", "Sequence", "Prediction", "Feasibility")


def star_submission(rows: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The server's JSON object from prediction rows (``{"qid", "choice", ...}``); a row whose
    id names no STAR question type, or without a choice, raises :class:`DatasetFormatError`."""
    out: dict[str, list[dict[str, Any]]] = {t: [] for t in QUESTION_TYPES}
    for number, row in enumerate(rows, start=1):
        qid, choice = str(row.get("qid", "")), row.get("choice")
        kind = qid.split("_", 1)[0]
        if kind not in out:
            reason = f"question id {qid!r} names no STAR question type ({', '.join(out)})"
            raise DatasetFormatError("predictions", f"row {number}", reason)
        if not isinstance(choice, int):
            reason = f"question {qid!r} has no chosen option (multiple-choice predictions only)"
            raise DatasetFormatError("predictions", f"row {number}", reason)
        out[kind].append({"question_id": qid, "answer": choice})
    return out
