"""Question-only baseline: how far the question text alone predicts the answer.

Fitted on ``train``: the most frequent answer per (template, question text), falling back to the
most frequent answer of the template, then of the whole split. Scored on ``test`` (or
``--split``), per answer kind. A balanced benchmark keeps the yes/no figure near 50 %; the
synthetic benchmark promises at most 60 %.

Usage::

    python bench/question_only.py datasets/synth [--split test]
"""

from __future__ import annotations

import argparse
from collections import Counter, defaultdict

from stair.data.datamodule import QADataModule
from stair.data.dataset import QuestionRecord


def _kind(answer: str) -> str:
    if answer in ("yes", "no"):
        return "yes/no"
    if answer in ("before", "after"):
        return "before/after"
    return "count" if answer.isdigit() else "open"


class QuestionOnly:
    """Most frequent train answer per (template, text), then per template, then overall."""

    def __init__(self, train: list[QuestionRecord]) -> None:
        by_text: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
        by_template: dict[str, Counter[str]] = defaultdict(Counter)
        overall: Counter[str] = Counter()
        for q in train:
            by_text[q.metadata.template, q.question][q.answer] += 1
            by_template[q.metadata.template][q.answer] += 1
            overall[q.answer] += 1
        self.by_text = {k: _top(c) for k, c in by_text.items()}
        self.by_template = {k: _top(c) for k, c in by_template.items()}
        self.overall = _top(overall)

    def predict(self, q: QuestionRecord) -> str:
        key = (q.metadata.template, q.question)
        return self.by_text.get(key) or self.by_template.get(q.metadata.template) or self.overall


def _top(counts: Counter[str]) -> str:
    """The most frequent answer (ties: the alphabetically first, for determinism)."""
    return min(counts, key=lambda a: (-counts[a], a))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", help="a folder written by `stair synth`")
    parser.add_argument("--split", default="test", help="split to score (default: test)")
    args = parser.parse_args()
    data = QADataModule(args.dataset)
    model = QuestionOnly(data.records("train"))
    right: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for q in data.records(args.split):
        kind = _kind(q.answer)
        total[kind] += 1
        right[kind] += model.predict(q) == q.answer
    print(
        f"question-only baseline, fitted on train ({len(data.records('train'))} questions),"
        f" scored on {args.split}:"
    )
    for kind in ("yes/no", "before/after", "count", "open"):
        if total[kind]:
            print(
                f"  {kind:<13} {100 * right[kind] / total[kind]:5.1f} %  ({total[kind]} questions)"
            )
    print(f"  {'all':<13} {100 * sum(right.values()) / sum(total.values()):5.1f} %")


if __name__ == "__main__":
    main()
