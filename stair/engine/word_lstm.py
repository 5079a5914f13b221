"""A one-layer BiLSTM over word embeddings, its input gates by table lookup.

An LSTM's input gates ``W_ih x_t + b`` depend on the word only, so over word embeddings they are
one row per vocabulary word: ``gates[v] = W_ih E[v] + b_ih + b_hh``, for each direction. With that
table (:func:`gate_tables`; :class:`GateTable` keeps it while the weights are unchanged, for
inference) running the LSTM needs only the recurrent half (``W_hh h_{t-1}``): over half of the
arithmetic at the word and hidden sizes of the paper's question encoder (300 and 256 a direction)
is gone, and in training its backward pass too (the gradient of each word's gates is summed into
its table row, then carried to ``E`` and ``W_ih`` once per vocabulary word, not once per word of
the batch).

:func:`bilstm_from_table` then runs both directions in one loop (a batched matmul per step), the
backward direction over each sequence reversed within its own length, and only the rows still
inside their sequence at each step (rows sorted by length, so they are a prefix). It gives what
``nn.LSTM`` gives on packed sequences: states ``[N, L, 2H]`` (zeros on padding) and the last
states of both directions ``[N, 2H]``; it is differentiable.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def gate_tables(embed: nn.Embedding, lstm: nn.LSTM) -> tuple[Tensor, Tensor]:
    """``(gates [V * 2, 4H], w_hh [2, H, 4H])`` of ``lstm`` over ``embed``'s words, both in
    ``(i, f, o, g)`` order (one sigmoid covers the first three); row ``2 v + d`` holds word
    ``v``'s gates for direction ``d``. Differentiable in the weights."""
    H = lstm.hidden_size
    order = torch.cat([torch.arange(2 * H), torch.arange(3 * H, 4 * H),
                       torch.arange(2 * H, 3 * H)]).to(embed.weight.device)  # fmt: skip
    E = embed.weight  # (V, W)
    if embed.padding_idx is not None:  # as nn.Embedding: the padding word's row learns nothing
        pad = torch.arange(len(E), device=E.device) == embed.padding_idx
        E = torch.where(pad[:, None], E.detach(), E)
    rows, w_hh = [], []
    for s in ("", "_reverse"):
        bias = getattr(lstm, f"bias_ih_l0{s}") + getattr(lstm, f"bias_hh_l0{s}")
        rows.append((E @ getattr(lstm, f"weight_ih_l0{s}").T + bias)[:, order])
        w_hh.append(getattr(lstm, f"weight_hh_l0{s}")[order].T)  # (H, 4H)
    return torch.stack(rows, dim=1).reshape(-1, 4 * H), torch.stack(w_hh)


class GateTable:
    """:func:`gate_tables`, cached for inference: rebuilt when a weight changes (optimiser step,
    ``load_state_dict``, ``.to()``), as it is keyed by each tensor's storage and version
    counter. With gradients enabled it is computed afresh (the weights change every step)."""

    def __init__(self) -> None:
        self._key: tuple | None = None
        self._tables: tuple[Tensor, Tensor] | None = None

    def __call__(self, embed: nn.Embedding, lstm: nn.LSTM) -> tuple[Tensor, Tensor]:
        if torch.is_grad_enabled():
            return gate_tables(embed, lstm)
        weights = [embed.weight, *lstm._flat_weights]
        key = (torch.is_inference_mode_enabled(), *((w.data_ptr(), w._version) for w in weights))
        if key != self._key:
            table, w_hh = gate_tables(embed, lstm)
            self._tables = table.contiguous(), w_hh.contiguous()
            self._key = key
        return self._tables  # type: ignore[return-value]


def supported(lstm: nn.LSTM) -> bool:
    """Whether :func:`bilstm_from_table` can run ``lstm`` (one bidirectional layer, biases)."""
    return (
        lstm.num_layers == 1 and lstm.bidirectional and lstm.bias and lstm.batch_first
        and lstm.proj_size == 0
    )  # fmt: skip


def bilstm_from_table(tables: tuple[Tensor, Tensor], words: Tensor) -> tuple[Tensor, Tensor]:
    """Run the BiLSTM over word ids ``[N, L]`` (0 = padding, at the end) from its gate tables.

    ``tables``: what :class:`GateTable` gives. Returns word states ``[N, L, 2H]`` (zeros on
    padding) and the last states ``[N, 2H]`` (forward at each sequence's last word, backward at
    its first), as ``run_lstm`` does.
    """
    table, w_hh = tables
    N, L = words.shape
    H = w_hh.shape[1]
    lengths, order = (words != 0).sum(-1).clamp_min(1).sort(descending=True)
    steps = int(lengths[0]) if N else 0
    words = words.index_select(0, order)[:, :steps]
    pos = torch.arange(steps, device=words.device)
    inside = pos < lengths[:, None]  # (N, S)
    reverse = torch.where(inside, lengths[:, None] - 1 - pos, pos)  # (N, S)
    # step t reads word t (forward) and word len-1-t (backward): table rows (S, 2, N)
    ids = torch.stack([words, words.gather(1, reverse)]).permute(2, 0, 1) * 2
    ids[:, 1] += 1  # the backward direction's half of each word's row
    live = inside.sum(0).tolist()  # rows still inside their sequence at each step: a prefix
    h = c = table.new_zeros(2, N, H)
    hs = []
    for t, n in enumerate(live):
        # this step's input gates, gathered per step (no [S, 2, N, 4H] buffer)
        g = table.index_select(0, ids[t, :, :n].flatten()).view(2, n, 4 * H)
        g = torch.baddbmm(g, h[:, :n], w_hh)  # (2, n, 4H)
        gates = torch.sigmoid(g[..., : 3 * H])
        i, f, o = gates.chunk(3, dim=-1)
        c = torch.addcmul(i * torch.tanh(g[..., 3 * H :]), f, c[:, :n])
        h = o * torch.tanh(c)
        hs.append(h if n == N else F.pad(h, (0, 0, 0, N - n)))  # rows past their end: zeros
    out = torch.stack(hs) if hs else table.new_zeros(0, 2, N, H)  # (S, 2, N, H)
    forward = out[:, 0].transpose(0, 1)  # (N, S, H), zeros past each length
    # the backward states back in word order (past a sequence's end: zeros, never written)
    backward = out[:, 1].transpose(0, 1).gather(1, reverse[..., None].expand(-1, -1, H))
    last_step = (lengths - 1)[None, :, None].expand(2, -1, H)[None]  # (1, 2, N, H)
    last = out.gather(0, last_step)[0]  # (2, N, H): each direction's state at its last step
    unsort = torch.empty_like(order)
    unsort[order] = torch.arange(N, device=order.device)
    states = torch.cat([forward, backward], dim=-1).index_select(0, unsort)  # (N, S, 2H)
    if steps < L:
        states = torch.cat([states, states.new_zeros(N, L - steps, 2 * H)], dim=1)
    return states, torch.cat([last[0], last[1]], dim=-1).index_select(0, unsort)
