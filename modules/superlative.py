"""Superlative: the candidate action that lasts longest / shortest."""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import Tensor, nn

from stair.modules.common import weighted_sum
from stair.modules.registry import register
from stair.values import Concept, ExecutionError, Extreme, Text, Video


def _named(candidate: Concept | Text) -> Tensor:
    """What a candidate names: a Filter's cue (its phrase), else the vector itself (also in the
    rows of a group whose other rows come from a Filter: their window is zero)."""
    cue, window = getattr(candidate, "cue", None), getattr(candidate, "window", None)
    if cue is None:
        return candidate.vector
    if window is None:
        return cue
    return torch.where(window.amax(-1, keepdim=True) > 0, cue, candidate.vector)


@register
class Superlative(nn.Module):
    """Localises each candidate action, compares soft durations, returns the longest / shortest.

    For candidates ``c_k`` (the listed ones, or with an empty list every action of the concept
    bank, the ``actions`` context; a listed ``Filter`` output is localised by the phrase it read,
    its ``cue``, as ``Localize`` localises a phrase, since the vector it pooled from the video
    names the action less sharply), ``p_kt = sigmoid(f_t . W c_k / sqrt(D) + b) * window_t`` and
    the soft duration is ``d_k = sum_t p_kt`` frames. ``max`` takes ``softmax_k(d_k / tau)``,
    ``min`` the proper ``softmax_k(-d_k / tau)`` (learnable ``tau``); the output is the
    probability-weighted mix of the candidates' vectors. Over every action, ``min`` only weighs
    the actions that happen in the window: an action that never happens is not "the shortest
    thing they did", so it counts as lasting the whole window, weighted by ``P(never) = 1 -
    max_t p_kt``. (The product ``prod_t (1 - p_kt)`` let an action that never happens but
    half-matches a few frames, a confusable "opening a book" while reading one, pass for the
    shortest. Unlike ``Localize``, no one-frame gap is closed here: closing can only raise such
    half-matches.) Appears in "which did they do for longer/shorter" and "what did they do the
    longest" questions; answers them or feeds ``Equals``. Supervised by multi-positive InfoNCE
    against the gold action.

    ``shares``: it may localise its candidates with ``Localize``'s own ``query`` and ``bias``
    (the same bilinear frame match; ``build_modules(share=True)``), so that the supervision of
    every localised action phrase also trains the durations it compares.
    """

    shares: ClassVar[tuple[str, tuple[str, ...]]] = ("Localize", ("query", "bias"))

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.query = nn.Linear(dim, dim)
        self.bias = nn.Parameter(torch.zeros(()))
        self.log_tau = nn.Parameter(torch.zeros(()))
        #: the bank's action vectors are of norm about 1, a phrase's of norm 10-40: the gain puts
        #: them at a phrase's scale, for the frame match here and for a Localize downstream
        self.log_bank_gain = nn.Parameter(torch.tensor(math.log(math.sqrt(dim))))

    def forward(
        self,
        switch: Extreme,
        video: Video,
        candidates: tuple[Concept | Text, ...],
        *,
        actions: Tensor | None = None,
    ) -> Concept:
        D = video.features.shape[-1]
        if candidates:
            cands = torch.stack([c.vector for c in candidates], dim=1)  # (B, K, D)
            # a Filter's candidate is localised by the phrase it read, not by its pooled vector
            named = torch.stack([_named(c) for c in candidates], dim=1)  # (B, K, D)
            logits = torch.bmm(self.query(named), video.features.transpose(1, 2))  # (B, K, T)
        elif actions is not None:
            cands = actions * self.log_bank_gain.exp()  # (A, D): every action of the bank
            logits = (video.features @ self.query(cands).T).transpose(1, 2)  # (B, A, T)
        else:
            raise ExecutionError(
                "Superlative over every action needs the concept bank's actions (pass bank=...)"
            )
        logits = logits / math.sqrt(D) + self.bias
        presence = torch.sigmoid(logits) * video.focus[:, None]  # (B, K, T)
        duration = presence.sum(-1)  # (B, K): soft number of frames each candidate lasts
        if switch is Extreme.MIN and not candidates:
            never = 1 - presence.amax(-1)  # (B, K)
            duration = duration + never * video.focus.sum(-1, keepdim=True)
        sign = 1.0 if switch is Extreme.MAX else -1.0
        pick = torch.softmax(sign * duration / self.log_tau.exp(), dim=-1)  # (B, K)
        if cands.dim() == 2:
            return Concept(pick @ cands)
        return Concept(weighted_sum(pick, cands))
