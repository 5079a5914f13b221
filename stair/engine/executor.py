"""The batched executor: every node of every question of a batch, one module call per group.

:func:`execute` runs a :class:`~stair.engine.plan.Plan` (the groups of nodes and the gathers
of their arguments, built with the batch): groups in order of height, each as ONE call of its
module on the gathered rows, its output kept whole as a chunk that later groups gather from
(DESIGN.md section 8). The result is a :class:`Trace`: every node's value, a row of its group's
output. The one path there is: a single question is a batch of one.

Inputs: the phrase embeddings ``text [P, D]`` (row of each phrase occurrence:
:class:`~stair.engine.plan.TextIndex`), the encoded videos ``video`` (``[NV, T, D]``, each
encoded once even when several questions share it) with the video row of each tree, the concept
bank (for ``Superlative`` over every action) and the modules (``nn.ModuleDict`` name ->
module, e.g. :func:`stair.modules.build_modules`).
Where the plan gives a module slot's phrases their union, the first group that projects them
projects the whole union (:class:`_Context`, :attr:`Text.projections`).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from stair.engine.gathers import Gather, Span
from stair.engine.plan import Group, Plan
from stair.modules.registry import context_of
from stair.programs.signatures import SIGNATURES, VType
from stair.programs.switches import Switch
from stair.values import VALUE_TYPES, ExecutionError, Text, Value, Video


class Trace:
    """Every node's value for a batch: one output per group, each node a row of one of them.

    ``value(tree, node)`` is a node's value (a one-row view); ``values_of(tree)`` all of one
    question's; ``roots(vtype)`` the root values of every question whose answer has that type,
    batched, with their tree indices. ``groups()`` pairs each :class:`Group` with its output, so
    that intermediate losses can be computed per group, batched.
    """

    def __init__(self, plan: Plan, store: dict[VType, list[Value]], outputs: list[Value]):
        self.plan, self._store, self.outputs = plan, store, outputs

    def __len__(self) -> int:
        return len(self.plan.trees)

    def value(self, tree: int, node: int) -> Value:
        g, row = self.plan.where[(tree, node)]
        return self.outputs[g].narrow(row, 1)

    def values_of(self, tree: int) -> dict[int, Value]:
        return {n.id: self.value(tree, n.id) for n in self.plan.trees[tree].nodes}

    def root(self, tree: int) -> Value:
        return self.value(tree, 0)

    def roots(self, vtype: VType) -> tuple[Tensor, Value] | None:
        """``(tree indices [R], values with R rows)`` of the roots of type ``vtype``, or None."""
        if vtype not in self.plan.roots:
            return None
        trees, gather = self.plan.roots[vtype]
        return trees, gather.fetch(self._store)

    def groups(self) -> list[tuple[Group, Value]]:
        return list(zip(self.plan.groups, self.outputs))


@functools.cache
def _context_names(cls: type[nn.Module]) -> tuple[str, ...]:
    return context_of(cls)


class _Context:
    """What modules may ask for besides their arguments, computed at most once per batch.

    Also the batch-wide projections of phrases: ``layer`` over the union of a module slot's
    phrase rows, computed when the first group asks (:attr:`Text.projections`).
    """

    def __init__(self, bank: nn.Module | None, text: Tensor, concepts: Tensor | None) -> None:
        self.bank, self._actions, self._embeddings = bank, None, None
        self.text, self.concepts = text, concepts
        self._projected: dict[tuple[Span, nn.Module], Tensor] = {}

    def phrases(self, gather: Gather, value: Text) -> Text:
        """``value`` (the gathered phrases) with the projections of ``gather``'s union."""

        def projections(layer: nn.Module) -> Tensor:
            key = (gather.union_at, layer)
            if key not in self._projected:
                self._projected[key] = layer(self.text.index_select(0, gather.union))
            return self._projected[key].narrow(0, gather.offset, len(value))

        return Text(value.vector, projections)

    def get(self, name: str) -> Any:
        if name == "concepts":
            return self.concepts
        if name == "bank":
            if self.bank is None:
                return None
            if self._embeddings is None:
                self._embeddings = self.bank.embeddings
            return self._embeddings
        if name == "actions":
            if self.bank is None:
                return None
            if self._actions is None:
                self._actions = self.bank.actions()
            return self._actions
        raise ExecutionError(f"a module asks for an unknown context {name!r}")


def _call(module: nn.Module, switch: Switch | None, args: list[Any], ctx: _Context) -> Value:
    kwargs = {name: ctx.get(name) for name in _context_names(type(module))}
    return module(switch, *args, **kwargs) if switch is not None else module(*args, **kwargs)


def _fetch(store: dict[VType, list[Value]], arg: Any, ctx: _Context) -> Any:
    """A group argument from the chunks: a value, a tuple of values (variadic) or None."""
    if arg is None:
        return None
    if isinstance(arg, tuple):
        return tuple(_fetch(store, a, ctx) for a in arg)
    value = arg.fetch(store)
    if isinstance(arg, Gather) and arg.union is not None:
        return ctx.phrases(arg, value)
    return value


def execute(
    plan: Plan,
    modules: Mapping[str, nn.Module],
    text: Tensor,
    video: Video,
    bank: nn.Module | None = None,
    concepts: Tensor | None = None,
) -> Trace:
    """Run every node of the plan's trees, one module call per group; see the module docstring.

    ``text [P, D]``: the phrase embeddings, row ``r`` for ``plan.text_index.texts[r]``;
    ``video``: the encoded videos, row ``plan``'s ``video_index[b]`` for tree ``b``; ``bank``:
    a :class:`~stair.modules.ConceptBank` (needed by ``Superlative`` over every action);
    ``concepts [V, D]``: every bank concept's name encoded as a phrase (the ``concepts``
    context: ``Exists`` reads every concept with it in training, ``ToAction`` names its action
    with it), or None.
    """
    if text.shape[0] < len(plan.text_index):
        raise ExecutionError(f"{text.shape[0]} phrase rows for {len(plan.text_index)} phrases")
    if len(video) < plan.num_videos:
        raise ExecutionError(f"{len(video)} videos, but the plan reads row {plan.num_videos - 1}")
    store: dict[VType, list[Value]] = {VType.TEXT: [Text(text)], VType.VIDEO: [video]}
    ctx = _Context(bank, text, concepts)
    outputs: list[Value] = []
    for group in plan.groups:
        args = [_fetch(store, a, ctx) for a in group.args]
        out = _call(modules[group.module], group.switch, args, ctx)
        returns = SIGNATURES[group.module].returns
        if not isinstance(out, VALUE_TYPES[returns]) or len(out) != len(group.nodes):
            raise ExecutionError(
                f"{group.module} returned {type(out).__name__} with {len(out)} rows, "
                f"expected {returns} with {len(group.nodes)}"
            )
        store.setdefault(returns, []).append(out)
        outputs.append(out)
    return Trace(plan, store, outputs)
