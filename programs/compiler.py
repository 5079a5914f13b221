"""Compile AGQA programs (higher-order, nested calls) into first-order module trees.

The rewrites follow DESIGN.md section 6:

- ``Iterate(T, Filter(frame, [category, R?]))`` -> ``Filter[category](T', R?)``
- time expressions: ``video`` -> the raw video; ``Localize(mode, A)`` ->
  ``Temporal[mode](video, Localize(video, A))``; ``Localize(between, [A1, A2])`` ->
  ``Temporal[between](video, Localize(video, A1), Localize(video, A2))``
- ``Query(class, OnlyItem(X))`` -> ``X``; ``OnlyItem`` vanishes
- ``IterateUntil(dir, T, cond, Filter(frame, Q))`` ->
  ``Filter(AttnVideo(T', Relate[dir](cond')), Q)``, where in ``cond'`` the per-frame tests become
  frame modules (``Exists`` -> ``ExistsFrame``, ``Filter`` -> ``FilterFrame``, ``XOR``/``AND`` ->
  ``XorFrame``/``AndFrame``, ``HasItem`` over frames)
- ``Superlative(m, [F1, F2], Subtract(...))`` -> ``Superlative[m](video, F1, F2)``; over every
  action (``Filter(video, [actions])`` or ``Iterate(T, Filter(frame, [actions]))``) the candidate
  list is empty, meaning every action in the (focused) video
- ``Compare([before, after], X(temporal tag))`` -> ``Compare(X[before], X[after])``
- ``AND``/``XOR``/``OR``/``NOT`` -> ``And``/``Xor``/``Or``/``Not``; ``Equals``, ``Choose``,
  ``Exists``, ``ToAction`` map to their modules
- ``Filter(T, R)`` (a time expression and a relation phrase) -> ``Filter[objects](T', R)``
- counting (STAIR's extension of AGQA): ``Count(A)`` and ``Count(A, T)`` ("how many times did
  they A [before/after/while ...]") -> ``Count(Localize(T', A))``

A ``Filter`` list reads ``[category, phrase?, category?]``: the last category keyword is what is
selected, and the phrase (or an indirect reference, a nested call) narrows it:
``[relations, holding, objects]`` = objects they were holding, ``[objects, cup, relations]`` =
relations with the cup, ``[actions, A]`` = the action A.
"""

from __future__ import annotations

from collections.abc import Callable

from stair.programs.ast import Atom, Call, Expr, ListArg
from stair.programs.errors import ProgramError
from stair.programs.parser import parse
from stair.programs.signatures import VType
from stair.programs.switches import Category, Direction, Extreme, Switch, TemporalMode
from stair.programs.tree import VIDEO, ModuleTree, Node, Phrase, VideoInput, number
from stair.programs.typecheck import check

_CATEGORY_WORDS = {"objects", "relations", "relation", "actions", "action"}
_ROOT_TYPES = {VType.BOOL, VType.CONCEPT, VType.COUNT}

Result = Node | Phrase | VideoInput


class _Compiler:
    def __init__(self, source: str) -> None:
        self.source = source
        self.temporal_tag: TemporalMode | None = None  # set while expanding Compare
        self.handlers: dict[str, Callable[[Call], Result]] = {
            "Exists": self.exists, "AND": self.logic, "XOR": self.logic, "OR": self.logic,
            "NOT": self.logic, "Equals": self.equals, "Choose": self.choose,
            "Query": self.query, "OnlyItem": self.only_item, "Iterate": self.iterate,
            "IterateUntil": self.iterate_until, "Filter": self.filter_call,
            "Superlative": self.superlative, "ToAction": self.to_action,
            "Compare": self.compare, "Count": self.count,
        }  # fmt: skip

    # -- helpers ------------------------------------------------------------------------------
    def error(self, message: str, expr: Expr) -> ProgramError:
        return ProgramError(message, position=expr.start, source=self.source)

    def node(self, module: str, args: tuple, expr: Expr, switch: Switch | None = None) -> Node:
        return Node(module, args, switch, origin=(expr.start, expr.end))

    def arity(self, call: Call, *counts: int) -> None:
        if len(call.args) not in counts:
            wanted = " or ".join(str(c) for c in counts)
            raise self.error(f"{call.name} takes {wanted} argument(s), got {len(call.args)}", call)

    def switch(self, kind: type[Switch], expr: Expr, what: str) -> Switch:
        if not isinstance(expr, Atom):
            raise self.error(f"expected {what}, found a {type(expr).__name__}", expr)
        word = expr.text
        if word == "temporal tag" and kind is TemporalMode:
            if self.temporal_tag is None:
                raise self.error("'temporal tag' may only appear inside Compare(...)", expr)
            return self.temporal_tag
        try:
            return kind.parse(word)
        except ValueError as err:
            raise self.error(f"expected {what}: {err}", expr) from None

    # -- contexts -----------------------------------------------------------------------------
    def expr(self, expr: Expr, expected: set[VType], what: str) -> Result:
        """Compile ``expr`` where a value of one of the ``expected`` types is needed."""
        if isinstance(expr, ListArg):
            raise self.error(f"expected {what}, found a [list]", expr)
        if isinstance(expr, Atom):
            if VType.TEXT in expected and not expr.is_keyword:
                return Phrase(expr.text, origin=(expr.start, expr.end))
            if VType.VIDEO in expected and expr.text == "video":
                return VideoInput(origin=(expr.start, expr.end))
            kind = "keyword" if expr.is_keyword else "phrase"
            raise self.error(f"expected {what}, found the {kind} {expr.text!r}", expr)
        handler = self.handlers.get(expr.name)
        if handler is None:
            if expr.name in {"Localize", "HasItem", "Subtract"}:
                raise self.error(f"{expr.name}(...) cannot stand here: expected {what}", expr)
            known = ", ".join(sorted({*self.handlers, "Localize", "HasItem", "Subtract"}))
            raise self.error(f"unknown function {expr.name!r} (known: {known})", expr)
        result = handler(expr)
        if result.type not in expected:
            raise self.error(f"expected {what}, but {expr.name}(...) gives {result.type}", expr)
        return result

    def item(self, expr: Expr) -> Result:
        """A phrase or an indirect reference (a call that yields a concept)."""
        return self.expr(expr, {VType.TEXT, VType.CONCEPT}, "a phrase or a concept")

    def concept(self, expr: Expr) -> Result:
        return self.expr(expr, {VType.CONCEPT}, "a concept expression")

    def boolean(self, expr: Expr) -> Result:
        return self.expr(expr, {VType.BOOL}, "a yes/no expression")

    def time(self, expr: Expr) -> Node | VideoInput:
        """A time expression: ``video`` or ``Localize(mode, A | [A1, A2])``."""
        if isinstance(expr, Atom) and expr.text == "video":
            return VideoInput(origin=(expr.start, expr.end))
        if not (isinstance(expr, Call) and expr.name == "Localize"):
            raise self.error("expected a time expression: video or Localize(mode, action)", expr)
        self.arity(expr, 2)
        mode = self.switch(TemporalMode, expr.args[0], "a temporal mode")
        target = expr.args[1]
        if mode is TemporalMode.BETWEEN:
            if not (isinstance(target, ListArg) and len(target.items) == 2):
                raise self.error("Localize(between, ...) needs a list of two actions", target)
            first, second = (self.localize(a) for a in target.items)
            return self.node("Temporal", (VIDEO, first, second), expr, mode)
        if isinstance(target, ListArg):
            raise self.error(f"Localize({mode.value}, ...) takes one action, not a list", target)
        return self.node("Temporal", (VIDEO, self.localize(target), None), expr, mode)

    def localize(self, expr: Expr) -> Node:
        return self.node("Localize", (VIDEO, self.item(expr)), expr)

    def filter_list(
        self, expr: Expr, video: Node | VideoInput, module: str, origin: Expr | None = None
    ) -> Node:
        """``[category, phrase?, category?]`` over ``video`` -> Filter or FilterFrame."""
        if not isinstance(expr, ListArg):
            raise self.error("expected a Filter list such as [relations, holding, objects]", expr)
        category: Category | None = None
        text: Result | None = None
        for item in expr.items:
            if isinstance(item, Atom) and item.text in _CATEGORY_WORDS:
                category = Category.parse(item.text)  # type: ignore[assignment]
            elif text is None:
                text = self.item(item)
            else:
                raise self.error("a Filter list names at most one phrase or reference", item)
        if category is None:
            raise self.error("a Filter list needs a category: objects, relations or actions", expr)
        return self.node(module, (video, text), origin or expr, category)

    def frame_filter(
        self, expr: Expr, video: Node | VideoInput, module: str, origin: Expr | None = None
    ) -> Node:
        if not (isinstance(expr, Call) and expr.name == "Filter"):
            raise self.error("expected Filter(frame, [...])", expr)
        self.arity(expr, 2)
        return self.filter_list(expr.args[1], video, module, origin or expr)

    def condition(self, expr: Expr, video: Node | VideoInput) -> Node:
        """A per-frame condition inside IterateUntil, compiled to frame-wise modules."""
        if isinstance(expr, Call) and expr.name == "Exists":
            self.arity(expr, 2)
            frames = self.frame_filter(expr.args[1], video, "FilterFrame")
            return self.node("ExistsFrame", (self.item(expr.args[0]), frames), expr)
        if isinstance(expr, Call) and expr.name == "HasItem":
            self.arity(expr, 1)
            frames = self.frame_filter(expr.args[0], video, "FilterFrame")
            return self.node("HasItem", (frames,), expr)
        if isinstance(expr, Call) and expr.name in {"XOR", "AND"}:
            self.arity(expr, 2)
            module = "XorFrame" if expr.name == "XOR" else "AndFrame"
            parts = tuple(self.condition(a, video) for a in expr.args)
            return self.node(module, parts, expr)
        raise self.error(
            "expected a per-frame condition: Exists(x, Filter(frame, [...])), "
            "HasItem(Filter(frame, [...])), XOR(...) or AND(...)",
            expr,
        )

    # -- handlers, one per AGQA function ------------------------------------------------------
    def exists(self, call: Call) -> Node:
        self.arity(call, 2)
        return self.node("Exists", (self.item(call.args[0]), self.concept(call.args[1])), call)

    def logic(self, call: Call) -> Node:
        module = {"AND": "And", "XOR": "Xor", "OR": "Or", "NOT": "Not"}[call.name]
        self.arity(call, 1 if module == "Not" else 2)
        return self.node(module, tuple(self.boolean(a) for a in call.args), call)

    def equals(self, call: Call) -> Node:
        self.arity(call, 2)
        return self.node("Equals", tuple(self.item(a) for a in call.args), call)

    def choose(self, call: Call) -> Node:
        self.arity(call, 3)
        a, b, value = call.args
        return self.node("Choose", (self.item(a), self.item(b), self.concept(value)), call)

    def query(self, call: Call) -> Result:
        self.arity(call, 2)
        kind = call.args[0]
        if not (isinstance(kind, Atom) and kind.text == "class"):
            raise self.error(
                "expected Query(class, ...); Query(start|end, ...) only appears inside "
                "Superlative's Subtract",
                kind,
            )
        return self.concept(call.args[1])

    def only_item(self, call: Call) -> Result:
        self.arity(call, 1)
        return self.concept(call.args[0])

    def iterate(self, call: Call) -> Node:
        self.arity(call, 2)
        return self.frame_filter(call.args[1], self.time(call.args[0]), "Filter", call)

    def filter_call(self, call: Call) -> Node:
        """``Filter(video|frame|T, [...])`` outside Iterate; ``Filter(T, R)`` = objects they R."""
        self.arity(call, 2)
        scope, what = call.args
        if isinstance(scope, Atom) and scope.text in {"video", "frame"}:
            span: Node | VideoInput = VIDEO
        elif isinstance(scope, Call) and scope.name == "Localize":
            span = self.time(scope)
        else:
            raise self.error("expected Filter(video|frame|Localize(...), [...])", scope)
        if isinstance(what, ListArg):
            return self.filter_list(what, span, "Filter")
        return self.node("Filter", (span, self.item(what)), call, Category.OBJECTS)

    def iterate_until(self, call: Call) -> Node:
        self.arity(call, 4)
        direction = self.switch(Direction, call.args[0], "forward or backward")
        span = self.time(call.args[1])
        cond = self.condition(call.args[2], span)
        relate = self.node("Relate", (cond,), call.args[2], direction)
        focused = self.node("AttnVideo", (span, relate), call)
        return self.frame_filter(call.args[3], focused, "Filter", call)

    def superlative(self, call: Call) -> Node:
        self.arity(call, 3)
        extreme = self.switch(Extreme, call.args[0], "max or min")
        cands, measure = call.args[1], call.args[2]
        if not (isinstance(measure, Call) and measure.name == "Subtract"):
            raise self.error(
                "expected the duration Subtract(Query(end, action), Query(start, action))", measure
            )
        if isinstance(cands, ListArg):
            items = tuple(self.item(c) for c in cands.items)
            return self.node("Superlative", (VIDEO, items), call, extreme)
        every = self.concept(cands)
        if not (
            isinstance(every, Node)
            and every.module == "Filter"
            and every.switch is Category.ACTIONS
            and every.args[1] is None
        ):
            raise self.error(
                "Superlative candidates must be a [list] or every action "
                "(Filter(video, [actions]) or Iterate(T, Filter(frame, [actions])))",
                cands,
            )
        return self.node("Superlative", (every.args[0], ()), call, extreme)

    def to_action(self, call: Call) -> Node:
        self.arity(call, 2)
        return self.node("ToAction", (self.item(call.args[0]), self.item(call.args[1])), call)

    def compare(self, call: Call) -> Node:
        self.arity(call, 2)
        modes_expr, body = call.args
        if not (isinstance(modes_expr, ListArg) and len(modes_expr.items) == 2):
            raise self.error("Compare needs a list of two modes, e.g. [before, after]", modes_expr)
        modes = [self.switch(TemporalMode, m, "before or after") for m in modes_expr.items]
        if set(modes) != {TemporalMode.BEFORE, TemporalMode.AFTER}:
            raise self.error("Compare compares [before, after]", modes_expr)
        outer = self.temporal_tag
        values = {}
        for mode in modes:
            self.temporal_tag = mode
            values[mode] = self.boolean(body)
        self.temporal_tag = outer
        return self.node("Compare", (values[TemporalMode.BEFORE], values[TemporalMode.AFTER]), call)

    def count(self, call: Call) -> Node:
        self.arity(call, 1, 2)
        span = self.time(call.args[1]) if len(call.args) == 2 else VIDEO
        frames = self.node("Localize", (span, self.item(call.args[0])), call.args[0])
        return self.node("Count", (frames,), call)


def compile_program(program: str | Call, source: str | None = None) -> ModuleTree:
    """Compile an AGQA program (string or parsed :class:`Call`) into a checked module tree."""
    if isinstance(program, str):
        source, ast = program, parse(program)
    else:
        ast = program
    compiler = _Compiler(source or "")
    root = compiler.expr(ast, _ROOT_TYPES, "a question (yes/no, concept or count)")
    assert isinstance(root, Node)
    return check(ModuleTree(number(root), source))
