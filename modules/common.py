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


def bank_posterior(vector: Tensor, bank: Tensor, scale: Tensor) -> Tensor:
    """Which bank concept a vector names: ``softmax_c(scale cos(vector, e_c))``, ``[B, V]``.

    The bank ``[V, D]`` is read, not trained, through it (detached): the modules that resolve
    a vector against the bank (``Equals``, ``ToAction``) must not pull its concepts apart.
    """
    rows = F.normalize(bank.detach(), dim=-1)
    return (F.normalize(vector, dim=-1) @ rows.T * scale).softmax(-1)


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


def close_gaps(probs: Tensor, gate: Tensor) -> Tensor:
    """Fill one-frame gaps of a per-frame probability: ``p_t + (1 - p_t) g p_{t-1} p_{t+1}``.

    ``probs``: ``[..., T]`` in [0, 1]; ``gate``: the learned probability ``g`` that a single
    frame off between two on-frames is a missed detection, not a real pause (a scalar, or one
    per frame, ``[..., T]``, when the frame itself carries the evidence). Detectors miss an
    entity in a frame now and then; left open, the gap splits one occurrence into two (Count
    counts it twice) and shortens it (Superlative compares durations a frame apart). The first
    and last frames have one neighbour and are left as they are.
    """
    if probs.shape[-1] < 3:
        return probs
    inner = probs[..., 1:-1]
    if gate.dim() > 0:
        gate = gate[..., 1:-1]
    bridged = inner + (1 - inner) * gate * probs[..., :-2] * probs[..., 2:]
    return torch.cat([probs[..., :1], bridged, probs[..., -1:]], dim=-1)
