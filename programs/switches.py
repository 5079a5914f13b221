"""Switches: the keyword arguments that select a module's behaviour (``Filter[objects]``).

They are plain string enums: a switch compares equal to its keyword (``Category.OBJECTS ==
"objects"``), serialises as that keyword and carries no tensors.
"""

from __future__ import annotations

from enum import Enum


class Switch(str, Enum):
    """Base of every switch enum; ``str(switch)`` is its keyword."""

    def __str__(self) -> str:
        return self.value

    @classmethod
    def parse(cls, word: str) -> Switch:
        """The member named by ``word``; ``relation``/``action`` read as their plurals."""
        word = {"relation": "relations", "action": "actions", "object": "objects"}.get(word, word)
        try:
            return cls(word)
        except ValueError:
            choices = ", ".join(m.value for m in cls)
            raise ValueError(
                f"unknown {cls.__name__} {word!r} (expected one of: {choices})"
            ) from None


class TemporalMode(Switch):
    BEFORE = "before"
    AFTER = "after"
    WHILE = "while"
    BETWEEN = "between"


class Category(Switch):
    OBJECTS = "objects"
    RELATIONS = "relations"
    ACTIONS = "actions"


class Direction(Switch):
    FORWARD = "forward"
    BACKWARD = "backward"


class Extreme(Switch):
    MAX = "max"
    MIN = "min"


SWITCH_TYPES: dict[str, type[Switch]] = {
    cls.__name__: cls for cls in (TemporalMode, Category, Direction, Extreme)
}
