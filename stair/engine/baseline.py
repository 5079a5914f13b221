"""The black-box baseline: question encoder + attention over frames -> answer, no program.

The comparison the module network is measured against: the same video and question encoders
and the same answer vocabulary, but no program, no modules and no intermediate values. The
question vector attends over the frame states in a few hops (each hop reads a masked softmax
attention and updates the query), and an MLP scores every answer. It sees neither the program
nor the answer type, so its answers cannot be explained step by step.

It answers as the module network does (``vocabularies["answer_mode"]``): an MLP scores every
answer of the global (``vocabulary``) or open top-K (``open``) vocabulary; for multiple choice,
an MLP scores each candidate (encoded by the same question encoder) against the final query,
and padding candidates are masked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from einops import einsum
from torch import nn

from stair.engine.batch import QABatch
from stair.engine.heads import INVALID, AnswerVocabulary
from stair.engine.model import ModelOutput
from stair.engine.network import (
    DEFAULT_NETWORK,
    Network,
    build_question_encoder,
    build_video_encoder,
)
from stair.engine.options import OpenVocabulary, candidate_mode, encode_candidates
from stair.modules.common import NEG
from stair.values import ExecutionError


class BlackBoxBaseline(nn.Module):
    """``MLP(query after hops of attention over the frames) -> logits over every answer``.

    ``network``: the hyper-parameters it shares with the module network; ``hops``: attention
    hops over the frames.
    """

    def __init__(
        self, vocabularies: Mapping[str, Any], network: Network = DEFAULT_NETWORK, hops: int = 2
    ) -> None:
        super().__init__()
        hidden, dropout = network.hidden, network.dropout
        self.video_encoder = build_video_encoder(vocabularies, network)
        self.question_encoder = build_question_encoder(vocabularies, network)
        self.answer_mode = vocabularies.get("answer_mode", "vocabulary")
        self.answer_vocabulary: AnswerVocabulary | OpenVocabulary | None
        if self.answer_mode == "vocabulary":
            self.answer_vocabulary = AnswerVocabulary(
                list(vocabularies["answers"]), int(vocabularies["max_count"])
            )
        else:
            self.answer_vocabulary, _ = candidate_mode(self.answer_mode, vocabularies)
        self.keys = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(hops))
        self.updates = nn.ModuleList(
            nn.Sequential(nn.Linear(3 * hidden, hidden), nn.GELU(), nn.Dropout(dropout))
            for _ in range(hops)
        )
        self.norms = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(hops))
        if self.answer_vocabulary is None:  # multiple choice: [query, option, product] -> score
            self.score = nn.Sequential(
                nn.Linear(3 * hidden, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, 1)
            )  # fmt: skip
            return
        self.out = nn.Sequential(
            nn.Linear(hidden, hidden),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, len(self.answer_vocabulary)),
        )

    def forward(self, batch: QABatch) -> ModelOutput:
        frames = self.video_encoder(batch.features, batch.frame_mask)  # (V, T, H)
        frames = frames.index_select(0, batch.video_index)  # (B, T, H)
        mask = batch.frame_mask.index_select(0, batch.video_index)
        _, query = self.question_encoder(batch.questions)  # (B, H)
        scale = frames.shape[-1] ** -0.5
        for key, update, norm in zip(self.keys, self.updates, self.norms):
            scores = einsum(frames, key(query), "b t h, b h -> b t") * scale
            attn = scores.masked_fill(~mask, NEG).softmax(-1)
            read = einsum(attn, frames, "b t, b t h -> b h")
            query = norm(query + update(torch.cat([query, read, query * read], dim=-1)))
        if self.answer_vocabulary is not None:
            logits = self.out(query)
            return ModelOutput(logits, torch.ones_like(logits, dtype=torch.bool))
        if batch.candidates is None:
            raise ExecutionError("a multiple-choice model needs each question's options")
        candidates = batch.candidates.to(query.device)
        options = encode_candidates(self.question_encoder, candidates.words)  # (C, H)
        keys = options[candidates.rows.clamp_min(0)]  # (B, N, H)
        query = query[:, None].expand_as(keys)
        scores = self.score(torch.cat([query, keys, query * keys], dim=-1)).squeeze(-1)  # (B, N)
        valid = candidates.mask
        logits = scores.masked_fill(~valid, INVALID)
        return ModelOutput(logits, valid, candidates=candidates.texts)
