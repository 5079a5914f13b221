"""STAR's class lists: the names behind the ids of its situation graphs.

STAR ships, in ``annotations/STAR_classes/``, ``object_classes.txt`` (``o000 person``),
``relationship_classes.txt`` (``r009 holding``), ``action_classes.txt`` (``a000 hold some
clothes``), ``verb_classes.txt`` (``v004 hold``) and ``action_mapping.txt`` (``a000 v004 o019``:
an action's verb and object). Relation names are written with spaces where STAR has underscores
(``in_front_of`` -> ``in front of``), as the program language spells them; the other names are
kept as STAR writes them (``closet/cabinet``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from stair.errors import DatasetFormatError
from stair.files import TextFileError, read_lines

__all__ = ["CLASS_FILES", "PERSON", "STARClasses", "load_star_classes"]

CLASS_FILES = ("object_classes.txt", "relationship_classes.txt", "action_classes.txt",
               "verb_classes.txt", "action_mapping.txt")  # fmt: skip

#: the object id of the person, the subject of STAR's person-object relations
PERSON = "o000"


@dataclass(frozen=True)
class STARClasses:
    """Id -> name for objects, relations, actions and verbs; action id -> (verb id, object id)."""

    objects: dict[str, str]
    relations: dict[str, str]
    actions: dict[str, str]
    verbs: dict[str, str]
    action_parts: dict[str, tuple[str, str]]

    def action(self, action_id: str) -> tuple[str, str | None, str | None]:
        """``(phrase, verb, object)`` of an action id (``KeyError`` if unknown)."""
        phrase = self.actions[action_id]
        verb, obj = self.action_parts.get(action_id, (None, None))
        return phrase, self.verbs.get(verb or ""), self.objects.get(obj or "")


def _pairs(path: Path) -> dict[str, list[str]]:
    """``<id> <rest>`` lines -> {id: rest split in words}; errors name the file and line."""
    out: dict[str, list[str]] = {}
    try:
        for number, line in read_lines(path):
            if not line.strip():
                continue
            key, *rest = line.split()
            if not rest:
                reason = f"expected '<id> <name>': {line!r}"
                raise DatasetFormatError(path, f"line {number}", reason)
            if key in out:
                raise DatasetFormatError(path, f"line {number}", f"id {key!r} repeats")
            out[key] = rest
    except TextFileError as err:
        where = "" if err.line is None else f"line {err.line}"
        raise DatasetFormatError(path, where, err.reason) from None
    return out


def load_star_classes(folder: str | os.PathLike) -> STARClasses:
    """Read the class lists of ``folder`` (STAR's ``STAR_classes``: the :data:`CLASS_FILES`)."""
    folder = Path(folder)
    objects, relations, actions, verbs, mapping = (_pairs(folder / n) for n in CLASS_FILES)
    parts: dict[str, tuple[str, str]] = {}
    for action, rest in mapping.items():
        if len(rest) != 2:
            raise DatasetFormatError(folder / CLASS_FILES[4], f"action {action}",
                                     "expected '<action id> <verb id> <object id>'")  # fmt: skip
        parts[action] = (rest[0], rest[1])
    return STARClasses(
        objects={k: " ".join(v) for k, v in objects.items()},
        relations={k: " ".join(v).replace("_", " ") for k, v in relations.items()},
        actions={k: " ".join(v) for k, v in actions.items()},
        verbs={k: " ".join(v) for k, v in verbs.items()},
        action_parts=parts,
    )
