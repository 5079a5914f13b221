"""Serialisations of module trees: prefix tokens, one-line text, indented text and JSON.

- **Prefix tokens** (the program generator's target): each node is one token ``Module`` or
  ``Module[switch]`` followed by its arguments in order; a phrase is its words between ``"``
  tokens; the raw video is ``video``; an empty optional slot is ``_``; a variadic slot is
  bracketed by ``[`` and ``]``. Arity comes from the signatures, so the list is unambiguous and
  :func:`from_tokens` inverts :func:`to_tokens` exactly.
- **Text**: ``Exists("phone", Filter[objects](video))`` on one line (:func:`to_text`,
  :func:`from_text`), or an indented tree with ids and types for reading (:func:`to_pretty`).
- **JSON** (dumps): nested dicts that keep ids, origins and the AGQA source (:func:`to_json`,
  :func:`from_json`).

The readers refuse trees nested deeper than :data:`MAX_TREE_DEPTH` with a :class:`ProgramError`
(a compiled program of the deepest AGQA nesting the parser allows stays well inside it).
"""

from __future__ import annotations

import json
import re
from typing import Any

from stair.programs.errors import ProgramError
from stair.programs.parser import MAX_DEPTH
from stair.programs.signatures import SIGNATURES, Param
from stair.programs.switches import SWITCH_TYPES
from stair.programs.tree import VIDEO, Arg, ModuleTree, Node, Phrase, VideoInput, number
from stair.programs.typecheck import check

QUOTE, NONE, OPEN, CLOSE, VIDEO_TOKEN = '"', "_", "[", "]", "video"
_LABEL = re.compile(r"([A-Za-z]+)(?:\[([a-z ]+)\])?$")
#: the deepest nesting of nodes and lists the readers accept
MAX_TREE_DEPTH = 4 * MAX_DEPTH


def _too_deep(where: str) -> ProgramError:
    return ProgramError(f"{where}: the tree nests deeper than {MAX_TREE_DEPTH} levels")


def _parse_label(label: str, where: str) -> tuple[str, Any]:
    match = _LABEL.match(label)
    if not match or match.group(1) not in SIGNATURES:
        raise ProgramError(f"{where}: expected a module, found {label!r}")
    module, word = match.groups()
    sig = SIGNATURES[module]
    if word is None:
        return module, None
    if sig.switch is None:
        raise ProgramError(f"{where}: {module} takes no switch, found {label!r}")
    try:
        return module, sig.switch.parse(word)
    except ValueError as err:
        raise ProgramError(f"{where}: {err}") from None


# -- prefix tokens ------------------------------------------------------------------------------
def to_tokens(tree: ModuleTree | Node) -> list[str]:
    """Flat prefix tokens of a tree (see the module docstring)."""
    root = tree.root if isinstance(tree, ModuleTree) else tree
    out: list[str] = []

    def emit(arg: Arg) -> None:
        if arg is None:
            out.append(NONE)
        elif isinstance(arg, tuple):
            out.append(OPEN)
            for item in arg:
                emit(item)
            out.append(CLOSE)
        elif isinstance(arg, VideoInput):
            out.append(VIDEO_TOKEN)
        elif isinstance(arg, Phrase):
            words = arg.text.split()
            if not words or QUOTE in words:
                raise ProgramError(f"phrase {arg.text!r} cannot be written as tokens")
            out.extend([QUOTE, *words, QUOTE])
        else:
            out.append(arg.label)
            for child in arg.args:
                emit(child)

    emit(root)
    return out


def from_tokens(tokens: list[str] | str) -> ModuleTree:
    """Rebuild (and type-check) a tree from prefix tokens; errors name the token position."""
    tokens = tokens.split() if isinstance(tokens, str) else list(tokens)
    pos = 0

    def where() -> str:
        return f"token {pos}"

    def take() -> str:
        nonlocal pos
        if pos >= len(tokens):
            raise ProgramError(f"{where()}: unexpected end of tokens")
        pos += 1
        return tokens[pos - 1]

    def read_value(param: Param | None, depth: int = 0) -> Node | Phrase | VideoInput:
        if depth > MAX_TREE_DEPTH:
            raise _too_deep(where())
        tok = take()
        if tok == VIDEO_TOKEN:
            return VIDEO
        if tok == QUOTE:
            start = pos
            while pos < len(tokens) and tokens[pos] != QUOTE:
                take()
            if pos >= len(tokens) or pos == start:
                raise ProgramError(f"token {start - 1}: unterminated or empty phrase")
            words = tokens[start:pos]
            take()
            return Phrase(" ".join(words))
        module, switch = _parse_label(tok, f"token {pos - 1}")
        args = tuple(read_slot(p, depth + 1) for p in SIGNATURES[module].params)
        return Node(module, args, switch)

    def read_slot(param: Param, depth: int) -> Arg:
        if pos < len(tokens) and tokens[pos] == NONE:
            take()
            return None
        if param.variadic:
            if take() != OPEN:
                raise ProgramError(f"token {pos - 1}: expected '[' to open {param.name}")
            items = []
            while pos < len(tokens) and tokens[pos] != CLOSE:
                items.append(read_value(param, depth + 1))
            take()
            return tuple(items)
        return read_value(param, depth)

    root = read_value(None)
    if pos != len(tokens):
        raise ProgramError(f"{where()}: unexpected tokens after the program: {tokens[pos:]}")
    if not isinstance(root, Node):
        raise ProgramError("token 0: a program starts with a module")
    return check(ModuleTree(number(root)))


# -- text ---------------------------------------------------------------------------------------
def _text(arg: Arg) -> str:
    if isinstance(arg, tuple):
        return "[" + ", ".join(_text(a) for a in arg) + "]"
    if isinstance(arg, VideoInput):
        return "video"
    if isinstance(arg, Phrase):
        return json.dumps(arg.text)
    assert isinstance(arg, Node)
    shown = [a for a in arg.args if a is not None]
    return f"{arg.label}(" + ", ".join(_text(a) for a in shown) + ")"


def to_text(tree: ModuleTree | Node) -> str:
    """One line: ``Exists("phone", Filter[objects](Temporal[before](video, ...)))``."""
    return _text(tree.root if isinstance(tree, ModuleTree) else tree)


_TEXT_TOKEN = re.compile(r'\s*(?:("(?:[^"\\]|\\.)*")|([A-Za-z]+(?:\[[a-z ]+\])?)|(.))')


def from_text(text: str) -> ModuleTree:
    """Parse the one-line form of :func:`to_text` (empty optional slots may be left out)."""
    items = [
        (m.end() - len(m.group(0).lstrip()), m.group(1), m.group(2), m.group(3))
        for m in _TEXT_TOKEN.finditer(text)
    ]
    items = [it for it in items if any(it[1:])]
    pos = 0

    def fail(message: str) -> ProgramError:
        at = items[pos][0] if pos < len(items) else len(text)
        return ProgramError(message, position=at, source=text)

    def punct(char: str) -> bool:
        nonlocal pos
        if pos < len(items) and items[pos][3] == char:
            pos += 1
            return True
        return False

    def value(depth: int = 0) -> Arg:
        nonlocal pos
        if depth > MAX_TREE_DEPTH:
            raise fail(f"the tree nests deeper than {MAX_TREE_DEPTH} levels")
        if pos >= len(items):
            raise fail("unexpected end of text")
        _, string, word, other = items[pos]
        if string is not None:
            try:
                text = json.loads(string)
            except json.JSONDecodeError as err:
                raise fail(f"bad string {string}: {err.msg}") from None
            pos += 1
            return Phrase(text)
        if other == "[":
            pos += 1
            seq: list[Any] = []
            while not punct("]"):
                if seq and not punct(","):
                    raise fail("expected ',' or ']'")
                seq.append(value(depth + 1))
            return tuple(seq)
        if word == "video":
            pos += 1
            return VIDEO
        if word is None:
            raise fail(f"unexpected {other!r}")
        module, switch = _parse_label(word, f"position {items[pos][0]}")
        pos += 1
        if not punct("("):
            raise fail(f"expected '(' after {word}")
        args: list[Any] = []
        while not punct(")"):
            if args and not punct(","):
                raise fail("expected ',' or ')'")
            args.append(value(depth + 1))
        params = SIGNATURES[module].params
        if len(args) > len(params):
            raise fail(f"{word} takes at most {len(params)} arguments")
        args += [() if p.variadic else None for p in params[len(args) :]]
        return Node(module, tuple(args), switch)

    root = value()
    if pos != len(items):
        raise fail("unexpected text after the program")
    if not isinstance(root, Node):
        raise ProgramError("a program starts with a module", position=0, source=text)
    return check(ModuleTree(number(root)))


def to_pretty(tree: ModuleTree) -> str:
    """An indented tree with node ids and value types, for reading."""
    lines: list[str] = []

    def visit(arg: Arg, prefix: str, last: bool, top: bool = False) -> None:
        branch = "" if top else ("└─ " if last else "├─ ")
        if isinstance(arg, Node):
            lines.append(f"{prefix}{branch}#{arg.id} {arg.label} -> {arg.type}")
            shown = [a for a in arg.args if a is not None]
            child_prefix = prefix + ("" if top else ("   " if last else "│  "))
            for i, child in enumerate(shown):
                visit(child, child_prefix, i == len(shown) - 1)
        elif isinstance(arg, tuple):
            text = "[] (every action)" if not arg else f"[{len(arg)} candidates]"
            lines.append(f"{prefix}{branch}{text}")
            child_prefix = prefix + ("   " if last else "│  ")
            for i, child in enumerate(arg):
                visit(child, child_prefix, i == len(arg) - 1)
        else:
            lines.append(f"{prefix}{branch}{_text(arg)}")

    visit(tree.root, "", True, top=True)
    return "\n".join(lines)


# -- JSON ---------------------------------------------------------------------------------------
def _arg_json(arg: Arg) -> Any:
    if arg is None:
        return None
    if isinstance(arg, tuple):
        return [_arg_json(a) for a in arg]
    origin = list(arg.origin) if arg.origin is not None else None
    if isinstance(arg, VideoInput):
        return {"input": "video", "origin": origin}
    if isinstance(arg, Phrase):
        return {"phrase": arg.text, "origin": origin}
    return {
        "id": arg.id,
        "module": arg.module,
        "switch": arg.switch.value if arg.switch is not None else None,
        "type": str(arg.type),
        "origin": origin,
        "args": [_arg_json(a) for a in arg.args],
    }


def to_json(tree: ModuleTree) -> dict[str, Any]:
    """A JSON-able dict: ``{"source": ..., "root": {id, module, switch, type, origin, args}}``."""
    return {"source": tree.source, "root": _arg_json(tree.root)}


def from_json(data: dict[str, Any] | str) -> ModuleTree:
    """Inverse of :func:`to_json` (accepts the dict or its JSON text); type-checks the result."""
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as err:
            raise ProgramError(f"a tree in JSON: invalid JSON ({err.msg})") from None
        except RecursionError:
            raise _too_deep("a tree in JSON") from None

    def arg(obj: Any, where: str, depth: int = 0) -> Arg:
        if depth > MAX_TREE_DEPTH:
            raise _too_deep("root")
        if obj is None:
            return None
        if isinstance(obj, list):
            return tuple(arg(o, f"{where}[{i}]", depth + 1) for i, o in enumerate(obj))
        if not isinstance(obj, dict):
            raise ProgramError(f"{where}: expected an object, got {obj!r}")
        origin = tuple(obj["origin"]) if obj.get("origin") is not None else None
        if obj.get("input") == "video":
            return VideoInput(origin=origin)
        if "phrase" in obj:
            return Phrase(obj["phrase"], origin=origin)
        if obj.get("module") not in SIGNATURES:
            raise ProgramError(f"{where}: unknown module {obj.get('module')!r}")
        sig = SIGNATURES[obj["module"]]
        switch = None
        if obj.get("switch") is not None:
            kind = sig.switch or SWITCH_TYPES["Category"]
            try:
                switch = kind.parse(obj["switch"])
            except ValueError as err:
                raise ProgramError(f"{where}: {err}") from None
        args = tuple(arg(a, f"{where}/{i}", depth + 1) for i, a in enumerate(obj.get("args", [])))
        return Node(obj["module"], args, switch, origin=origin)

    if not isinstance(data, dict) or "root" not in data:
        raise ProgramError("a tree in JSON is an object with a 'root'")
    root = arg(data["root"], "root")
    if not isinstance(root, Node):
        raise ProgramError("root: expected a module node")
    return check(ModuleTree(number(root), data.get("source")))
