"""The symbolic executor: run a module tree on a scene graph, exactly.

:func:`evaluate` applies every node's operation (:mod:`.operations`) to its arguments' values,
children first, and gives the answer and a typed gold value for every node; these golds
supervise the neural modules and are the ground truth of audits. Where a question has no single
answer the issues say why and ``answer`` is ``None``; generators keep only well-posed questions.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from stair.programs.scene_graph import SceneGraph
from stair.programs.signatures import OPERATIONS, SIGNATURES, AnswerAs, context_of
from stair.programs.symbolic.context import Report, Scene
from stair.programs.symbolic.values import SymBool, SymConcept, SymCount, SymValue
from stair.programs.tree import Arg, ModuleTree, Node, VideoInput


@dataclass
class SymbolicResult:
    """Every node's value (by node id), the answer word (or None) and the issues found."""

    values: dict[int, SymValue]
    answer: str | None
    issues: list[str] = field(default_factory=list)

    def golds_json(self) -> dict[str, dict[str, Any]]:
        """Node id (as a string key) -> JSON gold, for dataset files."""
        return {str(i): v.to_json() for i, v in sorted(self.values.items())}


@functools.cache
def _plan(module: str) -> tuple[Callable[..., SymValue], tuple[str, ...], tuple[str, ...]]:
    """A module's operation, the names of its argument slots and the context it asks for."""
    function = OPERATIONS[module]
    return function, tuple(p.name for p in SIGNATURES[module].params), context_of(function)


class _Run:
    """One evaluation: the values so far, the issues, and the context operations ask for.

    A subtree's value depends only on the subtree (nodes compare by module, switch and arguments,
    not by id), so the scene keeps the value of every subtree evaluated without issues
    (``Scene.memo``): the programs asked of one video share most of their subtrees. A subtree
    with an issue is evaluated again, so that every issue is reported under its path in this tree.
    """

    def __init__(self, tree: ModuleTree, scene: Scene) -> None:
        self.tree = tree
        self.scene = scene
        self.values: dict[int, SymValue] = {}
        self.issues: list[str] = []

    def value(self, arg: Arg) -> Any:
        """What an operation receives for an argument: a child's value, a phrase, a tuple."""
        if isinstance(arg, tuple):
            return tuple(self.value(a) for a in arg)
        if isinstance(arg, Node):
            return self.run(arg)
        if isinstance(arg, VideoInput):
            return self.scene.whole
        return arg  # a Phrase, or None for an empty optional slot

    def _recall(self, node: Node) -> SymValue | None:
        """The remembered value of ``node``'s subtree, its nodes' values set; None if unknown."""
        value = self.scene.memo.get(node)
        if value is None:
            return None
        self.values[node.id] = value
        for child in node.children():
            self.run(child)  # remembered too, unless it was evaluated elsewhere with an issue
        return value

    def run(self, node: Node) -> SymValue:
        if (known := self._recall(node)) is not None:
            return known
        function, names, wanted = _plan(node.module)
        issues = len(self.issues)
        args = {name: self.value(a) for name, a in zip(names, node.args)}
        if node.switch is not None:
            args["switch"] = node.switch
        for name in wanted:
            if name == "scene":
                args[name] = self.scene
            elif name == "node":
                args[name] = node
            else:
                args[name] = Report(self.tree, node, self.issues)
        value = function(**args)
        self.values[node.id] = value
        if len(self.issues) == issues:
            self.scene.memo[node] = value
        return value


def answer_of(tree: ModuleTree, values: dict[int, SymValue]) -> tuple[str | None, str | None]:
    """The answer word of a tree given its node values, or ``(None, why)`` if there is none.

    The root module's ``answer_as`` says how to read it: ``before``/``after`` for a Bool that
    compares, otherwise the value itself (yes/no, a number, the one concept of a set; a chosen
    option is the one concept the choice gives).
    """
    root = values[0]
    if tree.root.signature.answer_as is AnswerAs.BEFORE_AFTER:
        return ("before" if root.value else "after"), None  # type: ignore[union-attr]
    if isinstance(root, SymBool):
        return ("yes" if root.value else "no"), None
    if isinstance(root, SymCount):
        return str(root.value), None
    if isinstance(root, SymConcept):
        if len(root.items) == 1:
            return next(iter(root.items)), None
        return None, f"the answer has {len(root.items)} items: {sorted(root.items)}"
    return None, f"a {root.vtype} root has no answer"


def evaluate(tree: ModuleTree, graph: SceneGraph | Scene) -> SymbolicResult:
    """Run ``tree`` on ``graph``: every node's gold value, the answer and any issues.

    Many programs run on one video pass its :class:`Scene` (``Scene(graph)``), read once.

    A before/after answer is read off the root alone, so it is kept only when no node of the
    tree has an issue (both or neither fact holding, an empty window, ...).
    """
    run = _Run(tree, graph if isinstance(graph, Scene) else Scene(graph))
    run.run(tree.root)
    answer, why = answer_of(tree, run.values)
    issues = run.issues + ([f"{tree.root.label}: {why}"] if why else [])
    if tree.root.signature.answer_as is AnswerAs.BEFORE_AFTER and issues:
        answer = None
    return SymbolicResult(run.values, answer, issues)
