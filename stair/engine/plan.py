"""The plan of a batch: which nodes run together, and where each argument's rows come from.

Nodes of all trees are grouped by (height in their tree, module, switch, kinds of their
arguments); groups run in order of height, each as ONE call of its module on the gathered batch
(DESIGN.md section 8). A group's output is kept whole as a *chunk*; a node's value is a row of a
chunk, so "scattering back" costs nothing, and a later group gathers its inputs from the chunks
with index tensors computed once per batch by :class:`Plan` (:mod:`stair.engine.gathers`; a
contiguous run of rows is a view).
The plan is bookkeeping over the trees only, so the data pipeline builds it with the batch (in
the loader's workers); its index tensors are views of one buffer, moved to a device at once.

Phrase arguments are the one input every group could read from the start. Where several groups
of a module read phrases in the same slot, the plan gives them the union of their rows, and a
phrase-side layer of the module (``project(self.query, action)``) runs once over that union,
each group reading its rows of the result: one weight read and one larger matmul instead of
one per group (:attr:`Text.projections`).

Modules that only refocus a video (``keeps_features``) never have their features copied: the
plan points their output at the features they came from. :mod:`stair.engine.executor` runs a plan.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import Tensor

from stair.engine.gathers import Address, Gather, IndexBuffer, Span, VideoGather, bind_arg
from stair.modules.registry import MODULES
from stair.programs.signatures import SIGNATURES, VType
from stair.programs.switches import Switch
from stair.programs.tree import ModuleTree, Node, Phrase, VideoInput
from stair.values import ExecutionError


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
    pipeline builds it with the batch (:class:`~stair.engine.batch.QABatch`, in the loader's
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
        indices = IndexBuffer()
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

    def _unite_phrases(self, indices: IndexBuffer) -> None:
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
            group.args = [bind_arg(a, index) for a in group.args]
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
        indices: IndexBuffer,
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
        indices: IndexBuffer,
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
