"""Answering among candidates: multiple-choice options, or an open top-K answer vocabulary.

Three answer modes (``Vocabularies.answer_mode``, from the dataset's ``meta.json`` "answers"):

- ``vocabulary`` (the synthetic benchmark's default): one global answer vocabulary, read off
  the root by :class:`~stair.engine.heads.TypedAnswerHead`;
- ``multiple_choice``: each question has its own candidates (``metadata.options``); the answer
  is the index of the right one, and padding candidates are masked;
- ``open``: every question's candidates are the K most frequent training answers plus
  :data:`UNKNOWN` (MSRVTT-QA's protocol: a training answer outside the K trains as
  :data:`UNKNOWN`; an evaluation answer outside them counts as wrong).

:class:`Candidates` is how a batch carries them: the distinct candidate texts as word ids, and
per question the row of each of its candidates. :class:`CandidateHead` scores every candidate
against its question's root value, for every root type (roots are Bool, Count or Concept):

- a candidate the root type reads itself is scored as :class:`TypedAnswerHead` scores it, so
  the answer is still what the last step says: yes / no (before / after) get ``+-logit / 2``,
  a count ``k`` its log-probability, a concept of the bank its scaled cosine with the root's
  vector, and a ``Choose`` root whose two phrase options are both candidates answers with its
  option probabilities (its other candidates are invalid);
- any other candidate text (a NExT-QA sentence, an open answer word) is encoded like a phrase
  and scored by scaled cosine: a Concept root's vector against it, a Bool or Count root's value
  together with the question (a learned projection) against it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from stair.engine.executor import Trace
from stair.engine.heads import INVALID, AnswerLogits
from stair.modules.common import weighted_sum
from stair.programs.signatures import AnswerAs, VType
from stair.programs.text import WordVocabulary, tokenize
from stair.programs.tree import Phrase

AnswerMode = Literal["vocabulary", "multiple_choice", "open"]
ANSWER_MODES = ("vocabulary", "multiple_choice", "open")
#: the open vocabulary's bucket for every answer outside the K most frequent
UNKNOWN = "<unk>"
#: candidate word -> (polarity, what the root means): the answer words of a Bool root
_BOOL_WORDS = {
    "yes": (1.0, AnswerAs.VALUE), "no": (-1.0, AnswerAs.VALUE),
    "before": (1.0, AnswerAs.BEFORE_AFTER), "after": (-1.0, AnswerAs.BEFORE_AFTER),
}  # fmt: skip


class OpenVocabulary:
    """The open answers: the K most frequent training answers (``answers``), then
    :data:`UNKNOWN`. ``index`` maps each answer word to its column."""

    def __init__(self, answers: Sequence[str]) -> None:
        self.answers = [a for a in dict.fromkeys(answers) if a != UNKNOWN] + [UNKNOWN]
        self.index = {a: i for i, a in enumerate(self.answers)}
        self.unknown = self.index[UNKNOWN]

    def __len__(self) -> int:
        return len(self.answers)

    def decode(self, logits: Tensor) -> list[str]:
        """The best answer word of each row of ``logits [B, A]``."""
        return [self.answers[i] for i in logits.argmax(-1).tolist()]


@dataclass
class Candidates:
    """The candidate answers of a batch's questions.

    ``texts``: per question, its candidates in order; ``words [C, Lc]``: word ids of the
    distinct candidate texts (0 = padding); ``rows [B, N]``: the row of ``words`` of each
    question's candidate ``n`` (-1: padding, past the question's last candidate).
    """

    texts: list[list[str]]
    words: Tensor
    rows: Tensor
    distinct: list[str]  # the text of each row of ``words``

    @classmethod
    def build(cls, texts: Sequence[Sequence[str]], vocab: WordVocabulary) -> Candidates:
        """Candidates from each question's candidate texts (a text shared by several questions,
        or the whole open vocabulary, is encoded once)."""
        distinct = list(dict.fromkeys(t for row in texts for t in row))
        at = {t: i for i, t in enumerate(distinct)}
        ids = [vocab.encode(tokenize(t)) or [1] for t in distinct]  # 1: unknown word
        words = torch.zeros(len(distinct), max([len(w) for w in ids] + [1]), dtype=torch.long)
        for i, w in enumerate(ids):
            words[i, : len(w)] = torch.as_tensor(w, dtype=torch.long)
        rows = torch.full((len(texts), max([len(r) for r in texts] + [1])), -1, dtype=torch.long)
        for b, row in enumerate(texts):
            rows[b, : len(row)] = torch.as_tensor([at[t] for t in row], dtype=torch.long)
        return cls([list(r) for r in texts], words, rows, distinct)

    @property
    def mask(self) -> Tensor:
        """``[B, N]`` bool: True on each question's real candidates."""
        return self.rows >= 0

    def expand(self, batch: int) -> Candidates:
        """The candidates of one question (the open vocabulary) as every question's of a batch."""
        return Candidates(self.texts[:1] * batch, self.words, self.rows[:1].expand(batch, -1),
                          self.distinct)  # fmt: skip

    def to(self, device: torch.device | str) -> Candidates:
        return Candidates(self.texts, self.words.to(device), self.rows.to(device), self.distinct)


def candidate_mode(
    mode: str, vocabularies: Mapping[str, Any]
) -> tuple[OpenVocabulary | None, Candidates | None]:
    """A candidate-answering model's answer vocabulary and fixed candidates: the open
    vocabulary and its answers for ``open``, neither for ``multiple_choice`` (each question
    brings its own)."""
    if mode == "multiple_choice":
        return None, None
    if mode != "open":
        raise ValueError(f"unknown answer mode {mode!r} (one of {', '.join(ANSWER_MODES)})")
    vocabulary = OpenVocabulary(list(vocabularies["answers"]))
    words = WordVocabulary(vocabularies["words"])
    return vocabulary, Candidates.build([vocabulary.answers], words)


def encode_candidates(encoder: nn.Module, words: Tensor) -> Tensor:
    """Each candidate text ``words [C, Lc]`` as the mean of its word states, ``[C, H]``."""
    states, _ = encoder(words)  # (C, Lc, H)
    real = (words != 0).to(states.dtype)
    return weighted_sum(real / real.sum(-1, keepdim=True).clamp_min(1), states)


class CandidateHead(nn.Module):
    """Scores every candidate against its question's root value (see the module docstring).

    ``hidden``: the size of concept vectors, phrases and sentences; ``max_count``: a Count
    root gives 0..``max_count``; ``bank_names``: the concept bank's names in row order.
    """

    def __init__(self, hidden: int, max_count: int, bank_names: Sequence[str]) -> None:
        super().__init__()
        self.max_count = max_count
        self.bank_rows = {n: i for i, n in enumerate(bank_names)}
        self.log_scale = nn.Parameter(torch.tensor(math.log(10.0)))
        # a Bool's logit / a Count's log-probabilities, with the question, -> a candidate vector
        self.reads = nn.ModuleDict({
            str(VType.BOOL): nn.Linear(1 + hidden, hidden),
            str(VType.COUNT): nn.Linear(max_count + 1 + hidden, hidden),
        })  # fmt: skip

    def _cosine(self, query: Tensor, keys: Tensor) -> Tensor:
        """Scaled cosine of each query ``[R, H]`` with its own keys ``[R, N, H]``, ``[R, N]``."""
        cos = torch.einsum("rh,rnh->rn", F.normalize(query, dim=-1), F.normalize(keys, dim=-1))
        return cos * self.log_scale.exp()

    def forward(
        self,
        trace: Trace,
        bank_embeddings: Tensor,
        candidates: Candidates,
        vectors: Tensor,
        sentence: Tensor,
    ) -> AnswerLogits:
        """Logits ``[B, N]`` over each question's candidates, and the valid ones.

        ``vectors [C, H]``: the encoded candidate texts (rows of ``candidates.words``);
        ``sentence [B, H]``: the questions.
        """
        device, dtype = bank_embeddings.device, bank_embeddings.dtype
        rows = candidates.rows.to(device)
        B, N = rows.shape
        safe = rows.clamp_min(0)
        logits = torch.full((B, N), INVALID, dtype=dtype, device=device)
        valid = torch.zeros(B, N, dtype=torch.bool, device=device)
        texts = candidates.distinct
        keys = vectors.to(dtype)[safe]  # (B, N, H)
        roots = [tree.root for tree in trace.plan.trees]

        bools = trace.roots(VType.BOOL)
        if bools is not None:
            trees, value = bools
            logit = value.logit.to(dtype)
            learned = self._learned(VType.BOOL, logit[:, None], sentence[trees], keys[trees])
            means = [roots[b].signature.answer_as for b in trees.tolist()]
            polarity = torch.tensor(
                [[_polarity(texts[c], m) for c in r] for r, m in zip(safe[trees].tolist(), means)],
                dtype=dtype, device=device,
            )  # fmt: skip
            score = torch.where(polarity != 0, polarity * logit[:, None] / 2, learned)
            self._put(logits, valid, trees, score, rows)
        counts = trace.roots(VType.COUNT)
        if counts is not None:
            trees, value = counts
            log_probs = value.logits.to(dtype)  # (R, K+1)
            learned = self._learned(VType.COUNT, log_probs, sentence[trees], keys[trees])
            k = torch.tensor([_count(t, self.max_count) for t in texts], device=device)[safe]
            k = k[trees]  # (R, N)
            typed = log_probs.gather(1, k.clamp_min(0))
            self._put(logits, valid, trees, torch.where(k >= 0, typed, learned), rows)
        concepts = trace.roots(VType.CONCEPT)
        if concepts is not None:
            trees, value = concepts
            bank = torch.tensor([self.bank_rows.get(t, -1) for t in texts], device=device)[safe]
            bank = bank[trees]  # (R, N)
            named = bank_embeddings.index_select(0, bank.clamp_min(0).flatten()).view(
                *bank.shape, -1
            )  # (R, N, H)
            targets = torch.where((bank >= 0)[..., None], named.to(dtype), keys[trees])
            score = self._cosine(value.vector.to(dtype), targets)
            self._put(logits, valid, trees, score, rows)
            self._by_option(trace, trees, candidates, logits, valid)
        return AnswerLogits(logits, valid)

    def _learned(self, vtype: VType, reading: Tensor, sentence: Tensor, keys: Tensor) -> Tensor:
        """A Bool or Count root's ``reading [R, *]`` and its question against the candidates."""
        query = self.reads[str(vtype)](torch.cat([reading, sentence.to(reading)], dim=-1))
        return self._cosine(query, keys)

    @staticmethod
    def _put(logits: Tensor, valid: Tensor, trees: Tensor, score: Tensor, rows: Tensor) -> None:
        real = rows[trees] >= 0
        logits[trees] = torch.where(real, score, torch.full_like(score, INVALID))
        valid[trees] = real

    @staticmethod
    def _by_option(
        trace: Trace, trees: Tensor, candidates: Candidates, logits: Tensor, valid: Tensor
    ) -> None:
        """A ``Choose`` root whose two options are both candidates answers with its option
        probabilities; its other candidates are invalid (it cannot answer them)."""
        for b in trees.tolist():
            root = trace.plan.trees[b].root
            words = [a.text for a in root.args[:2] if isinstance(a, Phrase)]
            texts = candidates.texts[b]
            option = trace.root(b).option
            if root.signature.answer_as is not AnswerAs.OPTION or option is None:
                continue
            if len(words) != 2 or not all(w in texts for w in words):
                continue
            cols = torch.tensor([texts.index(w) for w in words], device=logits.device)
            logits[b] = INVALID
            valid[b] = False
            logits[b, cols] = option[0].log_softmax(-1).to(logits.dtype)
            valid[b, cols] = True


def _polarity(text: str, means: AnswerAs) -> float:
    """+1 / -1 for a Bool root's own true / false answer word, 0 for any other text."""
    polarity, meaning = _BOOL_WORDS.get(text, (0.0, None))
    return polarity if meaning is means else 0.0


def _count(text: str, max_count: int) -> int:
    """The count a candidate text says (``"3"`` -> 3), or -1 when it is not one of 0..K."""
    return int(text) if text.isdigit() and int(text) <= max_count else -1
