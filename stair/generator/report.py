"""Where the program generator goes wrong: exact match by program size, and the first wrong token.

:class:`SplitReport` tallies one evaluation split: exact match (the generated tree equals the
gold one) by the gold program's length in prefix tokens and by its depth, and for every miss
the position of the first token that differs from the gold and the grammar slot that token
fills in the gold program (``Temporal[after]/1``: argument 1 of ``Temporal[after]``; ``root``;
``... phrase`` inside a phrase; ``end``: the gold program had ended). :func:`report_lines`
renders every split and ends with the one-line summary :func:`summary_line`. Torch-free.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

#: width of a program-length and position bin, in prefix tokens
BIN = 16
#: the splits of the summary line, in its order
SUMMARY_SPLITS = ("test", "test_novel", "test_more_steps")


def first_difference(gold: Sequence[str], predicted: Sequence[str]) -> int:
    """The position of the first token where ``predicted`` differs from ``gold`` (a program
    that stops early or goes on differs at the shorter one's length)."""
    for i, (g, p) in enumerate(zip(gold, predicted)):
        if g != p:
            return i
    return min(len(gold), len(predicted))


def _bin(value: int) -> str:
    low = value // BIN * BIN
    return f"{low}-{low + BIN - 1}"


@dataclass
class SplitReport:
    """The tallies of one split (see the module docstring)."""

    questions: int = 0
    exact: int = 0
    compiled: int = 0
    seconds: float = 0.0
    by_length: Counter = field(default_factory=Counter)  # bin -> questions
    exact_by_length: Counter = field(default_factory=Counter)
    by_depth: Counter = field(default_factory=Counter)
    exact_by_depth: Counter = field(default_factory=Counter)
    wrong_at: Counter = field(default_factory=Counter)  # position bin -> misses
    wrong_slot: Counter = field(default_factory=Counter)  # slot name -> misses

    def add(self, gold: Sequence[str], predicted: Sequence[str], depth: int, exact: bool,
            compiled: bool, slot_at: Sequence[str]) -> None:  # fmt: skip
        """One question: gold and generated prefix tokens, the gold tree's depth, whether the
        trees are equal and the output compiled, and the slot of each gold target position."""
        self.questions += 1
        self.exact += exact
        self.compiled += compiled
        length = _bin(len(gold))
        self.by_length[length] += 1
        self.exact_by_length[length] += exact
        self.by_depth[depth] += 1
        self.exact_by_depth[depth] += exact
        if not exact:
            at = first_difference(gold, predicted)
            self.wrong_at[_bin(at)] += 1
            self.wrong_slot[slot_at[at] if at < len(slot_at) else "end"] += 1

    @property
    def exact_match(self) -> float:
        return self.exact / max(self.questions, 1)

    def lines(self, split: str, beams: int) -> list[str]:
        """The split's figures as text lines."""
        n = max(self.questions, 1)
        rate = self.questions / max(self.seconds, 1e-9)
        out = [
            f"{split}: {self.questions} questions, exact match {100 * self.exact / n:.1f} %, "
            f"compiles {100 * self.compiled / n:.1f} %, {rate:.1f} programs/s (beams {beams})"
        ]

        def share(total: Counter, right: Counter, key) -> str:
            return f"{key}: {100 * right[key] / total[key]:.1f} % of {total[key]}"

        def by_start(bins) -> list[str]:
            return sorted(bins, key=lambda b: int(b.split("-")[0]))

        rows = {
            "by length (tokens)": [
                share(self.by_length, self.exact_by_length, b) for b in by_start(self.by_length)
            ],
            "by depth": [
                share(self.by_depth, self.exact_by_depth, d) for d in sorted(self.by_depth)
            ],
        }
        if self.wrong_at:
            rows["first wrong token at position"] = [
                f"{b}: {self.wrong_at[b]}" for b in by_start(self.wrong_at)
            ]
            rows["first wrong token in slot"] = [
                f"{s}: {c}" for s, c in self.wrong_slot.most_common(6)
            ]
        return out + [f"  {title}: " + "; ".join(items) for title, items in rows.items()]


def summary_line(reports: Mapping[str, SplitReport]) -> str:
    """``exact match: test X.X %, test_novel Y.Y %, test_more_steps Z.Z %`` (the splits
    evaluated, of those three)."""
    parts = [f"{s} {100 * reports[s].exact_match:.1f} %" for s in SUMMARY_SPLITS if s in reports]
    return "exact match: " + ", ".join(parts)


def report_lines(reports: Mapping[str, SplitReport], beams: int) -> list[str]:
    """Every split's lines, then the summary line."""
    lines = [line for split, r in reports.items() for line in r.lines(split, beams)]
    return [*lines, summary_line(reports)]
