"""Module signatures: what each module takes and returns, by value type.

A :class:`Signature` is the one description of a module's interface that the compiler, the type
checker, the serialisers and the program generator's grammar all read. There is no hand-written
table: :data:`SIGNATURES` is derived from the registered neural modules' ``forward`` type hints
(:mod:`stair.modules.registry`); value types are named by :class:`VType`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import Enum

from stair.programs.switches import Category, Direction, Extreme, Switch


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


class AnswerAs(str, Enum):
    """What a root value of a module means as the question's answer.

    ``VALUE``: the value's own reading (a Bool answers yes/no, a Count its number, a Concept the
    answer word nearest to it). ``BEFORE_AFTER``: a Bool that answers "before" when true and
    "after" when false (``Compare``). ``OPTION``: a Concept that answers one of the node's two
    phrase arguments (``Choose``).
    """

    VALUE = "value"
    BEFORE_AFTER = "before/after"
    OPTION = "option"

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
    answer_as: AnswerAs = AnswerAs.VALUE

    def render(self) -> str:
        def one(p: Param) -> str:
            t = " | ".join(sorted(str(t) for t in p.types))
            if p.variadic:
                t = f"{t}..."
            return f"{p.name}: {t}{'?' if p.optional else ''}"

        head = f"{self.module}[{self.switch.__name__}]" if self.switch else self.module
        return f"{head}({', '.join(one(p) for p in self.params)}) -> {self.returns}"


class _RegistrySignatures(Mapping[str, Signature]):
    """Module name -> :class:`Signature`, read live from the module registry.

    The registry (:mod:`stair.modules.registry`) derives each signature from the module's
    ``forward`` type hints, so the modules' own code is the one declaration of the catalogue. The
    first access imports :mod:`stair.modules` (and with it torch), which registers them.
    """

    _live: Mapping[str, Signature] | None = None

    def _table(self) -> Mapping[str, Signature]:
        if self._live is None:
            import stair.modules  # noqa: F401  (importing the package registers the catalogue)
            from stair.modules.registry import signatures

            self._live = signatures()  # a live view: later registrations show up too
        return self._live

    def __getitem__(self, module: str) -> Signature:
        return self._table()[module]

    def __iter__(self) -> Iterator[str]:
        return iter(self._table())

    def __len__(self) -> int:
        return len(self._table())

    def __repr__(self) -> str:
        return f"SIGNATURES({', '.join(sorted(self._table()))})"


#: Every module's signature (DESIGN.md section 5), derived from the registered module classes.
SIGNATURES: Mapping[str, Signature] = _RegistrySignatures()

__all__ = ["SIGNATURES", "AnswerAs", "Category", "Direction", "Extreme", "Param", "Signature", "VType"]
