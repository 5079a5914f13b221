"""The program grammar at work: masking decoder scores, and the allowed tokens of gold targets.

:class:`GrammarConstraint` applies a :class:`~stair.generator.grammar.ProgramGrammar` to a
(beam) batch as a ``transformers.LogitsProcessor``: every token the grammar forbids is masked, so
decoding only produces complete, well-typed programs. :class:`AllowedSets` walks gold targets
through the same automaton and records, per position, which tokens were allowed and the grammar
context, for training with the loss restricted to those tokens.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import LogitsProcessor

from stair.generator.grammar import INF, ProgramGrammar, State


class GrammarConstraint(LogitsProcessor):
    """Masks every token the grammar forbids, for each row of a (beam) batch.

    ``question_lengths``: words of each question (rows are grouped by question: beams and
    returned sequences of question ``i`` are rows ``i*k .. i*k+k-1``); ``max_new_tokens``: the
    generation limit the completion budget is measured against; ``start``: tokens in front of the
    generated ones (T5's decoder start token). Returns log-probabilities renormalised over the
    allowed tokens.
    """

    def __init__(
        self,
        grammar: ProgramGrammar,
        question_lengths: Sequence[int],
        max_new_tokens: int,
        start: int = 1,
    ) -> None:
        self.grammar, self.qlens = grammar, list(question_lengths)
        self.max_new_tokens, self.start = max_new_tokens, start
        self._states: dict[tuple[int, ...], State] = {}

    def state(self, qlen: int, prefix: tuple[int, ...]) -> State:
        """The automaton state after ``prefix`` (cached by prefix, built from its parent's)."""
        key = (qlen, *prefix)
        found = self._states.get(key)
        if found is None:
            parent = self.grammar.initial(qlen) if not prefix else self.state(qlen, prefix[:-1])
            found = self.grammar.step(parent, prefix[-1], qlen) if prefix else parent
            if found is None:
                found = ((), -1)  # an outside forced token (never from this processor): finish
            self._states[key] = found
        return found

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        rows, length = input_ids.shape
        per = max(1, rows // max(1, len(self.qlens)))
        budget = self.max_new_tokens - (length - self.start)
        live = {}
        rows_idx: list[int] = []
        cols_idx: list[int] = []
        for row, ids in enumerate(input_ids[:, self.start :].tolist()):
            qlen = self.qlens[min(row // per, len(self.qlens) - 1)]
            prefix = tuple(ids)
            state = self.state(qlen, prefix)
            live[(qlen, *prefix)] = state
            allowed = self.grammar.allowed(state, qlen, budget) or [self.grammar.eos_id]
            rows_idx.extend([row] * len(allowed))
            cols_idx.extend(allowed)
        self._states = live  # only the current prefixes can be extended next step
        mask = torch.ones_like(scores, dtype=torch.bool)
        mask[rows_idx, cols_idx] = False
        return scores.masked_fill(mask, float("-inf")).log_softmax(-1)


class AllowedSets:
    """Which tokens the grammar allows at each position of gold targets (for masked training).

    Distinct allowed sets are few, so each is stored once as a row of a ``(K, V)`` table and a
    target position refers to its row; row 0 allows everything (padding positions).
    """

    def __init__(self, grammar: ProgramGrammar, vocab_size: int) -> None:
        self.grammar, self.vocab_size = grammar, vocab_size
        self._rows: dict[frozenset[int], int] = {frozenset(range(vocab_size)): 0}
        self._by_state: dict[tuple[State, int], int] = {}
        self._table = torch.ones(1, vocab_size, dtype=torch.bool)
        self._targets: dict[tuple[tuple[int, ...], int], tuple[list, list]] = {}

    def _row(self, state: State, qlen: int) -> int:
        key = (state, qlen)
        row = self._by_state.get(key)
        if row is None:
            allowed = frozenset(self.grammar.allowed(state, qlen, INF))
            row = self._rows.setdefault(allowed, len(self._rows))
            self._by_state[key] = row
        return row

    def rows(
        self, target: Sequence[int], qlen: int
    ) -> tuple[list[int], list[tuple[int, int, int]]]:
        """The allowed-set row and the grammar context (:meth:`ProgramGrammar.context`) of each
        position of ``target`` (ids ending with EOS); remembered, as each epoch asks again."""
        key = (tuple(target), qlen)
        found = self._targets.get(key)
        if found is None:
            found = self._targets[key] = self._walk(target, qlen)
        return found

    def _walk(
        self, target: Sequence[int], qlen: int
    ) -> tuple[list[int], list[tuple[int, int, int]]]:
        state: State | None = self.grammar.initial(qlen)
        rows, contexts = [], []
        for token in target:
            if state is None:
                raise ValueError(f"target {list(target)} is not in the grammar")
            rows.append(self._row(state, qlen))
            contexts.append(self.grammar.context(state))
            state = self.grammar.step(state, token, qlen)
        return rows, contexts

    def table(self) -> torch.Tensor:
        """``(K, V)`` bool: row ``k`` marks the tokens allowed by allowed set ``k``."""
        if self._table.shape[0] < len(self._rows):
            table = torch.zeros(len(self._rows), self.vocab_size, dtype=torch.bool)
            for allowed, row in self._rows.items():
                table[row, list(allowed)] = True
            self._table = table
        return self._table
