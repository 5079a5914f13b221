"""Small shared pieces of the modules: frame matching, masked attention, similarity logits."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import einsum
from torch import Tensor, nn

#: A finite "minus infinity" for masked scores (no NaN when a whole row is masked).
NEG = -1e4
#: Smallest window weight whose log enters an attention score.
EPS = 1e-6


def match_frames(features: Tensor, query: Tensor) -> Tensor:
    """Scaled dot product of every frame with a per-row query: ``[B,T,D] x [B,D] -> [B,T]``.

    The query, not the frames, is projected by the caller, so no per-frame Linear runs: this is
    a bilinear match ``f_t^T W q`` computed as ``f_t . (W q)``.
    """
    return einsum(features, query, "b t d, b d -> b t") / math.sqrt(features.shape[-1])


def time_attention(scores: Tensor, focus: Tensor, mask: Tensor) -> Tensor:
    """Softmax over the time axis of ``scores + log(focus)``, padded frames excluded, ``[B,T]``.

    This is the focus window times a learned attention, renormalised over the frames.
    """
    scores = scores + focus.clamp_min(EPS).log()
    return scores.masked_fill(~mask, NEG).softmax(dim=-1)


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

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        """``a [..., D]`` against ``b [..., D]`` (broadcast) -> logits ``[...]``."""
        cos = F.cosine_similarity(self.proj(a), b, dim=-1)
        return cos * self.log_scale.exp() + self.bias
