"""The batch every STAIR DataModule serves and every model step reads.

A :class:`QABatch` holds ``B`` questions over ``V <= B`` distinct videos (questions about the same
video share its row, so each video is encoded once per batch):

==================  ==================  =========================================================
field               shape / type        meaning
==================  ==================  =========================================================
qids                list[str]           question ids
trees               list[ModuleTree]    the compiled programs (gold, or generated)
questions           long [B, L]         word ids of the questions (0 = padding)
plan                Plan                the executor's groups and gathers (stair.engine.plan),
                                        built with the batch; ``plan.text_index`` maps phrase
                                        occurrences to rows ``P``
phrase_spans        long [P, 2]         ``[start, end)`` of row ``p``'s phrase in its question's
                                        words, or ``(-1, -1)`` when the question lacks it
phrase_words        long [P, Lp]        the phrase's own word ids (0 = padding)
video_ids           list[str]           the ``V`` distinct videos
video_index         long [B]            row of each question's video in ``features``
features            float [V, T, D]     per-frame features, zero-padded to the longest video
frame_mask          bool [V, T]         True on real frames, False on padding
timestamps          float [V, T]        seconds of each feature frame (0 on padding)
answers             long [B]            index in the answer vocabulary, or of the right candidate
                                        (``-1``: not in it, counted wrong)
golds               list[dict]          per question: node id -> gold tensor, read once from
                                        the symbolic executor's JSON gold by the node's value
                                        class (``Value.read_gold``, ``stair.values.tree_golds``):
                                        Video/Frames float [T] (0 past the video's frames),
                                        Concept multi-hot [V] over the bank, Bool float 0/1 [],
                                        Count long []; empty without golds
options             list[dict]          per question: option-answering (``Choose``) node id ->
                                        gold option (0/1, ``stair.values.choose_options``)
metadata            list[dict]          per question: family, semantic, structural, steps, split
candidates          Candidates | None   the candidate answers (``stair.engine.options``) of a
                                        multiple-choice batch: ``answers`` then index each
                                        question's candidates; None: a global answer vocabulary
==================  ==================  =========================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

import torch
from torch import Tensor

from stair.engine.options import Candidates
from stair.engine.plan import Plan, TextIndex
from stair.programs import ModuleTree


@dataclass
class QABatch:
    qids: list[str]
    trees: list[ModuleTree]
    questions: Tensor
    plan: Plan
    phrase_spans: Tensor
    phrase_words: Tensor
    video_ids: list[str]
    video_index: Tensor
    features: Tensor
    frame_mask: Tensor
    timestamps: Tensor
    answers: Tensor
    golds: list[dict[int, Tensor]] = field(default_factory=list)
    options: list[dict[int, int]] = field(default_factory=list)
    metadata: list[dict[str, Any]] = field(default_factory=list)
    candidates: Candidates | None = None

    def __len__(self) -> int:
        return len(self.trees)

    @property
    def text_index(self) -> TextIndex:
        """Which row of the phrase embeddings each phrase occurrence reads."""
        return self.plan.text_index

    def to(self, device: torch.device | str) -> QABatch:
        """The batch with every tensor (gold tensors and the plan included) on ``device``."""
        moved: dict[str, Any] = {"plan": self.plan.to(device)}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Tensor):
                moved[f.name] = value.to(device, non_blocking=True)
        if self.candidates is not None:
            moved["candidates"] = self.candidates.to(device)
        moved["golds"] = [
            {k: g.to(device, non_blocking=True) for k, g in d.items()} for d in self.golds
        ]
        return replace(self, **moved)
