"""The language's operations and their signatures: what each module takes and returns, by type.

A :class:`Signature` is the one description of a module's interface that the compiler, the type
checker, the serialisers and the program generator's grammar all read. There is no hand-written
table: every operation of the language is a typed function, registered with :func:`operation`
(its exact semantics on a scene graph, :mod:`stair.programs.symbolic.operations`), and
:data:`SIGNATURES` is read from those functions' type hints by :func:`read_signature`.

The hints follow one grammar, shared with the neural modules' ``forward`` (the neural registry
reads its signatures with the same :func:`read_signature` and checks they agree):

- a parameter named ``switch`` typed by a :class:`~stair.programs.switches.Switch` enum is the
  module's switch;
- every other positional parameter is an argument slot typed by value classes, each of which
  names its :class:`VType` in a class attribute ``vtype``: ``X`` (one type), ``X | Y``
  (either), ``X | None = None`` (optional), ``tuple[X, ...]`` (variadic),
  ``Annotated[X | None, OnlyWith("between")] = None`` (filled exactly when the switch is
  ``between``); the return hint is the output type (never ``Text``);
- keyword-only parameters are *context* that the caller supplies (:func:`context_of`), not
  program arguments.

Adding a module to the language is one function with ``@operation("Name")`` in
:mod:`stair.programs.symbolic.operations` (and, to run it neurally, one ``@register``-ed class in
:mod:`stair.modules` whose ``forward`` has the same slots, switch and return type).
"""

from __future__ import annotations

import functools
import inspect
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType
from typing import Annotated, Any, TypeVar, Union

from stair.programs.switches import Switch


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


class OnlyWith:
    """Marks a slot that is filled exactly when the node's switch is one of ``switches``."""

    def __init__(self, *switches: str) -> None:
        self.switches = frozenset(switches)

    def __repr__(self) -> str:
        return f"OnlyWith({', '.join(sorted(self.switches))})"


# -- reading signatures from type hints -----------------------------------------------------------
def _is_union(hint: Any) -> bool:
    return typing.get_origin(hint) in (Union, types.UnionType)


def _vtype(hint: Any) -> VType | None:
    """The value type a hint names (a class with a ``vtype`` attribute), or None."""
    vtype = getattr(hint, "vtype", None) if isinstance(hint, type) else None
    return vtype if isinstance(vtype, VType) else None


def _param(name: str, hint: Any, default: Any, where: str) -> Param:
    """One argument slot from its type hint."""
    only_with = None
    if typing.get_origin(hint) is Annotated:
        hint, *extras = typing.get_args(hint)
        marks = [e for e in extras if isinstance(e, OnlyWith)]
        only_with = marks[0].switches if marks else None
    members = list(typing.get_args(hint)) if _is_union(hint) else [hint]
    optional = type(None) in members
    members = [m for m in members if m is not type(None)]
    variadic = False
    if len(members) == 1 and typing.get_origin(members[0]) is tuple:
        args = typing.get_args(members[0])
        if len(args) != 2 or args[1] is not Ellipsis:
            raise TypeError(f"{where}: a variadic slot is tuple[X, ...], got {members[0]}")
        variadic = True
        members = list(typing.get_args(args[0])) if _is_union(args[0]) else [args[0]]
    vtypes = []
    for member in members:
        vtype = _vtype(member)
        if vtype is None:
            raise TypeError(f"{where}: slot {name!r} has a non-value type {member!r}")
        vtypes.append(vtype)
    if optional and default is inspect.Parameter.empty:
        raise TypeError(f"{where}: optional slot {name!r} needs a default (None)")
    return Param(name, frozenset(vtypes), optional, variadic, only_with)


def _program_parameters(function: Callable[..., Any]) -> list[inspect.Parameter]:
    """The parameters of ``function`` that are not context (and not a method's ``self``)."""
    params = list(inspect.signature(function).parameters.values())
    if params and params[0].name == "self":
        params = params[1:]
    return [p for p in params if p.kind is not inspect.Parameter.KEYWORD_ONLY]


def read_signature(
    function: Callable[..., Any], module: str, answer_as: AnswerAs = AnswerAs.VALUE
) -> Signature:
    """The :class:`Signature` of ``module`` from the type hints of ``function``.

    ``function`` is an operation of the language or a neural module's ``forward`` (its ``self``
    is skipped); the grammar of the hints is this module's docstring's. Raises ``TypeError``
    naming the function and the parameter when a hint does not follow it.
    """
    where = function.__qualname__
    hints = typing.get_type_hints(function, include_extras=True)
    switch: type[Switch] | None = None
    params: list[Param] = []
    for p in _program_parameters(function):
        if p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            raise TypeError(f"{where}: *args/**kwargs cannot declare slots ({p.name})")
        if p.name not in hints:
            raise TypeError(f"{where}: parameter {p.name!r} has no type hint")
        hint = hints[p.name]
        if p.name == "switch":
            if not (isinstance(hint, type) and issubclass(hint, Switch)):
                raise TypeError(f"{where}: 'switch' must be typed by a Switch enum, got {hint}")
            switch = hint
            continue
        params.append(_param(p.name, hint, p.default, where))
    returns = _vtype(hints.get("return"))
    if returns is None:
        raise TypeError(
            f"{where}: the return hint must be a value type, got {hints.get('return')!r}"
        )
    if returns is VType.TEXT:
        raise TypeError(f"{where}: a module cannot return Text")
    return Signature(module, tuple(params), returns, switch, answer_as)


@functools.cache
def context_of(function: Callable[..., Any]) -> tuple[str, ...]:
    """The keyword-only context parameters ``function`` asks for (e.g. ``actions``, ``scene``)."""
    params = inspect.signature(function).parameters.values()
    return tuple(p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY)


# -- the operations of the language ---------------------------------------------------------------
F = TypeVar("F", bound=Callable[..., Any])

_OPERATIONS: dict[str, Callable[..., Any]] = {}
_SIGNATURES: dict[str, Signature] = {}

#: Module name -> its operation: the function that gives the module's exact value on a scene graph.
OPERATIONS: Mapping[str, Callable[..., Any]] = MappingProxyType(_OPERATIONS)
#: Every module's signature (DESIGN.md section 5), read from its operation's type hints.
SIGNATURES: Mapping[str, Signature] = MappingProxyType(_SIGNATURES)


def operation(module: str, *, answer_as: AnswerAs = AnswerAs.VALUE) -> Callable[[F], F]:
    """Function decorator: ``module`` is an operation of the language with these semantics.

    The function's type hints are the module's :class:`Signature` (read once, here);
    ``answer_as`` says what a root value of the module means as an answer.
    """

    def add(function: F) -> F:
        if module in _OPERATIONS and _OPERATIONS[module] is not function:
            raise ValueError(
                f"operation {module!r} is already defined ({_OPERATIONS[module].__qualname__})"
            )
        _SIGNATURES[module] = read_signature(function, module, answer_as)
        _OPERATIONS[module] = function
        return function

    return add


__all__ = [
    "OPERATIONS", "SIGNATURES", "AnswerAs", "OnlyWith", "Param", "Signature", "VType",
    "context_of", "operation", "read_signature",
]  # fmt: skip
