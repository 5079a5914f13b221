"""Encoders: frame features -> frame states, question words -> word states, phrases -> vectors.

Pure ``nn.Module``s, batched and masked:

- :class:`VideoEncoder` runs once per distinct video of a batch (``[V, T, F] -> [V, T, H]``): a
  projection to the hidden size, then a BiLSTM (the paper's encoder) or a small Transformer,
  with a residual connection; padded frames are excluded (packed sequences, key padding mask)
  and zeroed in the output.
- :class:`QuestionEncoder` is a BiLSTM over learned word embeddings (``[B, L] -> [B, L, H]``
  plus a sentence vector; its input gates are looked up per word unless embedding dropout is on,
  :mod:`stair.engine.word_lstm`); :class:`PretrainedQuestionEncoder`
  (:mod:`stair.engine.pretrained`) is a
  local ``transformers`` model with the same interface.
- :func:`phrase_vectors` embeds the phrase arguments of the module trees: the mean of the
  question's word states over the phrase's span, or, when the question does not contain the
  phrase, of the phrase's own words run through the same question encoder (in the same run as
  the questions). Deterministic.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from stair.engine import word_lstm
from stair.modules.common import weighted_sum

VideoKind = Literal["lstm", "transformer"]


def run_lstm(lstm: nn.LSTM, inputs: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
    """A (bi)LSTM over padded sequences: states ``[N, L, H]`` (0 on padding), last states.

    Sequences are packed only when their lengths differ (the backward direction must start at
    each sequence's last real step); the last states are ``[N, H]``, both directions joined.
    """
    L = inputs.shape[1]
    lengths = lengths.clamp_min(1)
    if bool((lengths == L).all()):
        states, (h, _) = lstm(inputs)
    else:
        packed = pack_padded_sequence(inputs, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, (h, _) = lstm(packed)
        states, _ = pad_packed_sequence(out, batch_first=True, total_length=L)
    last = torch.cat([h[-2], h[-1]], dim=-1) if lstm.bidirectional else h[-1]  # (N, H)
    return states, last


class VideoEncoder(nn.Module):
    """Frame features ``[V, T, F]`` -> contextual frame states ``[V, T, H]``.

    ``proj(f_t) + context_t`` where ``context`` is a BiLSTM (``kind="lstm"``, each direction
    ``H / 2``) or a Transformer encoder over the projected frames; padded frames (``mask`` False)
    take no part and come out as zeros. When the sizes match (``F == H``), ``proj`` starts as
    the identity: the frame states start in the features' own coordinates, where an entity that
    is the elementwise product of two (a relation bound to its object) can be read by the
    modules' products; a random start mixes the coordinates and leaves the binding to be
    learned back (demo ``test``, with ``Filter``'s signed text scale: 93.2 -> 94.2 %).
    """

    def __init__(
        self,
        feature_dim: int,
        hidden: int,
        kind: VideoKind = "lstm",
        layers: int = 1,
        heads: int = 4,
        dropout: float = 0.1,
        max_frames: int = 256,
    ) -> None:
        super().__init__()
        if hidden % 2:
            raise ValueError(f"hidden must be even (two LSTM directions), got {hidden}")
        self.kind = kind
        self.proj = nn.Sequential(nn.Linear(feature_dim, hidden), nn.LayerNorm(hidden))
        if feature_dim == hidden:
            nn.init.eye_(self.proj[0].weight)
            nn.init.zeros_(self.proj[0].bias)
        self.dropout = nn.Dropout(dropout)
        if kind == "lstm":
            self.lstm = nn.LSTM(
                hidden, hidden // 2, num_layers=layers, batch_first=True, bidirectional=True
            )
        elif kind == "transformer":
            self.position = nn.Parameter(torch.zeros(max_frames, hidden))
            layer = nn.TransformerEncoderLayer(
                hidden, heads, 2 * hidden, dropout, batch_first=True, norm_first=True
            )
            self.transformer = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        else:
            raise ValueError(f"unknown video encoder {kind!r} (lstm or transformer)")
        self.norm = nn.LayerNorm(hidden)

    def forward(self, features: Tensor, mask: Tensor) -> Tensor:
        T = features.shape[1]
        x = self.dropout(self.proj(features))  # (V, T, H)
        if self.kind == "lstm":
            context, _ = run_lstm(self.lstm, x, mask.sum(-1))
        else:
            context = self.transformer(x + self.position[:T], src_key_padding_mask=~mask)
        out = self.norm(x + context)
        return torch.where(mask[..., None], out, 0)


class QuestionEncoder(nn.Module):
    """Word ids ``[B, L]`` (0 = padding) -> word states ``[B, L, H]`` and a sentence ``[B, H]``.

    Learned word embeddings and a BiLSTM (``H / 2`` per direction); the sentence vector joins the
    last states of both directions.
    """

    def __init__(
        self,
        num_words: int,
        hidden: int,
        word_dim: int = 300,
        layers: int = 1,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        if hidden % 2:
            raise ValueError(f"hidden must be even (two LSTM directions), got {hidden}")
        self.hidden = hidden
        self.embed = nn.Embedding(num_words, word_dim, padding_idx=0)
        self.dropout = nn.Dropout(dropout)
        self.lstm = nn.LSTM(
            word_dim, hidden // 2, num_layers=layers, batch_first=True, bidirectional=True
        )
        self._gates = word_lstm.GateTable()

    def forward(self, words: Tensor) -> tuple[Tensor, Tensor]:
        dropped = self.training and self.dropout.p > 0  # each word's own dropout mask: no table
        if word_lstm.supported(self.lstm) and not dropped:
            # input gates looked up per word (stair.engine.word_lstm): nn.LSTM's results
            return word_lstm.bilstm_from_table(self._gates(self.embed, self.lstm), words)
        states, last = run_lstm(self.lstm, self.dropout(self.embed(words)), (words != 0).sum(-1))
        return states, last


def pool_spans(states: Tensor, tree_of: Tensor, spans: Tensor) -> Tensor:
    """The mean of each phrase's span of its question's word states: ``[P, H]``, 0 if missing.

    ``states [B, L, H]``; ``tree_of [P]``: the question of each phrase; ``spans [P, 2]``:
    ``[start, end)`` or ``(-1, -1)``. Reads only the span's rows (a few words, not ``L``).
    """
    B, L, H = states.shape
    P = spans.shape[0]
    lengths = (spans[:, 1] - spans[:, 0]).clamp_min(0)  # (P,)
    width = max(int(lengths.max()), 1) if P else 1
    offsets = torch.arange(width, device=spans.device)
    rows = tree_of[:, None] * L + (spans[:, :1] + offsets).clamp(0, L - 1)  # (P, W)
    words = states.reshape(B * L, H).index_select(0, rows.flatten()).view(P, width, H)
    weights = (offsets < lengths[:, None]) / lengths.clamp_min(1)[:, None]  # (P, W)
    return weighted_sum(weights.to(states.dtype), words)


def phrase_vectors(
    encoder: nn.Module,
    questions: Tensor,
    tree_of: Tensor,
    spans: Tensor,
    phrase_words: Tensor,
) -> tuple[Tensor, Tensor]:
    """The embedding ``[P, H]`` of every phrase occurrence of a batch, and sentences ``[B, H]``.

    ``questions [B, L]``: word ids; ``tree_of [P]``: the question of each phrase row;
    ``spans [P, 2]``: its span in the question's words or ``(-1, -1)``; ``phrase_words
    [P, Lp]``: its own word ids. A phrase is the mean of the question's word states over its span;
    where the question lacks it, the mean of its own words' states. One run of ``encoder``
    encodes the questions and those phrases together.
    """
    B, L = questions.shape
    missing = (spans[:, 0] < 0).nonzero().flatten()
    own = phrase_words.index_select(0, missing)  # (M, Lp)
    width = max(L, own.shape[1])
    words = torch.cat([F.pad(questions, (0, width - L)), F.pad(own, (0, width - own.shape[1]))])
    states, last = encoder(words)  # (B + M, width, H), (B + M, H)
    out = pool_spans(states[:B], tree_of, spans)
    if len(missing):
        real = (words[B:] != 0).to(states.dtype)  # (M, width)
        real = real / real.sum(-1, keepdim=True).clamp_min(1)
        pooled = weighted_sum(real, states[B:])
        out = out.index_copy(0, missing, pooled.to(out.dtype))
    return out, last[:B]
