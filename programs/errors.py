"""Errors of the program language."""

from __future__ import annotations

from stair.errors import StairError


class ProgramError(StairError):
    """A program that does not parse, compile or type-check.

    The message names where (a character position in the program string, or a node path in the
    module tree) and what was expected there. ``position`` / ``path`` hold the same as data.
    """

    def __init__(
        self,
        message: str,
        *,
        position: int | None = None,
        path: str | None = None,
        source: str | None = None,
    ) -> None:
        self.message = message
        self.position = position
        self.path = path
        self.source = source
        where = []
        if position is not None:
            where.append(f"at position {position}")
        if path is not None:
            where.append(f"at node {path}")
        text = f"{' '.join(where)}: {message}" if where else message
        if source is not None and position is not None:
            caret = " " * min(position, len(source)) + "^"
            text = f"{text}\n  {source}\n  {caret}"
        super().__init__(text)


class SymbolicError(StairError):
    """A program that cannot be evaluated on a scene graph (no single answer, unknown reference)."""
