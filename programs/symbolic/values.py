"""The symbolic values: what a module gives, exactly, on a scene graph.

============  =====================  =============================================================
type          value                  meaning
============  =====================  =============================================================
Video         :class:`SymVideo`      the focus window (a bool per frame); after ``FilterFrame``
                                     also the concepts found in each frame
Frames        :class:`SymFrames`     the frames where something holds
Concept       :class:`SymConcept`    a set of concept names (objects, relations or actions)
Bool          :class:`SymBool`       yes / no (for ``Compare``: yes = before)
Count         :class:`SymCount`      how many separate occurrences
============  =====================  =============================================================

Each names its :class:`~stair.programs.signatures.VType` in ``vtype`` (as the neural values of
:mod:`stair.values` do), so operations are typed by these classes; ``to_json`` and
:func:`value_from_json` are the gold values' form in dataset files.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, ClassVar

from stair.programs.errors import SymbolicError
from stair.programs.signatures import VType
from stair.programs.switches import Category

Mask = tuple[bool, ...]


def spans(mask: Mask) -> list[list[int]]:
    """Maximal runs of True as half-open ``[start, end]`` frame ranges."""
    return [[start, end] for start, end in _runs(mask)]


@functools.lru_cache(maxsize=8192)
def _runs(mask: Mask) -> tuple[tuple[int, int], ...]:
    # cached: the golds of a video's questions share most of their masks
    out: list[tuple[int, int]] = []
    start = None
    for i, on in enumerate(mask):
        if on and start is None:
            start = i
        elif not on and start is not None:
            out.append((start, i))
            start = None
    if start is not None:
        out.append((start, len(mask)))
    return tuple(out)


@dataclass(frozen=True)
class SymVideo:
    """The focus window; ``items``: the concepts found in each frame (after ``FilterFrame``)."""

    window: Mask
    items: tuple[frozenset[str], ...] | None = None
    vtype: ClassVar[VType] = VType.VIDEO

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "Video", "spans": spans(self.window)}
        if self.items is not None:
            out["items"] = [sorted(s) for s in self.items]
        return out


@dataclass(frozen=True)
class SymFrames:
    """The frames where something holds."""

    mask: Mask
    vtype: ClassVar[VType] = VType.FRAMES

    def to_json(self) -> dict[str, Any]:
        return {"type": "Frames", "spans": spans(self.mask)}


@dataclass(frozen=True)
class SymConcept:
    """A set of concept names, of one category when known.

    ``frames`` and ``window``: where a set was read off a window (``Filter``), the concepts of
    each frame and the window itself, so that ``Exists`` can say at which frames its item is
    there. They are evidence, not the value: not compared, not written.
    """

    items: frozenset[str]
    category: Category | None = None
    frames: tuple[frozenset[str], ...] | None = field(default=None, compare=False)
    window: Mask | None = field(default=None, compare=False)
    vtype: ClassVar[VType] = VType.CONCEPT

    def to_json(self) -> dict[str, Any]:
        cat = self.category.value if self.category is not None else None
        return {"type": "Concept", "items": sorted(self.items), "category": cat}


@dataclass(frozen=True)
class SymBool:
    """Yes or no; for ``Exists`` over a window, also the frames of the window that show the item
    (``frames``, within ``window``: the per-frame gold of its frame reading) and what each frame
    of the window holds of the set's category (``members``, the ``Filter``'s per-frame sets, of
    ``category``): the gold of the same reading for every other concept of the category."""

    value: bool
    frames: Mask | None = field(default=None, compare=False)
    window: Mask | None = field(default=None, compare=False)
    members: tuple[frozenset[str], ...] | None = field(default=None, compare=False)
    category: Category | None = field(default=None, compare=False)
    vtype: ClassVar[VType] = VType.BOOL

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "Bool", "value": self.value}
        if self.frames is not None and self.window is not None:
            out["frames"] = spans(self.frames)
            out["window"] = spans(self.window)
            if self.members is not None and self.category is not None:
                names = sorted(frozenset().union(*self.members))
                out["category"] = self.category.value
                out["members"] = {n: spans(tuple(n in s for s in self.members)) for n in names}
        return out


@dataclass(frozen=True)
class SymCount:
    """How many separate occurrences."""

    value: int
    vtype: ClassVar[VType] = VType.COUNT

    def to_json(self) -> dict[str, Any]:
        return {"type": "Count", "value": self.value}


SymValue = SymVideo | SymFrames | SymConcept | SymBool | SymCount


def value_from_json(data: dict[str, Any], num_frames: int) -> SymValue:
    """Inverse of each value's ``to_json`` (masks need the video's frame count)."""

    def mask(ranges: list[list[int]]) -> Mask:
        m = [False] * num_frames
        for start, end in ranges:
            m[start:end] = [True] * (end - start)
        return tuple(m)

    kind = data["type"]
    if kind == "Video":
        items = data.get("items")
        return SymVideo(mask(data["spans"]), tuple(map(frozenset, items)) if items else None)
    if kind == "Frames":
        return SymFrames(mask(data["spans"]))
    if kind == "Concept":
        cat = Category(data["category"]) if data.get("category") else None
        return SymConcept(frozenset(data["items"]), cat)
    if kind == "Bool":
        if "frames" in data and "window" in data:
            members, cat = None, None
            if "members" in data and data.get("category"):
                cat = Category(data["category"])
                rows = {n: mask(r) for n, r in data["members"].items()}
                members = tuple(
                    frozenset(n for n, m in rows.items() if m[f]) for f in range(num_frames)
                )  # fmt: skip
            frames, window = mask(data["frames"]), mask(data["window"])
            return SymBool(bool(data["value"]), frames, window, members, cat)
        return SymBool(bool(data["value"]))
    if kind == "Count":
        return SymCount(int(data["value"]))
    raise SymbolicError(f"unknown gold value type {kind!r}")
