"""Count: how many separate times something happens."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from stair.modules.registry import register
from stair.values import Count, Frames


@register(name="Count")
class CountOccurrences(nn.Module):
    """The ``Count`` module (named apart from the ``Count`` value it returns): the distribution of
    the number of occurrences, the rising edges of a frame mask.

    Each frame holds independently with its probability ``p_t`` (padded frames 0); an occurrence
    starts where a frame holds and the one before does not. The distribution of the number of
    starts is computed exactly by a recursion over frames on the state (count so far, whether
    the last frame held), bounded to ``max_count`` (the last class means "``max_count`` or
    more"). The earlier recursion took the soft edges ``p_t (1 - p_{t-1})`` as independent
    events (Poisson-binomial): neighbouring edges exclude each other, so the ramp of one
    occurrence (0.3, 0.6, 0.9) spread its mass over 0 and 2. Parameter-free. Appears in counting
    questions ("how many times did they ... before ..."), at the root, over a ``Localize``.
    Supervised by cross-entropy.
    """

    def __init__(self, max_count: int = 10) -> None:
        super().__init__()
        if max_count < 1:
            raise ValueError(f"max_count must be at least 1, got {max_count}")
        self.max_count = max_count

    def forward(self, frames: Frames) -> Count:
        p = frames.masked  # (B, T)
        B, T = p.shape
        off = torch.zeros(B, self.max_count + 1, dtype=p.dtype, device=p.device)
        off[:, 0] = 1  # P(count = k, last frame off); before the first frame: none, off
        on = torch.zeros_like(off)  # P(count = k, last frame on)
        for t in range(T):
            hold = p[:, t : t + 1]
            started = F.pad(off[:, :-1], (1, 0))  # off -> on: one more occurrence
            started[:, -1] += off[:, -1]  # the last class absorbs: "K or more" stays there
            on, off = hold * (on + started), (1 - hold) * (on + off)
        return Count((on + off).clamp_min(1e-12).log())
