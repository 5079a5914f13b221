"""The batched executor: every node of every question of a batch, one module call per group.

Nodes of all trees are grouped by (height in their tree, module, switch, kinds of their
arguments); groups run in order of height, each as ONE call of its module on the gathered batch
(DESIGN.md section 8). A group's output is kept whole as a *chunk*; a node's value is a row of a
chunk, so "scattering back" costs nothing, and a later group gathers its inputs from the chunks
with index tensors computed once per batch by :class:`Plan` (a contiguous run of rows is a view).
The plan is bookkeeping over the trees only, so the data pipeline builds it with the batch (in
the loader's workers); its index tensors are views of one buffer, moved to a device at once.

Phrase arguments are the one input every group could read from the start. Where several groups
of a module read phrases in the same slot, the plan gives them the union of their rows, and a
phrase-side layer of the module (``project(self.query, action)``) runs once over that union,
each group reading its rows of the result: one weight read and one larger matmul instead of
one per group (:attr:`Text.projections`).

Inputs: the phrase embeddings ``text [P, D]`` (row of each phrase occurrence: :class:`TextIndex`),
the encoded videos ``video`` (``[NV, T, D]``, each encoded once even when several questions share
it) with the video row of each tree, the concept bank (for ``Superlative`` over every action)
and the modules (``nn.ModuleDict`` name -> module, e.g. :func:`stair.modules.build_modules`).
Modules that only refocus a video (``keeps_features``) never have their features copied: the
plan points their output at the features they came from.

:func:`execute_single` is a plain recursive per-question interpreter, for tests and benchmarks.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import Tensor, nn

from stair.modules.registry import MODULES, context_of
from stair.programs.signatures import SIGNATURES, VType
from stair.programs.switches import Switch
from stair.programs.tree import ModuleTree, Node, Phrase, VideoInput
from stair.values import VALUE_TYPES, ExecutionError, Text, Value, Video, tensor_fields

Address = tuple[int, int]  # (chunk, row) in the chunk list of one value type


class TextIndex:
    """Which row of the phrase embeddings ``[P, D]`` each phrase occurrence of a batch reads.

    Built from the trees: row ``r`` holds the phrase ``texts[r]`` of question ``tree_of[r]``.
    With ``share`` (default) all occurrences of one phrase in one question share a row (a
    ``between`` anchor repeated inside a first/last condition is encoded once); the model fills
    the rows, e.g. by pooling the phrase's span in its question.
    """

    def __init__(self, trees: Sequence[ModuleTree], share: bool = True) -> None:
        self.texts: list[str] = []
        self.tree_of: list[int] = []
        self._rows: list[dict[tuple[int, int, int], int]] = []  # per tree: occurrence -> row
        seen: dict[tuple[int, str], int] = {}
        for b, tree in enumerate(trees):
            self._rows.append({})
            for node in tree.nodes:
                for slot, arg in enumerate(node.args):
                    items = arg if isinstance(arg, tuple) else (arg,)
                    for item, leaf in enumerate(items):
                        if not isinstance(leaf, Phrase):
                            continue
                        key = (b, leaf.text)
                        if not share or key not in seen:
                            seen[key] = len(self.texts)
                            self.texts.append(leaf.text)
                            self.tree_of.append(b)
                        self._rows[b][(node.id, slot, item)] = seen[key]

    def __len__(self) -> int:
        return len(self.texts)

    def row(self, tree: int, node: int, slot: int, item: int = 0) -> int:
        """The row of the phrase in ``slot`` (``item`` within a variadic slot) of a node."""
        return self._rows[tree][(node, slot, item)]

    def rows_for(self, tree: int) -> dict[tuple[int, int, int], int]:
        """``(node id, slot, item) -> row`` for every phrase occurrence of one question."""
        return dict(self._rows[tree])


# -- the plan ------------------------------------------------------------------------------------
Span = tuple[int, int]  # (start, length) in a plan's index buffer


class _Indices:
    """Collects a plan's index lists into one flat list: one tensor, one transfer to a device."""

    def __init__(self) -> None:
        self.values: list[int] = []

    def add(self, rows: Sequence[int]) -> Span:
        start = len(self.values)
        self.values.extend(rows)
        return start, len(rows)


@dataclass(frozen=True)
class Gather:
    """How to collect one argument of a group: rows of one or several chunks of a value type.

    ``rows`` (and a phrase gather's ``union``) are views of the plan's index buffer at
    ``rows_at`` (``union_at``) (:meth:`bind`), so that moving a plan to a device moves one
    tensor. Rows from several chunks index their concatenation, computed when the plan is built.
    """

    vtype: VType
    chunks: tuple[int, ...]
    start: int = 0  # one chunk, a contiguous run of rows: a view, no copy
    length: int = 0
    rows_at: Span | None = None  # else these rows (of the chunks concatenated, if ``several``)
    several: bool = False
    rows: Tensor | None = None
    # phrases (Text): all rows that this module slot reads in the batch, and ours among them
    union_at: Span | None = None
    offset: int = 0
    union: Tensor | None = None

    @staticmethod
    def of(
        vtype: VType, addresses: Sequence[Address], indices: _Indices, sizes: Mapping[int, int]
    ) -> Gather:
        """``sizes``: the rows of each computed chunk (chunk 0, the inputs, may be any size)."""
        # several chunks are concatenated with chunk 0 last, so every offset is known here
        chunks = tuple(sorted({c for c, _ in addresses}, key=lambda c: (c == 0, c)))
        rows = [r for _, r in addresses]
        if len(chunks) == 1:
            if rows == list(range(rows[0], rows[0] + len(rows))):
                return Gather(vtype, chunks, rows[0], len(rows))
            return Gather(vtype, chunks, rows_at=indices.add(rows))
        offsets, total = {}, 0
        for c in chunks:
            offsets[c] = total
            total += sizes.get(c, 0)
        flat = [offsets[c] + r for c, r in addresses]
        return Gather(vtype, chunks, rows_at=indices.add(flat), several=True)

    def bind(self, index: Tensor) -> Gather:
        """The gather with its row tensors as views of ``index`` (the plan's buffer)."""
        views = {
            name: index.narrow(0, *at)
            for name, at in (("rows", self.rows_at), ("union", self.union_at))
            if at is not None
        }  # fmt: skip
        return replace(self, **views) if views else self

    def take(self, store: Mapping[VType, list[Value]], name: str) -> Tensor | None:
        """The gathered rows of one field (``"weights"``, ``"vector"``, ...) of the chunks."""
        parts = [getattr(store[self.vtype][c], name) for c in self.chunks]
        if any(p is None for p in parts):
            return None
        if self.several:
            return torch.cat(parts).index_select(0, self.rows)
        if self.rows is not None:
            return parts[0].index_select(0, self.rows)
        if self.start == 0 and self.length == len(parts[0]):
            return parts[0]
        return parts[0].narrow(0, self.start, self.length)

    def fetch(self, store: Mapping[VType, list[Value]]) -> Value:
        """The gathered rows as a value of the gather's type."""
        cls = VALUE_TYPES[self.vtype]
        return cls(**{name: self.take(store, name) for name in tensor_fields(cls)})


@dataclass(frozen=True)
class VideoGather:
    """A Video argument: its window and its features may come from different chunks.

    ``Temporal`` and ``AttnVideo`` keep their input's features, so ``features`` points where
    those were computed (the encoded videos, or a ``FilterFrame``) and only windows are copied.
    """

    window: Gather
    features: Gather

    def bind(self, index: Tensor) -> VideoGather:
        return VideoGather(self.window.bind(index), self.features.bind(index))

    def fetch(self, store: Mapping[VType, list[Value]]) -> Video:
        feats, mask = self.features.take(store, "features"), self.features.take(store, "mask")
        return Video(feats, self.window.take(store, "weights"), mask)  # type: ignore[arg-type]


def _bind(arg: Any, index: Tensor) -> Any:
    """A group argument (None, a gather or a tuple of them) bound to an index buffer."""
    if arg is None:
        return None
    if isinstance(arg, tuple):
        return tuple(a.bind(index) for a in arg)
    return arg.bind(index)


@dataclass
class Group:
    """One module call: the nodes it computes and where each argument comes from."""

    height: int
    module: str
    switch: Switch | None
    trees: list[int]
    nodes: list[int]
    args: list[Any] = field(default_factory=list)  # per slot: None, a gather or a tuple of them
    chunk: int = -1  # the output's chunk in its type's list
    trees_at: Span = (0, 0)  # where ``trees`` lie in the plan's index buffer
    tree_index: Tensor | None = None  # [G] long, the tree of each row (a view of the buffer)


class Plan:
    """Groups, gathers and output addresses for one batch of trees (built once per batch).

    ``video_index[b]`` is the row of tree ``b``'s video in the encoded videos; ``text_index``
    defaults to ``TextIndex(trees)``. A plan is pure bookkeeping over the trees, so the data
    pipeline builds it with the batch (:class:`~stair.data.batch.QABatch`, in the loader's
    workers); its index tensors are views of one buffer on ``device``, moved by :meth:`to`.
    """

    def __init__(
        self,
        trees: Sequence[ModuleTree],
        video_index: Sequence[int] | Tensor,
        text_index: TextIndex | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        self.trees = list(trees)
        self.root_modules = [t.root.module for t in self.trees]
        self.text_index = text_index if text_index is not None else TextIndex(self.trees)
        video_rows = [int(v) for v in video_index]
        if len(video_rows) != len(self.trees):
            raise ExecutionError(f"{len(video_rows)} video rows for {len(self.trees)} trees")
        self.num_videos = max(video_rows, default=-1) + 1
        self.groups = self._group(self.trees)
        indices = _Indices()
        # (module, slot, item) -> phrase rows each group reads there, for the unions
        self._phrases: dict[tuple, list[tuple[Group, int, int | None, list[int]]]] = {}
        # chunk 0 of Text and Video: the phrase embeddings and the encoded videos
        counts = {VType.TEXT: 1, VType.VIDEO: 1}
        self._sizes: dict[VType, dict[int, int]] = {}  # rows of each computed chunk
        self.where: dict[tuple[int, int], tuple[int, int]] = {}  # (tree, node) -> (group, row)
        address: dict[tuple[int, int], Address] = {}
        features: dict[tuple[int, int], Address] = {}
        for g, group in enumerate(self.groups):
            sig = SIGNATURES[group.module]
            group.chunk = counts.get(sig.returns, 0)
            counts[sig.returns] = group.chunk + 1
            self._sizes.setdefault(sig.returns, {})[group.chunk] = len(group.nodes)
            keeps = getattr(MODULES.get(group.module), "keeps_features", None)
            for row, (b, nid) in enumerate(zip(group.trees, group.nodes)):
                self.where[(b, nid)] = (g, row)
                address[(b, nid)] = (group.chunk, row)
            group.args = [
                self._slot(group, slot, address, features, video_rows, indices)
                for slot in range(len(sig.params))
            ]
            if sig.returns is VType.VIDEO:
                slot = [p.name for p in sig.params].index(keeps) if keeps else None
                for row, (b, nid) in enumerate(zip(group.trees, group.nodes)):
                    arg = self.trees[b].nodes[nid].args[slot] if slot is not None else None
                    features[(b, nid)] = (
                        self._feature_address(arg, b, features, video_rows)
                        if arg is not None
                        else (group.chunk, row)
                    )
            group.trees_at = indices.add(group.trees)
        self._unite_phrases(indices)
        self._roots: dict[VType, tuple[Span, Gather]] = {}
        for vtype in {t.type for t in self.trees}:
            rows = [b for b, t in enumerate(self.trees) if t.type is vtype]
            gather = Gather.of(
                vtype, [address[(b, 0)] for b in rows], indices, self._sizes.get(vtype, {})
            )
            self._roots[vtype] = (indices.add(rows), gather)
        del self._sizes
        self._bind(torch.tensor(indices.values, dtype=torch.long, device=device))

    def _unite_phrases(self, indices: _Indices) -> None:
        """Give the phrase gathers of a module slot read by several groups their union.

        A module's phrase-side layers (:func:`stair.modules.common.project`) then run once over
        the union instead of once per group: one weight read, one larger matmul.
        """
        for users in self._phrases.values():
            if len(users) < 2:
                continue
            union_at = indices.add([r for *_, rows in users for r in rows])
            offset = 0
            for group, slot, item, rows in users:
                arg = group.args[slot]
                gather = arg[item] if item is not None else arg
                united = replace(gather, union_at=union_at, offset=offset)
                if item is None:
                    group.args[slot] = united
                else:
                    group.args[slot] = (*arg[:item], united, *arg[item + 1 :])
                offset += len(rows)
        del self._phrases

    def _bind(self, index: Tensor) -> None:
        self.index = index
        for group in self.groups:
            group.args = [_bind(a, index) for a in group.args]
            group.tree_index = index.narrow(0, *group.trees_at)
        self.roots: dict[VType, tuple[Tensor, Gather]] = {
            t: (index.narrow(0, *at), gather.bind(index)) for t, (at, gather) in self._roots.items()
        }

    @property
    def device(self) -> torch.device:
        return self.index.device

    def to(self, device: torch.device | str) -> Plan:
        """The plan with its index tensors on ``device`` (itself when they are there already)."""
        index = self.index.to(device, non_blocking=True)
        if index is self.index:
            return self
        moved = copy.copy(self)
        moved.groups = [replace(g) for g in self.groups]
        moved._bind(index)
        return moved

    @staticmethod
    def _group(trees: Sequence[ModuleTree]) -> list[Group]:
        keyed: dict[tuple, Group] = {}
        for b, tree in enumerate(trees):
            heights = tree.heights()
            for node in tree.nodes:
                key = (heights[node.id], node.module, node.switch, _kinds(node))
                group = keyed.get(key)
                if group is None:
                    group = keyed[key] = Group(key[0], node.module, node.switch, [], [])
                group.trees.append(b)
                group.nodes.append(node.id)
        order = sorted(keyed, key=lambda k: (k[0], k[1], str(k[2]), str(k[3])))
        return [keyed[k] for k in order]

    def _feature_address(
        self, arg: Any, b: int, features: dict[tuple[int, int], Address], video_rows: list[int]
    ) -> Address:
        return (0, video_rows[b]) if isinstance(arg, VideoInput) else features[(b, arg.id)]

    def _slot(
        self,
        group: Group,
        slot: int,
        address: dict[tuple[int, int], Address],
        features: dict[tuple[int, int], Address],
        video_rows: list[int],
        indices: _Indices,
    ) -> Any:
        first = self.trees[group.trees[0]].nodes[group.nodes[0]].args[slot]
        if first is None:
            return None
        if isinstance(first, tuple):
            return tuple(
                self._gather(group, slot, i, address, features, video_rows, indices)
                for i in range(len(first))
            )
        return self._gather(group, slot, None, address, features, video_rows, indices)

    def _gather(
        self,
        group: Group,
        slot: int,
        item: int | None,
        address: dict[tuple[int, int], Address],
        features: dict[tuple[int, int], Address],
        video_rows: list[int],
        indices: _Indices,
    ) -> Gather | VideoGather:
        window: list[Address] = []
        feats: list[Address] = []
        vtype = VType.TEXT
        for b, nid in zip(group.trees, group.nodes):
            arg = self.trees[b].nodes[nid].args[slot]
            leaf = arg[item] if item is not None else arg
            if isinstance(leaf, Phrase):
                window.append((0, self.text_index.row(b, nid, slot, item or 0)))
                continue
            if isinstance(leaf, VideoInput):
                vtype = VType.VIDEO
                window.append((0, video_rows[b]))
            else:
                vtype = leaf.type
                window.append(address[(b, leaf.id)])
            if vtype is VType.VIDEO:
                feats.append(self._feature_address(leaf, b, features, video_rows))
        if vtype is VType.VIDEO:
            sizes = self._sizes.get(vtype, {})
            return VideoGather(
                Gather.of(vtype, window, indices, sizes), Gather.of(vtype, feats, indices, sizes)
            )
        if vtype is VType.TEXT:
            users = self._phrases.setdefault((group.module, slot, item), [])
            users.append((group, slot, item, [r for _, r in window]))
        return Gather.of(vtype, window, indices, self._sizes.get(vtype, {}))


def _kinds(node: Node) -> tuple:
    """The kind of each argument (phrase, raw video, a child's type, empty), for grouping."""

    def kind(arg: Any) -> Any:
        if isinstance(arg, tuple):
            return tuple(kind(a) for a in arg)
        if arg is None:
            return None
        if isinstance(arg, Phrase):
            return VType.TEXT
        if isinstance(arg, VideoInput):
            return "video"
        return arg.type

    return tuple(kind(a) for a in node.args)


# -- running a plan -------------------------------------------------------------------------------
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

    def root_values(self) -> dict[VType, tuple[Tensor, Value]]:
        """:meth:`roots` of every answer type present in the batch."""
        return {t: self.roots(t) for t in self.plan.roots}  # type: ignore[misc]

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

    def __init__(self, bank: nn.Module | None, text: Tensor | None = None) -> None:
        self.bank, self._actions = bank, None
        self.text = text
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
) -> Trace:
    """Run every node of the plan's trees, one module call per group; see the module docstring.

    ``text [P, D]``: the phrase embeddings, row ``r`` for ``plan.text_index.texts[r]``;
    ``video``: the encoded videos, row ``plan``'s ``video_index[b]`` for tree ``b``; ``bank``:
    a :class:`~stair.modules.ConceptBank` (needed by ``Superlative`` over every action).
    """
    if text.shape[0] < len(plan.text_index):
        raise ExecutionError(f"{text.shape[0]} phrase rows for {len(plan.text_index)} phrases")
    if len(video) < plan.num_videos:
        raise ExecutionError(f"{len(video)} videos, but the plan reads row {plan.num_videos - 1}")
    store: dict[VType, list[Value]] = {VType.TEXT: [Text(text)], VType.VIDEO: [video]}
    ctx = _Context(bank, text)
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


def execute_single(
    tree: ModuleTree,
    modules: Mapping[str, nn.Module],
    video: Video,
    text: Mapping[tuple[int, int, int], Tensor],
    bank: nn.Module | None = None,
) -> dict[int, Value]:
    """Every node's value of one question, recursively, batch size 1 (tests and benchmarks).

    ``video``: this question's video (one row); ``text``: ``(node id, slot, item) -> [D]``, the
    embedding of each phrase occurrence (``TextIndex.rows_for`` gives the rows).
    """
    ctx = _Context(bank)
    values: dict[int, Value] = {}

    def leaf(node: Node, slot: int, item: int, arg: Any) -> Any:
        if isinstance(arg, Phrase):
            return Text(text[(node.id, slot, item)][None])
        if isinstance(arg, VideoInput):
            return video
        return run(arg)

    def run(node: Node) -> Value:
        args = [
            None
            if arg is None
            else tuple(leaf(node, slot, i, a) for i, a in enumerate(arg))
            if isinstance(arg, tuple)
            else leaf(node, slot, 0, arg)
            for slot, arg in enumerate(node.args)
        ]
        values[node.id] = _call(modules[node.module], node.switch, args, ctx)
        return values[node.id]

    run(tree.root)
    return values
