"""Type checking of module trees against the module signatures.

Every tree that reaches the executor has passed :func:`check`: known modules, a valid switch where
the module takes one (and none where it does not), one argument per parameter, each of an accepted
value type. Errors name the node path (``Exists/1:Filter[objects]``) and what was expected.
"""

from __future__ import annotations

from collections.abc import Mapping

from stair.programs.errors import ProgramError
from stair.programs.signatures import SIGNATURES, Param, Signature
from stair.programs.tree import ModuleTree, Node, Phrase, VideoInput


def check(tree: ModuleTree | Node, signatures: Mapping[str, Signature] = SIGNATURES) -> ModuleTree:
    """Return ``tree`` (as a :class:`ModuleTree`) if it is well typed, else raise ProgramError."""
    tree = tree if isinstance(tree, ModuleTree) else ModuleTree(tree)
    for node in tree.nodes:
        try:
            _check_node(node, signatures)
        except _Mismatch as err:  # the node path is only worked out for the error message
            raise ProgramError(str(err), path=tree.path(node.id)) from None
    return tree


class _Mismatch(Exception):
    """A node that does not fit its signature (turned into a ProgramError with its path)."""


def _check_node(node: Node, signatures: Mapping[str, Signature]) -> None:
    sig = signatures.get(node.module)
    if sig is None:
        known = ", ".join(sorted(signatures))
        raise _Mismatch(f"unknown module {node.module!r} (known: {known})")
    if sig.switch is None and node.switch is not None:
        raise _Mismatch(f"{node.module} takes no switch, got {node.switch.value!r}")
    if sig.switch is not None:
        choices = ", ".join(m.value for m in sig.switch)
        if node.switch is None:
            raise _Mismatch(f"{node.module} needs a switch, one of: {choices}")
        if not isinstance(node.switch, sig.switch):
            raise _Mismatch(
                f"{node.module} switch {node.switch.value!r} is not a {sig.switch.__name__} "
                f"(expected one of: {choices})"
            )
    if len(node.args) != len(sig.params):
        raise _Mismatch(
            f"{node.module} takes {len(sig.params)} argument slot(s) "
            f"({sig.render()}), got {len(node.args)}"
        )
    for index, (param, arg) in enumerate(zip(sig.params, node.args)):
        _check_arg(node, index, param, arg)


def _check_arg(node: Node, index: int, param: Param, arg: object) -> None:
    where = f"argument {index} ({param.name}) of {node.label}"
    if param.only_with is not None:
        wanted = node.switch is not None and node.switch.value in param.only_with
        if wanted and arg is None:
            raise _Mismatch(f"{where} is required with this switch")
        if not wanted and arg is not None:
            modes = ", ".join(sorted(param.only_with))
            raise _Mismatch(f"{where} is only allowed with switch {modes}")
    if arg is None:
        if not param.optional:
            raise _Mismatch(f"{where} is missing")
        return
    if param.variadic != isinstance(arg, tuple):
        shape = "a list" if param.variadic else "a single value"
        raise _Mismatch(f"{where} must be {shape}")
    for item in arg if isinstance(arg, tuple) else (arg,):
        if not isinstance(item, (Node, Phrase, VideoInput)):
            raise _Mismatch(f"{where} is not a node, phrase or video: {item!r}")
        if item.type not in param.types:
            accepted = " or ".join(sorted(str(t) for t in param.types))
            shown = item.label if isinstance(item, Node) else repr(item)
            raise _Mismatch(f"{where} must be {accepted}, got {item.type} from {shown}")
