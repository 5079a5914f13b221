"""Small shared pieces of the modules: frame matching, masked attention, similarity logits."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from stair.values import Concept, Text

#: A finite "minus infinity" for masked scores (no NaN when a whole row is masked).
NEG = -1e4
#: Smallest window weight whose log enters an attention score.
EPS = 1e-6


def match_frames(features: Tensor, query: Tensor) -> Tensor:
    """Scaled dot product of every frame with a per-row query: ``[B,T,D] x [B,D] -> [B,T]``.

    The query, not the frames, is projected by the caller, so no per-frame Linear runs: this is
    a bilinear match ``f_t^T W q`` computed as ``f_t . (W q)``.
    """
    scores = torch.bmm(features, query[:, :, None])[..., 0]  # (B, T)
    return scores / math.sqrt(features.shape[-1])


def weighted_sum(weights: Tensor, values: Tensor) -> Tensor:
    """``sum_k weights[b, k] values[b, k]``: ``[B,K] x [B,K,D] -> [B,D]`` (a batched matmul)."""
    return torch.bmm(weights[:, None], values)[:, 0]


def time_attention(scores: Tensor, focus: Tensor, mask: Tensor) -> Tensor:
    """Softmax over the time axis of ``scores + log(focus)``, padded frames excluded, ``[B,T]``.

    This is the focus window times a learned attention, renormalised over the frames.
    """
    scores = scores + focus.clamp_min(EPS).log()
    return scores.masked_fill(~mask, NEG).softmax(dim=-1)


def project(layer: nn.Module, value: Concept | Text) -> Tensor:
    """``layer(value.vector)``: for phrases, a row of the executor's batch-wide projection.

    Modules apply their phrase-side layers through this, so that a layer reading phrases in
    many groups of a batch runs once over all of them (:attr:`Text.projections`).
    """
    if isinstance(value, Text) and value.projections is not None:
        return value.projections(layer)
    return layer(value.vector)


class SimilarityLogit(nn.Module):
    """``scale * cos(W a, b) + bias``: a calibrated "is ``a`` the same as / among ``b``" logit.

    ``W`` starts as the identity (phrases and concepts share the space); the initial scale 10 and
    bias -3 put the decision threshold at a cosine of 0.3.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.proj = nn.Linear(dim, dim)
        nn.init.eye_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)
        self.log_scale = nn.Parameter(torch.tensor(math.log(10.0)))
        self.bias = nn.Parameter(torch.tensor(-3.0))

    def forward(self, a: Concept | Text, b: Tensor) -> Tensor:
        """``a`` (``[B, D]``) against ``b``: ``[B, D] -> [B]`` logits, ``[B, T, D] -> [B, T]``."""
        query = project(self.proj, a)
        if b.dim() == 3:
            query = query[:, None]
        cos = F.cosine_similarity(query, b, dim=-1)
        return cos * self.log_scale.exp() + self.bias
