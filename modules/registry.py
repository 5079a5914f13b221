"""The one table of neural modules (name -> class) and the signatures derived from their hints.

Contract of a module class (adding a module = one class + the ``@register`` line):

- it is an ``nn.Module``; ``__init__`` takes keyword options with defaults, ``dim`` (the feature
  and concept size) among them if it has parameters;
- ``forward``'s type hints are its signature. A parameter named ``switch`` typed by a
  :class:`~stair.programs.switches.Switch` enum is the module's switch. Every other positional
  parameter is an argument slot typed by value classes of :mod:`stair.values`: ``Video``,
  ``Concept | Text`` (either), ``X | None`` (optional), ``tuple[X, ...]`` (variadic),
  ``Annotated[X | None, OnlyWith("between")]`` (filled exactly when the switch is ``between``).
  The return hint is the output type;
- keyword-only parameters are *context* the executor supplies, not program arguments; the only
  one today is ``actions``: the action rows ``[A, D]`` of the concept bank;
- ``keeps_features = "video"`` (class attribute) declares that the output ``Video`` has the
  features of that input slot (only the window changes), which lets the executor skip copying.

:func:`signatures` is what :data:`stair.programs.signatures.SIGNATURES` reads: the compiler, the
type checker, the serialisers and the generator's grammar all follow these hints.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Annotated, Any, TypeVar, Union

from torch import nn

from stair.programs.signatures import AnswerAs, Param, Signature, VType
from stair.programs.switches import Switch
from stair.values import Value

M = TypeVar("M", bound=type[nn.Module])

MODULES: dict[str, type[nn.Module]] = {}
_SIGNATURES: dict[str, Signature] = {}


class OnlyWith:
    """Marks a slot that is filled exactly when the node's switch is one of ``switches``."""

    def __init__(self, *switches: str) -> None:
        self.switches = frozenset(switches)

    def __repr__(self) -> str:
        return f"OnlyWith({', '.join(sorted(self.switches))})"


def register(cls: M | None = None, *, name: str | None = None) -> M | Callable[[M], M]:
    """Class decorator: add a module to the registry under ``name`` (default: the class name)."""

    def add(klass: M) -> M:
        key = name or klass.__name__
        if key in MODULES and MODULES[key] is not klass:
            raise ValueError(f"module {key!r} is already registered ({MODULES[key].__qualname__})")
        signature = signature_of(klass, key)
        MODULES[key] = klass
        _SIGNATURES[key] = signature
        return klass

    return add(cls) if cls is not None else add


def _is_union(hint: Any) -> bool:
    return typing.get_origin(hint) in (Union, types.UnionType)


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
        if not (isinstance(member, type) and issubclass(member, Value)):
            raise TypeError(f"{where}: slot {name!r} has a non-value type {member!r}")
        vtypes.append(member.vtype)
    if optional and default is inspect.Parameter.empty:
        raise TypeError(f"{where}: optional slot {name!r} needs a default (None)")
    return Param(name, frozenset(vtypes), optional, variadic, only_with)


def signature_of(cls: type[nn.Module], name: str | None = None) -> Signature:
    """The :class:`Signature` of a module class, read from its ``forward`` type hints."""
    name = name or cls.__name__
    where = f"{cls.__qualname__}.forward"
    hints = typing.get_type_hints(cls.forward, include_extras=True)
    switch: type[Switch] | None = None
    params: list[Param] = []
    for p in list(inspect.signature(cls.forward).parameters.values())[1:]:
        if p.kind is inspect.Parameter.KEYWORD_ONLY:
            continue  # context from the executor, not a program argument
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
    returns = hints.get("return")
    if not (isinstance(returns, type) and issubclass(returns, Value)):
        raise TypeError(f"{where}: the return hint must be a value type, got {returns!r}")
    if returns.vtype is VType.TEXT:
        raise TypeError(f"{where}: a module cannot return Text")
    answer_as = getattr(cls, "answer_as", AnswerAs.VALUE)
    return Signature(name, tuple(params), returns.vtype, switch, answer_as)


def context_of(cls: type[nn.Module]) -> tuple[str, ...]:
    """The keyword-only context parameters a module's ``forward`` asks for (e.g. ``actions``)."""
    params = inspect.signature(cls.forward).parameters.values()
    return tuple(p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY)


def signatures() -> Mapping[str, Signature]:
    """Module name -> signature, for every registered module (a live read-only view)."""
    return MappingProxyType(_SIGNATURES)


def build_modules(names: list[str] | None = None, **options: Any) -> nn.ModuleDict:
    """Instantiate registered modules (all by default) as an ``nn.ModuleDict`` keyed by name.

    Each option (``dim=256``, ``max_count=10``, ...) goes to every constructor that accepts it.
    """
    out = nn.ModuleDict()
    for key in names if names is not None else sorted(MODULES):
        cls = MODULES[key]
        accepted = inspect.signature(cls.__init__).parameters
        out[key] = cls(**{k: v for k, v in options.items() if k in accepted})
    return out
