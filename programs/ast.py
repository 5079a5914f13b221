"""The syntax tree of an AGQA program string, with character positions.

``Call(name, args)`` is a function application, ``ListArg(items)`` a bracketed list and ``Atom``
anything else (a keyword such as ``before`` or a phrase such as ``opening a closet``). Every node
records ``start``/``end``: the half-open character range it covers in the source string, so errors
and audits can point back to the exact text.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Union

#: AGQA keywords: atoms that are syntax, not phrases.
KEYWORDS = frozenset(
    {
        "video", "frame", "objects", "relations", "relation", "actions", "action", "class",
        "start", "end", "forward", "backward", "max", "min", "before", "after", "while",
        "between", "temporal tag",
    }
)  # fmt: skip


@dataclass(frozen=True)
class Atom:
    text: str
    start: int
    end: int

    @property
    def is_keyword(self) -> bool:
        return self.text in KEYWORDS


@dataclass(frozen=True)
class ListArg:
    items: tuple[Expr, ...]
    start: int
    end: int


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Expr, ...]
    start: int
    end: int


Expr = Union[Call, ListArg, Atom]  # noqa: UP007 (runtime alias used in isinstance-free code)


def walk(expr: Expr) -> Iterator[Expr]:
    """Every node of ``expr``, parents before children."""
    yield expr
    children = (
        expr.args if isinstance(expr, Call) else expr.items if isinstance(expr, ListArg) else ()
    )
    for child in children:
        yield from walk(child)


def to_agqa(expr: Expr) -> str:
    """Print ``expr`` back in AGQA syntax (canonical spacing)."""
    if isinstance(expr, Atom):
        return expr.text
    if isinstance(expr, ListArg):
        return "[" + ", ".join(to_agqa(e) for e in expr.items) + "]"
    return f"{expr.name}(" + ", ".join(to_agqa(e) for e in expr.args) + ")"
