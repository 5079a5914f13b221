"""The copy (pointer) head: copy-marker logits computed by attention over the question words.

A seq2seq language-model head scores every output token by a dot product with a fixed embedding,
which makes "the 9th question word" a token like any other. :class:`CopyHead` replaces the logits
of the copy markers ``<q0>, <q1>, ...`` by **pointer scores**: a bilinear attention between the
decoder state and the encoder state of each source position (position ``i`` holds word ``i``), so
copying a word means attending to it -- whatever the word, seen in training or not.

It works with any ``transformers`` encoder-decoder without subclassing it: two hooks on the model
-- one on the decoder (remembers the encoder states and mask it is given, already expanded for beam
search) and one on the output head (rewrites the marker logits) -- so training, greedy decoding and
beam search all see the same logits.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from transformers import PreTrainedModel


class CopyHead(nn.Module):
    """Pointer scores over the source positions, written into the marker logits.

    ``d_model``: width of the encoder and decoder states; ``first_marker``: id of ``<q0>``
    (``<qi>`` is ``first_marker + i``); ``max_words``: number of markers.
    """

    def __init__(self, d_model: int, first_marker: int, max_words: int) -> None:
        super().__init__()
        self.query = nn.Linear(d_model, d_model)
        self.key = nn.Linear(d_model, d_model)
        self.first_marker, self.max_words = first_marker, max_words
        self._memory: tuple[torch.Tensor, torch.Tensor | None] | None = None
        self._hooks: list = []

    def attach(self, model: PreTrainedModel) -> None:
        """Hook into ``model`` (its decoder and output embedding layer)."""
        for hook in self._hooks:
            hook.remove()
        decoder, head = model.get_decoder(), model.get_output_embeddings()
        self._hooks = [
            decoder.register_forward_pre_hook(self._remember, with_kwargs=True),
            head.register_forward_hook(self._rewrite),
        ]

    def _remember(self, module, args, kwargs) -> None:
        states = kwargs.get("encoder_hidden_states")
        if states is None:
            return
        if self._memory is None or self._memory[0] is not states:  # decoding: once per batch
            keys = self.key(states[:, : self.max_words])  # (B, n, D)
            self._memory = (states, kwargs.get("encoder_attention_mask"), keys)

    def _rewrite(self, module, args, logits: torch.Tensor) -> torch.Tensor:
        if self._memory is None:
            return logits
        _, mask, keys = self._memory
        hidden = args[0]  # (B, L, D): what the output head reads
        n = keys.shape[1]
        scores = torch.einsum("bld,bnd->bln", self.query(hidden), keys) / math.sqrt(keys.shape[-1])
        if mask is not None:
            scores = scores.masked_fill(mask[:, None, :n] == 0, float("-inf"))
        logits = logits.clone()
        logits[..., self.first_marker : self.first_marker + n] = scores.to(logits.dtype)
        return logits
