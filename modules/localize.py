"""Localize: where in the video an action happens."""

from __future__ import annotations

import torch
from torch import nn

from stair.modules.common import close_gaps, match_frames, project
from stair.modules.registry import register
from stair.values import Concept, Frames, Text, Video


def _by_name(action: Concept | Text) -> Concept | Text:
    """A ``ToAction`` concept as the phrase it names (its vector in the rows without one)."""
    named = getattr(action, "named", None)
    if named is None:
        return action
    return Concept(torch.where(named.abs().amax(-1, keepdim=True) > 0, named, action.vector))


@register
class Localize(nn.Module):
    """Per-frame probability that the named action is under way, within the focus window.

    Computes ``sigmoid(f_t . W a / sqrt(D) + b)``, a bilinear match of every frame with the
    action (a phrase such as "opening a closet", or an action concept from ``ToAction``), closes
    one-frame gaps (:func:`~stair.modules.common.close_gaps`: a missed detection must not split
    an action in two) and multiplies with the window. The gate of frame ``t`` is a second
    bilinear match, ``sigmoid(f_t . G a / sqrt(D) + c)``: whether what goes with the action (the
    object held, the relation) is still there, which tells a missed detection from a real pause.
    Appears in every time expression ("before they opened a closet" compiles to
    ``Temporal[before](video, Localize(video, "opening a closet"))``) and in counting questions
    ("how many times did they ..."). Its output feeds ``Temporal`` as an anchor and ``Count``.
    An action from ``ToAction`` is matched by the phrase it names (``Concept.named``), as a
    phrase is. Supervised by BCE against the frames where the action is under way.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.query = nn.Linear(dim, dim)
        self.bias = nn.Parameter(torch.zeros(()))
        self.gap_query = nn.Linear(dim, dim)  # the gap-closing gate's match, per frame
        self.gap = nn.Parameter(torch.zeros(()))

    def forward(self, video: Video, action: Concept | Text) -> Frames:
        action = _by_name(action)
        logits = match_frames(video.features, project(self.query, action)) + self.bias  # (B, T)
        probs = torch.where(video.mask, torch.sigmoid(logits), 0)  # padding bridges nothing
        gate = match_frames(video.features, project(self.gap_query, action)) + self.gap
        probs = close_gaps(probs, torch.sigmoid(gate)) * video.focus
        return Frames(probs, video.mask)
