"""Exists, ExistsFrame and HasItem: is a concept there (in a set, or at each frame)?"""

from __future__ import annotations

import torch
from torch import nn

from stair.modules.common import SimilarityLogit
from stair.modules.registry import register
from stair.values import Bool, Concept, Frames, Text, Video


@register
class Exists(nn.Module):
    """Is the named concept among the filtered ones? ``scale * cos(W item, items) + bias``.

    Appears in verification questions ("did they hold a phone before ..."); ``item`` is a phrase
    or an indirect reference, ``items`` usually a ``Filter`` output. The Bool is the answer of an
    exists question, or feeds ``And``/``Or``/``Xor``/``Not`` and ``Compare``. Supervised by BCE.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.similarity = SimilarityLogit(dim)

    def forward(self, item: Concept | Text, items: Concept) -> Bool:
        return Bool(self.similarity(item, items.vector))


@register
class ExistsFrame(nn.Module):
    """Per frame: does the named concept hold? ``sigmoid(scale * cos(W item, h_t) + bias)``.

    ``video`` carries per-frame concept features (from ``FilterFrame``); the probabilities are
    multiplied with its window. Appears as the condition of "first/last time they were <R> ..."
    questions; feeds ``Relate``, ``AndFrame``/``XorFrame``. Supervised by BCE per frame.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.similarity = SimilarityLogit(dim)

    def forward(self, item: Concept | Text, video: Video) -> Frames:
        logits = self.similarity(item, video.features)  # (B, T)
        probs = torch.sigmoid(logits) * video.focus
        return Frames(torch.where(video.mask, probs, 0), video.mask)


@register
class HasItem(nn.Module):
    """Per frame: is anything of the category there? A Linear read-out of the frame features.

    ``video`` carries per-frame concept features (from ``FilterFrame``). Appears as the condition
    of "the first/last thing they did" questions (``HasItem(Filter(frame, [actions]))``); feeds
    ``Relate``. Supervised by BCE per frame.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.readout = nn.Linear(dim, 1)

    def forward(self, video: Video) -> Frames:
        logits = self.readout(video.features).squeeze(-1)  # (B, T)
        probs = torch.sigmoid(logits) * video.focus
        return Frames(torch.where(video.mask, probs, 0), video.mask)
