"""Filter and FilterFrame: the objects / relations / actions in the focused frames."""

from __future__ import annotations

import torch
from einops import rearrange
from torch import nn

from stair.modules.common import EPS, match_frames, project, time_attention, weighted_sum
from stair.modules.registry import register
from stair.values import Category, Concept, Text, Video


@register
class Filter(nn.Module):
    """Pools the focused frames into one concept vector: what was seen (held, done) in the window.

    Two readings of the window, summed: attention over time, ``softmax_t(f_t . q / sqrt(D) +
    log window_t)`` over the real frames (the reference's softmax ran over a singleton axis and
    ignored the keyword), with a learned query per category plus, when given, the projected text
    ("objects they were *holding*"), the pooled states then scaled by ``1 + G text`` per feature
    (signed: the phrase can flip a feature, which is how a relation is read back off its
    object); and the window's *union*, ``g max_t w_t
    relu(s_c * f_t + b_c + V text)``, a feature present in any focused frame, however few
    (``s_c``, ``b_c``: a per-category scale and shift of each feature; ``w``: the window over its
    largest weight, so a peaked focus such as ``AttnVideo``'s counts its peak frame whole).
    Softmax attention alone settles on a few frames, so a set spread over the window lost the
    items seen elsewhere: an Exists over it read "no" for an item that was there. The learned
    gate ``g = sigmoid(a_c + u . text)`` weighs the union by category and phrase. A phrase under
    ``actions`` names the one action it reads ("the action *opening a box*", a Superlative
    candidate, whose vector Superlative localises): attention alone, since the window's other
    actions would blur the durations it compares. The sum is projected into the concept space
    by a per-category Linear. Appears in almost every question ("what did they hold before
    ...", "did they see a phone ..."); feeds ``Exists``, ``Choose``, ``Equals``, ``ToAction``,
    ``Superlative`` candidates, or answers a query itself. Supervised by multi-positive InfoNCE
    against the gold concept set.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.queries = nn.Parameter(torch.randn(len(Category), dim) * dim**-0.5)
        self.text_query = nn.Linear(dim, dim)
        self.text_gate = nn.Linear(dim, dim)
        self.union_scale = nn.Parameter(torch.ones(len(Category), dim))
        self.union_shift = nn.Parameter(torch.zeros(len(Category), dim))
        self.union_text = nn.Linear(dim, dim, bias=False)
        self.union_gate = nn.Linear(dim, 1, bias=False)
        self.union_bias = nn.Parameter(torch.zeros(len(Category)))
        self.out = nn.ModuleDict({c.value: nn.Linear(dim, dim) for c in Category})
        self.cues = nn.Parameter(torch.randn(len(Category), dim) * dim**-0.5)
        self._row = {c: i for i, c in enumerate(Category)}

    def forward(
        self, switch: Category, video: Video, text: Concept | Text | None = None
    ) -> Concept:
        B, _, D = video.features.shape
        query = self.queries[self._row[switch]].expand(B, D)  # (B, D)
        weight = torch.where(video.mask, video.focus, 0)  # padded frames: nothing
        weight = weight / weight.amax(-1, keepdim=True).clamp_min(EPS)
        cue = self.cues[self._row[switch]].expand(B, D) if text is None else text.vector
        evidence = {"frames": video.features, "window": weight, "cue": cue}
        if text is not None:
            query = query + project(self.text_query, text)
        attn = time_attention(match_frames(video.features, query), video.focus, video.mask)
        # padded frames get exactly zero attention, so their content never reaches the sum
        pooled = weighted_sum(attn, video.features)  # (B, D)
        if text is not None:
            pooled = pooled * (1 + project(self.text_gate, text))
            if switch is Category.ACTIONS:  # the phrase names the one action it reads
                return Concept(self.out[switch.value](pooled), **evidence)
        row = self._row[switch]
        shift = self.union_shift[row].expand(B, D)
        gate = self.union_bias[row].expand(B, 1)
        if text is not None:
            shift = shift + project(self.union_text, text)
            gate = gate + project(self.union_gate, text)
        frames = video.features * self.union_scale[row] + shift[:, None]  # (B, T, D)
        union = (torch.relu(frames) * weight[..., None]).amax(dim=1)  # (B, D)
        vector = self.out[switch.value](pooled + torch.sigmoid(gate) * union)
        return Concept(vector, **evidence)


@register
class FilterFrame(nn.Module):
    """Per-frame concept features of a category: the objects / relations / actions at each frame.

    A per-category Linear over every frame, modulated by the text (FiLM: ``h * (1 + s) + b``,
    scale and shift from the projected phrase); padded frames are zeroed and the window is kept.
    The scale is signed: the bounded ``1 + tanh(s)`` it replaced is positive, so a phrase could
    weigh a feature but never flip it, and a relation could not be bound to its object (the
    product of the two is how the features hold the pair). Appears inside
    "first/last" questions, where a per-frame condition is tested ("the first time they were
    holding something"); feeds ``ExistsFrame`` and ``HasItem``.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.frame = nn.ModuleDict({c.value: nn.Linear(dim, dim) for c in Category})
        self.film = nn.Linear(dim, 2 * dim)

    def forward(self, switch: Category, video: Video, text: Concept | Text | None = None) -> Video:
        feats = self.frame[switch.value](video.features)  # (B, T, D)
        if text is not None:
            scale, shift = rearrange(project(self.film, text), "b (two d) -> two b 1 d", two=2)
            feats = feats * (1 + scale) + shift
        feats = torch.where(video.mask[..., None], feats, 0)
        return Video(feats, video.focus, video.mask)
