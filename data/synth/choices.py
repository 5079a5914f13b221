"""The multiple-choice variant of the synthetic benchmark: candidate answers for each question.

``stair synth --choices N`` gives every question its gold answer plus distractors of the
answer's own type, in ``metadata.options`` (the candidates, shuffled):

- a yes/no (before/after) question: both words, so two options whatever ``N``;
- a count: the gold count and ``N - 1`` other counts of ``0..max_count``;
- a concept (object, relation or action): the gold and ``N - 1`` other concepts of the same
  category; a ``Choose`` question keeps its other phrase option among them, so the question's
  own words never give the answer away.

Each question's options come from ``random.Random(f"{seed}/mc/{qid}")`` alone, so they do not
depend on the shards, the workers or the other questions.
"""

from __future__ import annotations

import random
from dataclasses import replace

from stair.data.dataset import QuestionRecord
from stair.data.synth.questions import compile_cached
from stair.data.synth.vocab import WorldVocabulary
from stair.programs import Phrase, VType

#: the answer words of a binary question, by either of them
PAIRS = {"yes": ("yes", "no"), "no": ("yes", "no"), "before": ("before", "after"),
         "after": ("before", "after")}  # fmt: skip


class ChoiceMaker:
    """Adds ``choices`` candidate answers to question records (see the module docstring).

    ``max_count``: the largest count answer (the worlds' most action instances).
    """

    def __init__(self, vocab: WorldVocabulary, choices: int, max_count: int, seed: int) -> None:
        if choices < 2:
            raise ValueError(f"a multiple-choice question needs at least 2 options, got {choices}")
        self.choices, self.seed = choices, seed
        self.counts = [str(k) for k in range(max_count + 1)]
        actions = [a.phrase for a in vocab.actions]
        self.category = {c: group for group in (vocab.objects, vocab.relations, actions)
                         for c in group}  # fmt: skip

    def distractors(self, record: QuestionRecord, rng: random.Random) -> list[str]:
        """The wrong options of ``record``, before shuffling."""
        answer = record.answer
        tree = compile_cached(record.program)
        if tree.type is VType.BOOL:
            return [w for w in PAIRS[answer] if w != answer]
        if tree.type is VType.COUNT:
            pool = [c for c in self.counts if c != answer]
            return rng.sample(pool, min(len(pool), self.choices - 1))
        group = self.category.get(answer)
        if group is None:
            raise ValueError(f"{record.qid}: the answer {answer!r} is not a synthetic concept")
        kept = [a.text for a in tree.root.args if isinstance(a, Phrase)]
        kept = [k for k in dict.fromkeys(kept) if k != answer and k in group]
        pool = [c for c in group if c != answer and c not in kept]
        wanted = max(0, self.choices - 1 - len(kept))
        return kept[: self.choices - 1] + rng.sample(pool, min(len(pool), wanted))

    def __call__(self, record: QuestionRecord) -> QuestionRecord:
        """``record`` with its options (the gold among them) in ``metadata.options``."""
        rng = random.Random(f"{self.seed}/mc/{record.qid}")
        options = [record.answer, *self.distractors(record, rng)]
        rng.shuffle(options)
        return replace(record, metadata=replace(record.metadata, options=tuple(options)))
