"""Relate and AttnVideo: pick the first / last frame of a condition, refocus the video on it."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from stair.modules.registry import register
from stair.values import Direction, Frames, Moment, MomentVideo, Video


@register
class Relate(nn.Module):
    """The first (forward) or last (backward) frame where a condition holds, as a soft one-hot.

    Parameter-free: ``r_t = a_t * prod_{s<t}(1 - a_s)`` (forward) is the probability that frame
    ``t`` is the first hit when each frame holds independently with probability ``a_t``;
    backward runs the same product from the end. It sums to at most 1 (the rest is "never"), so
    it is a distribution over frames, a :class:`~stair.values.Moment`, read by its peak frame
    (when the chance of a hit at all is at least 0.5) and judged by that frame's IoU with the
    gold. Appears in "the first/last time they ..." questions; feeds ``AttnVideo``. Supervised
    by BCE against the gold frame.
    """

    def forward(self, switch: Direction, frames: Frames) -> Moment:
        a = frames.masked  # (B, T)
        if switch is Direction.BACKWARD:
            a = a.flip(-1)
        none_yet = torch.cumprod(1 - a, dim=-1)  # prod_{s<=t}(1 - a_s)
        none_before = torch.cat([torch.ones_like(a[:, :1]), none_yet[:, :-1]], dim=-1)
        first = a * none_before  # (B, T)
        if switch is Direction.BACKWARD:
            first = first.flip(-1)
        return Moment(first, frames.mask)


@register
class AttnVideo(nn.Module):
    """Refocuses the video on some frames: ``window_t * frames_t``, features unchanged.

    Appears in "first/last" questions, where it focuses the video on the frame ``Relate`` picked
    so that ``Filter`` can read what was there ("what did they hold the first time ..."); its
    output feeds ``Filter``. Its window is then a distribution over the frames, a
    :class:`~stair.values.MomentVideo`, read by its peak like ``Relate``'s.
    """

    keeps_features: ClassVar[str] = "video"

    def forward(self, video: Video, frames: Frames) -> MomentVideo:
        return MomentVideo(video.features, video.focus * frames.masked, video.mask)
