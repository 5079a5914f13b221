"""Module signatures: what each module takes and returns, by value type.

A :class:`Signature` is the one description of a module's interface that the compiler, the type
checker, the serialisers and the program generator's grammar all read. The table below declares
the catalogue of DESIGN.md section 5; value types are named by :class:`VType`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from stair.programs.switches import Category, Direction, Extreme, Switch, TemporalMode


class VType(str, Enum):
    """The value types that flow between modules (DESIGN.md section 4)."""

    VIDEO = "Video"
    FRAMES = "Frames"
    CONCEPT = "Concept"
    BOOL = "Bool"
    COUNT = "Count"
    TEXT = "Text"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Param:
    """One argument slot.

    ``types``: the value types accepted. ``optional``: the slot may be empty (``None``).
    ``variadic``: the slot holds a tuple of any length. ``only_with``: the slot is filled exactly
    when the node's switch is one of these (``Temporal``'s second anchor, only for ``between``).
    """

    name: str
    types: frozenset[VType]
    optional: bool = False
    variadic: bool = False
    only_with: frozenset[str] | None = None


@dataclass(frozen=True)
class Signature:
    module: str
    params: tuple[Param, ...]
    returns: VType
    switch: type[Switch] | None = None

    def render(self) -> str:
        def one(p: Param) -> str:
            t = " | ".join(sorted(str(t) for t in p.types))
            if p.variadic:
                t = f"{t}..."
            return f"{p.name}: {t}{'?' if p.optional else ''}"

        head = f"{self.module}[{self.switch.__name__}]" if self.switch else self.module
        return f"{head}({', '.join(one(p) for p in self.params)}) -> {self.returns}"


V, F, C, B, N, T = (VType.VIDEO, VType.FRAMES, VType.CONCEPT, VType.BOOL, VType.COUNT, VType.TEXT)


def _p(name: str, *types: VType, **kw: object) -> Param:
    return Param(name, frozenset(types), **kw)  # type: ignore[arg-type]


def _sig(module: str, returns: VType, *params: Param, switch: type[Switch] | None = None):
    return Signature(module, params, returns, switch)


_TABLE = [
    _sig("Localize", F, _p("video", V), _p("action", T, C)),
    _sig(
        "Temporal", V, _p("video", V), _p("anchor", F),
        _p("second", F, optional=True, only_with=frozenset({"between"})), switch=TemporalMode,
    ),
    _sig("Filter", C, _p("video", V), _p("text", T, C, optional=True), switch=Category),
    _sig("FilterFrame", V, _p("video", V), _p("text", T, C, optional=True), switch=Category),
    _sig("Exists", B, _p("item", T, C), _p("items", C)),
    _sig("ExistsFrame", F, _p("item", T, C), _p("video", V)),
    _sig("HasItem", F, _p("video", V)),
    _sig("Relate", F, _p("frames", F), switch=Direction),
    _sig("AttnVideo", V, _p("video", V), _p("frames", F)),
    _sig("Superlative", C, _p("video", V), _p("candidates", T, C, variadic=True), switch=Extreme),
    _sig("ToAction", C, _p("verb", T), _p("object", T, C)),
    _sig("Choose", C, _p("first", T, C), _p("second", T, C), _p("value", C)),
    _sig("Compare", B, _p("before", B), _p("after", B)),
    _sig("Equals", B, _p("first", T, C), _p("second", T, C)),
    _sig("And", B, _p("first", B), _p("second", B)),
    _sig("Or", B, _p("first", B), _p("second", B)),
    _sig("Xor", B, _p("first", B), _p("second", B)),
    _sig("Not", B, _p("value", B)),
    _sig("AndFrame", F, _p("first", F), _p("second", F)),
    _sig("XorFrame", F, _p("first", F), _p("second", F)),
    _sig("Count", N, _p("frames", F)),
]  # fmt: skip

SIGNATURES: dict[str, Signature] = {s.module: s for s in _TABLE}

__all__ = ["SIGNATURES", "Category", "Direction", "Extreme", "Param", "Signature", "VType"]
