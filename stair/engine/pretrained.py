"""A local ``transformers`` model as the question encoder (same interface as the BiLSTM one).

The batch holds word ids of STAIR's own word vocabulary (phrase spans are in those words), so
the encoder turns them back into words, lets the model's tokenizer split them into sub-words
(``is_split_into_words``), runs the model and averages each word's sub-word states: word states
``[B, L, H]`` line up with the batch's word positions and phrase spans. The sentence vector is
the first token's state. Nothing is downloaded: ``path`` is a folder written by
``save_pretrained`` (model and a fast tokenizer).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from stair.errors import StairError


class PretrainedQuestionEncoder(nn.Module):
    """``AutoModel.from_pretrained(path)`` + its tokenizer, projected to ``hidden``.

    ``words``: STAIR's word vocabulary (id -> word); the padding and unknown ids become the
    tokenizer's padding / unknown token.
    """

    def __init__(self, path: str | os.PathLike, words: Sequence[str], hidden: int) -> None:
        super().__init__()
        from transformers import AutoModel, AutoTokenizer

        if not os.path.isdir(path):
            raise StairError(f"pretrained question encoder: no such folder {str(path)!r}")
        self.path = str(path)
        self.model = AutoModel.from_pretrained(self.path)
        self.tokenizer = AutoTokenizer.from_pretrained(self.path)
        if not self.tokenizer.is_fast:
            raise StairError(f"{self.path}: a fast tokenizer is needed (it maps sub-words)")
        self.words = list(words)
        self.words[:2] = [self.tokenizer.pad_token or "", self.tokenizer.unk_token or ""]
        self.hidden = hidden
        self.proj = nn.Linear(self.model.config.hidden_size, hidden)

    def forward(self, words: Tensor) -> tuple[Tensor, Tensor]:
        B, L = words.shape
        lengths = (words != 0).sum(-1).tolist()
        texts = [
            [self.words[i] for i in row[:n]] or [self.words[1]]
            for row, n in zip(words.tolist(), lengths)
        ]
        enc = self.tokenizer(
            texts, is_split_into_words=True, padding=True, truncation=True, return_tensors="pt"
        )
        S = enc["input_ids"].shape[1]
        assign = torch.zeros(B, L, S)  # word <- its sub-words, averaged
        for b in range(B):
            for s, w in enumerate(enc.word_ids(b)):
                if w is not None and w < lengths[b]:
                    assign[b, w, s] = 1.0
        assign = assign / assign.sum(-1, keepdim=True).clamp_min(1)
        device = words.device
        out = self.model(**{k: v.to(device) for k, v in enc.items()}).last_hidden_state
        states = self.proj(assign.to(device, out.dtype) @ out)  # (B, L, H)
        return states, self.proj(out[:, 0])
