"""Localize: where in the video an action happens."""

from __future__ import annotations

import torch
from torch import nn

from stair.modules.common import match_frames, project
from stair.modules.registry import register
from stair.values import Concept, Frames, Text, Video


@register
class Localize(nn.Module):
    """Per-frame probability that the named action is under way, within the focus window.

    Computes ``sigmoid(f_t . W a / sqrt(D) + b) * window_t``: a bilinear match of every frame
    with the action (a phrase such as "opening a closet", or an action concept from ``ToAction``).
    Appears in every time expression ("before they opened a closet" compiles to
    ``Temporal[before](video, Localize(video, "opening a closet"))``) and in counting questions
    ("how many times did they ..."). Its output feeds ``Temporal`` as an anchor and ``Count``.
    Supervised by BCE against the frames where the action is under way.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.query = nn.Linear(dim, dim)
        self.bias = nn.Parameter(torch.zeros(()))

    def forward(self, video: Video, action: Concept | Text) -> Frames:
        logits = match_frames(video.features, project(self.query, action)) + self.bias  # (B, T)
        probs = torch.sigmoid(logits) * video.focus
        return Frames(torch.where(video.mask, probs, 0), video.mask)
