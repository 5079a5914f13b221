"""Gathers: where the rows of one argument of a group come from, in the plan's index buffer.

A value computed by a group is kept whole as a *chunk* (one per group, in the list of its value
type; chunk 0 of ``Text`` and ``Video`` are the phrase embeddings and the encoded videos), and a
node's value is a row of a chunk. A :class:`Gather` names the rows of one argument of a group: a
contiguous run of one chunk (a view, no copy), or index rows into one chunk or into several
chunks concatenated. A :class:`VideoGather` reads a video's window and its features from
different chunks (modules that only refocus a video keep their input's features).

Index rows of a whole plan are collected in one :class:`IndexBuffer` (one tensor, one transfer
to a device); a gather holds spans of it and, once bound (:meth:`Gather.bind`), views of it.
:class:`~stair.engine.plan.Plan` builds the gathers; :mod:`stair.engine.executor` fetches them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import Tensor

from stair.programs.signatures import VType
from stair.values import VALUE_TYPES, Value, Video, tensor_fields

Address = tuple[int, int]  # (chunk, row) in the chunk list of one value type
Span = tuple[int, int]  # (start, length) in a plan's index buffer


class IndexBuffer:
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
        vtype: VType, addresses: Sequence[Address], indices: IndexBuffer, sizes: Mapping[int, int]
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
        """The gathered rows of one field (``"weights"``, ``"vector"``, ...) of the chunks.

        An optional field that some chunks have and others lack (a group's ``Exists`` reading
        one set a ``Filter`` found, with its evidence, and one from ``ToAction``) is zero in
        the rows of those that lack it; the modules read a zero window as no evidence.
        """
        chunks = [store[self.vtype][c] for c in self.chunks]
        parts = [getattr(chunk, name) for chunk in chunks]
        if any(p is None for p in parts):
            some = next((p for p in parts if p is not None), None)
            if some is None:
                return None
            parts = [
                some.new_zeros((len(chunk), *some.shape[1:])) if p is None else p
                for p, chunk in zip(parts, chunks)
            ]  # fmt: skip
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


def bind_arg(arg: Any, index: Tensor) -> Any:
    """A group argument (None, a gather or a tuple of them) bound to an index buffer."""
    if arg is None:
        return None
    if isinstance(arg, tuple):
        return tuple(a.bind(index) for a in arg)
    return arg.bind(index)
