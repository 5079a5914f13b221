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
    the number of occurrences, as soft rising edges of a frame mask.


    A rising edge at frame ``t`` has probability ``e_t = p_t (1 - p_{t-1})`` (``p_{-1} = 0``;
    padded frames are 0). Taking the edges as independent, the count is Poisson-binomial; it is
    computed exactly by a recursion over frames, bounded to ``max_count`` (the last class means
    "``max_count`` or more"). Parameter-free. Appears in counting questions ("how many times did
    they ... before ..."), at the root, over a ``Localize``. Supervised by cross-entropy.
    """

    def __init__(self, max_count: int = 10) -> None:
        super().__init__()
        if max_count < 1:
            raise ValueError(f"max_count must be at least 1, got {max_count}")
        self.max_count = max_count

    def forward(self, frames: Frames) -> Count:
        p = frames.masked  # (B, T)
        B, T = p.shape
        previous = torch.cat([torch.zeros_like(p[:, :1]), p[:, :-1]], dim=-1)
        edges = p * (1 - previous)  # (B, T): soft rising edges
        dist = torch.zeros(B, self.max_count + 1, dtype=p.dtype, device=p.device)
        dist[:, 0] = 1  # (B, K+1): P(count = k) after the frames seen so far
        below_top = torch.ones_like(dist[0])
        below_top[-1] = 0  # the last class absorbs: "K or more" never moves up
        for t in range(T):
            up = F.pad(dist[:, :-1], (1, 0)) - dist * below_top  # mass moving one class up
            dist = dist + edges[:, t : t + 1] * up
        return Count(dist.clamp_min(1e-12).log())
