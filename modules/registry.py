"""The one table of neural modules (name -> class), each checked against the language's operation.

The program language declares its modules itself: every module is an operation of
:mod:`stair.programs` (a typed function with the module's exact semantics on a scene graph,
:mod:`stair.programs.symbolic.operations`), and :data:`stair.programs.SIGNATURES` is read from
those functions. A neural module is a trainable approximation of one operation; ``@register``
reads its signature from ``forward``'s type hints (with the language's own parser,
:func:`stair.programs.signatures.read_signature`) and refuses, with a ``TypeError``, a module
the language has no operation for, or one whose slots, switch or return type differ from it.

Adding a module is therefore two pieces:

1. its semantics: a function with ``@operation("Name")`` in
   :mod:`stair.programs.symbolic.operations` (symbolic values and ``Phrase`` as hints);
2. its neural class, here in :mod:`stair.modules`, with ``@register`` (neural values as hints).

Contract of a module class:

- it is an ``nn.Module``; ``__init__`` takes keyword options with defaults, ``dim`` (the feature
  and concept size) among them if it has parameters;
- ``forward``'s type hints follow the grammar of :mod:`stair.programs.signatures`, typed by the
  value classes of :mod:`stair.values`: ``switch: <Switch enum>``, ``Video``, ``Concept | Text``
  (either), ``X | None = None`` (optional), ``tuple[X, ...]`` (variadic),
  ``Annotated[X | None, OnlyWith("between")] = None``; the return hint is the output type;
- keyword-only parameters are *context* the executor supplies, not program arguments; the only
  ones are ``actions``, the action rows ``[A, D]`` of the concept bank, ``bank``, all its rows
  ``[V, D]``, and ``concepts``, every bank concept's name encoded as a phrase ``[V, D]`` (None
  with a pretrained question encoder);
- ``keeps_features = "video"`` (class attribute) declares that the output ``Video`` has the
  features of that input slot (only the window changes), which lets the executor skip copying;
- ``shares = ("Localize", ("query", "bias"))`` (class attribute) declares that the module may
  use another module's parameters as its own: :func:`build_modules` ties them (``share=True``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from torch import nn

from stair.programs.signatures import OPERATIONS, SIGNATURES, Param, Signature, read_signature
from stair.programs.signatures import context_of as _context_of

M = TypeVar("M", bound=type[nn.Module])

MODULES: dict[str, type[nn.Module]] = {}


def register(cls: M | None = None, *, name: str | None = None) -> M | Callable[[M], M]:
    """Class decorator: add a module to the registry under ``name`` (default: the class name).

    Raises ``TypeError`` when ``forward``'s hints do not give a signature, when the language has
    no operation ``name`` or when the signature differs from the operation's; ``ValueError``
    when another class has the name.
    """

    def add(klass: M) -> M:
        key = name or klass.__name__
        neural = signature_of(klass, key)
        if key not in OPERATIONS:
            raise TypeError(
                f"module {key!r} has no symbolic semantics in stair.programs: define its operation "
                f"with @operation({key!r}) in stair/programs/symbolic/operations.py"
            )
        differences = _differences(SIGNATURES[key], neural)
        if differences:
            raise TypeError(
                f"module {key!r}: {klass.__qualname__}.forward disagrees with its operation "
                f"{OPERATIONS[key].__qualname__}: {'; '.join(differences)}"
            )
        if key in MODULES and MODULES[key] is not klass:
            raise ValueError(f"module {key!r} is already registered ({MODULES[key].__qualname__})")
        MODULES[key] = klass
        return klass

    return add(cls) if cls is not None else add


def _differences(language: Signature, neural: Signature) -> list[str]:
    """What differs between the operation's signature and the module's (``answer_as`` aside)."""
    out = []
    if language.switch is not neural.switch:
        want, got = _name(language.switch), _name(neural.switch)
        out.append(f"the switch is {want} in the language but {got} in forward")
    for i in range(max(len(language.params), len(neural.params))):
        want = language.params[i] if i < len(language.params) else None
        got = neural.params[i] if i < len(neural.params) else None
        if want != got:
            out.append(f"slot {i} is {_slot(want)} in the language but {_slot(got)} in forward")
    if language.returns is not neural.returns:
        out.append(f"it returns {language.returns} in the language but {neural.returns} in forward")
    return out


def _name(switch: type | None) -> str:
    return switch.__name__ if switch is not None else "none"


def _slot(param: Param | None) -> str:
    if param is None:
        return "missing"
    types = " | ".join(sorted(str(t) for t in param.types)) + ("..." if param.variadic else "")
    only = f", only with {'/'.join(sorted(param.only_with))}" if param.only_with else ""
    return f"({param.name}: {types}{'?' if param.optional else ''}{only})"


def signature_of(cls: type[nn.Module], name: str | None = None) -> Signature:
    """The :class:`Signature` that a module class's ``forward`` type hints give.

    Its ``answer_as`` is the default: what a root value means is declared on the operation.
    """
    return read_signature(cls.forward, name or cls.__name__)


def operation_of(name: str) -> Callable[..., Any]:
    """The semantics of a registered module: the language's operation of that name."""
    if name not in MODULES:
        raise KeyError(f"no registered module {name!r} (known: {', '.join(sorted(MODULES))})")
    return OPERATIONS[name]


def context_of(cls: type[nn.Module]) -> tuple[str, ...]:
    """The keyword-only context parameters a module's ``forward`` asks for (e.g. ``actions``)."""
    return _context_of(cls.forward)


def build_modules(
    names: list[str] | None = None, share: bool = False, **options: Any
) -> nn.ModuleDict:
    """Instantiate registered modules (all by default) as an ``nn.ModuleDict`` keyed by name.

    Each option (``dim=256``, ``max_count=10``, ...) goes to every constructor that accepts it.
    ``share``: tie the parameters a module declares in ``shares`` to the named module's, when
    both are built (``STAIRModel``'s ``share_localizer``); tied parameters keep their names
    under both modules in a state dict, so checkpoints load either way.
    """
    out = nn.ModuleDict()
    for key in names if names is not None else sorted(MODULES):
        cls = MODULES[key]
        accepted = inspect.signature(cls.__init__).parameters
        out[key] = cls(**{k: v for k, v in options.items() if k in accepted})
    if share:
        for module in out.values():
            owner, attributes = getattr(module, "shares", (None, ()))
            if owner in out:
                for attribute in attributes:
                    setattr(module, attribute, getattr(out[owner], attribute))
    return out
