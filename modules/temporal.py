"""Temporal: a new focus window before / after / while / between anchor actions."""

from __future__ import annotations

from typing import Annotated, ClassVar

import torch
from torch import Tensor, nn

from stair.modules.registry import register
from stair.programs.signatures import OnlyWith
from stair.values import ExecutionError, Frames, TemporalMode, Video


def not_yet(anchor: Tensor) -> Tensor:
    """``prod_{s <= t} (1 - a_s)``: the soft "the anchor has not started by frame t", ``[B,T]``."""
    return torch.cumprod(1 - anchor, dim=-1)


def no_more(anchor: Tensor) -> Tensor:
    """``prod_{s >= t} (1 - a_s)``: the soft "the anchor is over by frame t", ``[B,T]``."""
    return not_yet(anchor.flip(-1)).flip(-1)


@register
class Temporal(nn.Module):
    """Narrows the focus window to the frames before / after / while / between anchors.

    Parameter-free soft cumulative masks over the anchor probabilities ``a``:
    ``before = prod_{s<=t}(1-a_s)`` (no anchor frame yet), ``after = prod_{s>=t}(1-a_s)`` (no
    anchor frame any more), ``while = a`` and ``between = after(first) * before(second)``, which
    keeps the order of its two anchors (the reference averaged them and lost it). The result is
    multiplied with the incoming window; features are unchanged. Appears wherever a question
    says "before/after/while ..." or "between ... and ..."; its window feeds ``Filter``,
    ``FilterFrame``, ``Localize`` (counting in a time span) and ``AttnVideo``. Supervised by BCE
    against the gold window.
    """

    keeps_features: ClassVar[str] = "video"

    def forward(
        self,
        switch: TemporalMode,
        video: Video,
        anchor: Frames,
        second: Annotated[Frames | None, OnlyWith("between")] = None,
    ) -> Video:
        a = anchor.masked  # (B, T), padded frames 0: they neither start nor end anything
        if switch is TemporalMode.BEFORE:
            keep = not_yet(a)
        elif switch is TemporalMode.AFTER:
            keep = no_more(a)
        elif switch is TemporalMode.WHILE:
            keep = a
        else:
            if second is None:
                raise ExecutionError("Temporal[between] needs a second anchor")
            keep = no_more(a) * not_yet(second.masked)
        return Video(video.features, video.focus * keep, video.mask)
