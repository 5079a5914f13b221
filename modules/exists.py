"""Exists, ExistsFrame and HasItem: is a concept there (in a set, or at each frame)?"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from stair.modules.common import EPS, NEG, SimilarityLogit, match_frames, project
from stair.modules.registry import register
from stair.values import Bool, Concept, Frames, Text, Video


@register
class Exists(nn.Module):
    """Is the named concept among the filtered ones? Read off the frames the set was found in.

    When ``items`` carries its evidence (a ``Filter`` output: frame states ``f_t``, window
    ``w_t``, the filter's cue ``m``, its phrase or category), the logit is that of the focused
    frame that shows the item best, ``max_t (f_t . q / sqrt(D) + b + k log w_t)``, with the query
    ``q = A item + C m + U((G m) * (B item))``: the item, what the filter looked for, and their
    bound pair ("looking at" x "box": the box they looked at, not one they held). The pair is a
    low-rank trilinear match ``f . U((G m) * (B item))``: without ``U`` the product had to line
    up with the frame states' own coordinates, which the video encoder mixes. ``k`` (learned,
    starting at 1) sharpens a soft window's edge. The similarity of the item to the set's
    summary vector, ``scale * cos(W item, items) + bias``, is added to that logit (a product of
    the two experts' odds). Each covers the other's weakness: the summary vector cannot hold
    every member of a large set (alone it said "no" to members that pooling had blurred away),
    while the pair binding is learned from the pairs that training questions name and reads a
    pair never named together poorly ("were they holding the book?" in ``test_novel``, whose
    Filter finds the book: its ``exists`` answers 78.7 -> 89.4 % with the sum). Without
    evidence (a set from another module) the similarity alone is the reading. Appears in
    verification questions ("did they hold a phone before ..."); ``item`` is a phrase or an
    indirect reference. The Bool is the answer of an exists question, or feeds
    ``And``/``Or``/``Xor``/``Not`` and ``Compare``. Supervised by BCE; over a window, also each
    focused frame's reading (``frame_logit``, before the window and the similarity) against
    whether that frame shows the item: the best frame alone gave one label a question, and the
    frame reading read plain objects shown for ten frames as "no" on new videos (with it,
    Exists 94.3 -> 95.5 and ``test`` 94.8 -> 95.4 % on the demo's benchmark at seed 0). In
    training the same reading is also taken with every concept's name as the item
    (:meth:`read_every_concept`, the ``concepts`` context) and supervised, for the concepts of
    the set's category, by what each frame of the window holds (``Bool.concept_frame_logit``):
    with the cue "holding", every object held or not at each frame, not only the one asked;
    both per-frame terms weigh a frame that shows the item as much as one that does not. A
    pair's reading had been learned pair by pair, from the questions that name it (on new
    videos the visible pairs named 5-14 times in training were read wrong at 21 % of their
    frames, those named more often at 4 %); with every concept read, ``test`` 95.3 -> 96.0 %
    over three seeds on the demo's benchmark, Exists 95.8 -> 96.5.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.similarity = SimilarityLogit(dim)
        self.item = nn.Linear(dim, dim)
        self.item_bind = nn.Linear(dim, dim, bias=False)
        self.cue = nn.Linear(dim, dim, bias=False)
        self.cue_bind = nn.Linear(dim, dim, bias=False)
        self.bound = nn.Linear(dim, dim, bias=False)
        self.bias = nn.Parameter(torch.zeros(()))
        self.window_log_power = nn.Parameter(torch.zeros(()))

    def forward(
        self, item: Concept | Text, items: Concept, *, concepts: Tensor | None = None
    ) -> Bool:
        frames, window, cue = (getattr(items, k, None) for k in ("frames", "window", "cue"))
        if frames is None or window is None or cue is None:
            return Bool(self.similarity(item, items.vector))
        query = project(self.item, item) + self.cue(cue)
        query = query + self.bound(self.cue_bind(cue) * project(self.item_bind, item))
        frame_logit = match_frames(frames, query) + self.bias  # (B, T)
        log_window = window.clamp_min(EPS).log() * self.window_log_power.exp()
        logits = torch.where(window > 0, frame_logit + log_window, NEG).amax(-1)
        # a row without evidence (a set from another module, in a group with Filter's): zeros
        logits = torch.where(window.amax(-1) > 0, logits, 0)
        every = None
        if self.training and concepts is not None:
            every = self.read_every_concept(frames, cue, concepts)
        return Bool(logits + self.similarity(item, items.vector), frame_logit, every)

    def read_every_concept(self, frames: Tensor, cue: Tensor, concepts: Tensor) -> Tensor:
        """The frame reading with each concept (its name as a phrase) as the item: ``[B, V, T]``.

        The same match as the item's, ``f_t . (A c + C m + U((G m) * (B c))) / sqrt(D) + b``,
        computed as ``f_t . A c + f_t . C m + ((U^T f_t) * G m) . B c``: ``U`` meets the ``T``
        frames, not the ``V`` concepts.
        """
        items, bound = self.item(concepts), self.item_bind(concepts)  # (V, D) each
        plain = frames @ items.T + (frames * self.cue(cue)[:, None]).sum(-1, keepdim=True)
        unbound = (frames @ self.bound.weight) * self.cue_bind(cue)[:, None]  # (B, T, D)
        scores = (plain + unbound @ bound.T) / math.sqrt(frames.shape[-1]) + self.bias
        return scores.transpose(1, 2)  # (B, V, T)


@register
class ExistsFrame(nn.Module):
    """Per frame: does the named concept hold? ``sigmoid(h_t . W item / sqrt(D) + b)``.

    ``video`` carries per-frame concept features (from ``FilterFrame``); the probabilities are
    multiplied with its window. A bilinear match with a bias, as ``Localize``'s: the cosine it
    replaced shrank as a frame held more entities (its norm grows with them), so a crowded frame
    read "no" (ExistsFrame IoU 87.7 -> 92.0, Relate 85.4 -> 88.9 on the demo's ``test``).
    Appears as the condition of "first/last time they were <R> ..." questions; feeds
    ``Relate``, ``AndFrame``/``XorFrame``. Supervised by BCE per frame.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.query = nn.Linear(dim, dim)
        self.bias = nn.Parameter(torch.zeros(()))

    def forward(self, item: Concept | Text, video: Video) -> Frames:
        logits = match_frames(video.features, project(self.query, item)) + self.bias  # (B, T)
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
