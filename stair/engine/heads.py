"""Answer heads: from the root value of each question to logits over one global answer vocabulary.

:class:`TypedAnswerHead` (the default) answers exactly what the last step says, so the
explanation is faithful by construction (DESIGN.md section 5):

- a ``Bool`` root answers yes / no with its own probability (``logits = +-logit / 2``, so the
  softmax over the pair is ``sigmoid(logit)``); a root whose module answers before / after
  (its signature's ``answer_as``: ``Compare``) answers those alike;
- a ``Count`` root answers its count: its log-probabilities over 0..K;
- a ``Concept`` root is scored against the concept answers' bank embeddings (scaled cosine); a
  root whose module answers one of its options (``answer_as``: ``Choose``), when both options
  are answer words, answers with its own option probability.

Every other answer gets a large negative logit, and :class:`AnswerLogits` also carries the mask
of the answers valid for each question, so that one cross-entropy trains all question types.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from stair.engine.executor import Trace
from stair.programs.signatures import AnswerAs, VType
from stair.programs.tree import Phrase
from stair.values import ExecutionError

#: The logit of an answer a question's root cannot give.
INVALID = -1e4


class AnswerVocabulary:
    """The global answers: ``yes``, ``no``, ``before``, ``after``, ``0``..``K``, then concepts."""

    def __init__(self, concepts: Sequence[str], max_count: int = 10) -> None:
        fixed = ["yes", "no", "before", "after", *(str(k) for k in range(max_count + 1))]
        self.max_count = max_count
        self.concepts = [c for c in dict.fromkeys(concepts) if c not in fixed]
        self.answers = fixed + self.concepts
        self.index = {a: i for i, a in enumerate(self.answers)}
        self.count_ids = list(range(4, 4 + max_count + 1))
        self.concept_ids = [self.index[c] for c in self.concepts]

    def __len__(self) -> int:
        return len(self.answers)

    def encode(self, answers: Sequence[str]) -> Tensor:
        """Answer words -> indices (a KeyError names an answer outside the vocabulary)."""
        return torch.tensor([self.index[a] for a in answers], dtype=torch.long)

    def decode(self, logits: Tensor) -> list[str]:
        """The best answer word of each row of ``logits [B, A]``."""
        return [self.answers[i] for i in logits.argmax(-1).tolist()]


class AnswerLogits(NamedTuple):
    logits: Tensor  # [B, A]
    valid: Tensor  # [B, A] bool: the answers each question's root can give


class TypedAnswerHead(nn.Module):
    """The answer is read off the root value; see the module docstring.

    ``bank_names``: the concept bank's names in row order; every concept answer must be one.
    """

    def __init__(self, vocabulary: AnswerVocabulary, bank_names: Sequence[str]) -> None:
        super().__init__()
        self.vocabulary = vocabulary
        rows = {n: i for i, n in enumerate(bank_names)}
        missing = [c for c in vocabulary.concepts if c not in rows]
        if missing:
            raise ValueError(f"concept answers missing from the concept bank: {missing[:10]}")
        self.register_buffer("count_ids", torch.tensor(vocabulary.count_ids))
        self.register_buffer("concept_ids", torch.tensor(vocabulary.concept_ids, dtype=torch.long))
        self.register_buffer("concept_rows", torch.tensor([rows[c] for c in vocabulary.concepts]))
        self.log_scale = nn.Parameter(torch.tensor(math.log(10.0)))

    def forward(self, trace: Trace, bank_embeddings: Tensor) -> AnswerLogits:
        """Answer logits ``[B, A]`` for every question of ``trace``."""
        voc, device = self.vocabulary, self.count_ids.device
        roots = [tree.root for tree in trace.plan.trees]
        dtype = bank_embeddings.dtype
        logits = torch.full((len(trace), len(voc)), INVALID, dtype=dtype, device=device)
        valid = torch.zeros(len(trace), len(voc), dtype=torch.bool, device=device)
        bools = trace.roots(VType.BOOL)
        if bools is not None:
            trees, value = bools
            before_after = torch.tensor(
                [roots[b].signature.answer_as is AnswerAs.BEFORE_AFTER for b in trees.tolist()],
                device=device,
            )
            pos = torch.where(before_after, voc.index["before"], voc.index["yes"])
            neg = torch.where(before_after, voc.index["after"], voc.index["no"])
            half = value.logit.to(dtype) / 2
            logits[trees, pos], logits[trees, neg] = half, -half
            valid[trees, pos], valid[trees, neg] = True, True
        counts = trace.roots(VType.COUNT)
        if counts is not None:
            trees, value = counts
            if value.logits.shape[-1] != len(self.count_ids):
                raise ExecutionError(
                    f"Count gives 0..{value.logits.shape[-1] - 1}, the answers 0..{voc.max_count}"
                )
            logits[trees[:, None], self.count_ids] = value.logits.to(dtype)
            valid[trees[:, None], self.count_ids] = True
        concepts = trace.roots(VType.CONCEPT)
        if concepts is not None:
            trees, value = concepts
            answers = F.normalize(bank_embeddings.index_select(0, self.concept_rows), dim=-1)
            cos = F.normalize(value.vector.to(dtype), dim=-1) @ answers.T  # (R, C)
            logits[trees[:, None], self.concept_ids] = cos * self.log_scale.exp()
            valid[trees[:, None], self.concept_ids] = True
            self._by_option(trace, trees, logits, valid)
        return AnswerLogits(logits, valid)

    def _by_option(self, trace: Trace, trees: Tensor, logits: Tensor, valid: Tensor) -> None:
        """Option-answering roots over two answer words answer with their option probabilities."""
        index = self.vocabulary.index
        targets, cols, options = [], [], []
        for b in trees.tolist():
            root = trace.plan.trees[b].root
            words = [a.text for a in root.args[:2] if isinstance(a, Phrase)]
            by_option = root.signature.answer_as is AnswerAs.OPTION
            if not by_option or len(words) != 2 or not all(w in index for w in words):
                continue
            option = trace.root(b).option
            if option is None:
                continue
            targets.append(b)
            cols.append([index[w] for w in words])
            options.append(option)
        if not targets:
            return
        rows = torch.tensor(targets, device=logits.device)
        cols_t = torch.tensor(cols, device=logits.device)  # (R, 2)
        logits[rows] = INVALID
        valid[rows] = False
        logits[rows[:, None], cols_t] = torch.cat(options).log_softmax(-1).to(logits.dtype)
        valid[rows[:, None], cols_t] = True
