"""Evaluation metrics: answer accuracy by question kind, and the quality of every step.

A :class:`Tally` keeps running sums and counts per metric name, merges across processes and
turns into means. Names:

- ``acc``: answer accuracy; ``family/<f>``, ``template/<t>``, ``semantic/<s>``,
  ``structural/<s>``, ``steps/<n>``, ``split/<s>``: the same restricted to the questions with
  that metadata (a benchmark's question type code is its ``template``, its reporting group its
  ``family``);
- ``fallback``: in a folder without annotations, the share of questions answered through the
  fallback program (no usable generated one: :mod:`stair.data.programs_source`);
  ``fallback/acc`` and ``program/acc``: answer accuracy on those and on the others;
- ``program/exact``: on generated programs, the share that equal the gold program;
  ``program/right_acc``, ``program/wrong_acc``: answer accuracy where it does and where it does
  not;
- ``module/<Module>/<metric>``: intermediate quality of one module against its golds, by its
  output type: ``iou`` (Frames and Video: IoU of the frames at >= 0.5 with the gold frames),
  ``top1`` and ``recall@5`` (Concept: the nearest concept of the gold's category is a gold
  one; share of the gold set, up to 5, in the 5 nearest), ``acc`` (Bool, Count).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

from stair.engine.executor import Trace
from stair.engine.losses import Supervised, concept_space, supervised
from stair.modules import ConceptBank
from stair.programs.switches import Category

ANSWER_KEYS = ("family", "template", "semantic", "structural", "steps", "split")
#: a benchmark's reporting groups, in its order: group -> its question type codes (``template``)
NEXTQA_GROUPS = {"Causal": ("CW", "CH"), "Temporal": ("TN", "TC", "TP"),
                 "Descriptive": ("DL", "DC", "DO")}  # fmt: skip


class Tally:
    """Sums and counts per metric name; :meth:`compute` gives the means."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = defaultdict(float)
        self.counts: dict[str, int] = defaultdict(int)

    def add(self, name: str, values: Tensor | Sequence[float]) -> None:
        """Add per-item scores (e.g. 0/1 correctness) under ``name``."""
        values = torch.as_tensor(values, dtype=torch.float64)
        if values.numel():
            self.sums[name] += float(values.sum())
            self.counts[name] += values.numel()

    def merge(self, other: Tally) -> Tally:
        for name, n in other.counts.items():
            self.sums[name] += other.sums[name]
            self.counts[name] += n
        return self

    def synced(self) -> Tally:
        """The tally summed over every process of a distributed run (itself when alone)."""
        if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
            return self
        parts: list[Any] = [None] * dist.get_world_size()
        dist.all_gather_object(parts, (dict(self.sums), dict(self.counts)))
        out = Tally()
        for sums, counts in parts:
            for name, n in counts.items():
                out.sums[name] += sums[name]
                out.counts[name] += n
        return out

    def compute(self) -> dict[str, float]:
        return {k: self.sums[k] / n for k, n in sorted(self.counts.items()) if n}

    def sizes(self) -> dict[str, int]:
        return dict(sorted(self.counts.items()))


def add_answers(tally: Tally, correct: Tensor, metadata: Sequence[dict[str, Any]]) -> None:
    """Answer accuracy overall, per family, template, semantic, structural, steps and split,
    and on fallback vs program questions."""
    hits = correct.detach().cpu().double()
    tally.add("acc", hits)
    groups: dict[str, list[int]] = defaultdict(list)
    for b, meta in enumerate(metadata):
        for key in ANSWER_KEYS:
            if key in meta:
                groups[f"{key}/{meta[key]}"].append(b)
        if "program_match" in meta:
            right = "right" if meta["program_match"] else "wrong"
            groups[f"program/{right}_acc"].append(b)
            tally.add("program/exact", [float(meta["program_match"])])
        if "fallback" in meta:
            groups["fallback/acc" if meta["fallback"] else "program/acc"].append(b)
            tally.add("fallback", [float(meta["fallback"])])
    for name, rows in groups.items():
        tally.add(name, hits[rows])


def gold_vs_generated(results: dict[str, dict[str, float]], suffix: str = ":generated") -> str:
    """A table of answer accuracy per split with gold and with generated programs (the splits
    of ``results`` that have a ``<split><suffix>`` twin); empty if none has."""
    rows = [(s, results[s], results[s + suffix]) for s in results if s + suffix in results]
    if not rows:
        return ""
    lines = [f"{'split':<18} {'gold programs':>14} {'generated':>10} {'difference':>11} "
             f"{'programs exact':>15}"]  # fmt: skip
    for split, gold, gen in rows:
        exact = gen.get("program/exact", float("nan"))
        lines.append(f"{split:<18} {gold['acc']:>14.2%} {gen['acc']:>10.2%} "
                     f"{gen['acc'] - gold['acc']:>+11.2%} {exact:>15.2%}")  # fmt: skip
    return "\n".join(lines)


def results_table(results: dict[str, dict[str, float]]) -> str:
    """Answer accuracy and intermediate quality (%) per split: a row per metric (``acc``, each
    ``family/*`` and ``module/*``), a column per split."""
    splits = list(results)
    names = {k for metrics in results.values() for k in metrics}
    rows = ["acc", *sorted(k for k in names if k.startswith("family/")),
            *sorted(k for k in names if k.startswith("module/"))]  # fmt: skip
    width = max(12, *(len(s) + 2 for s in splits))
    lines = [f"{'%':<28}" + "".join(f"{s:>{width}}" for s in splits)]
    for name in (r for r in rows if r in names):
        cells = [results[s].get(name) for s in splits]
        lines.append(f"{name:<28}" + "".join(
            f"{'-' if c is None else f'{100 * c:.1f}':>{width}}" for c in cells))  # fmt: skip
    return "\n".join(lines)


def benchmark_table(results: dict[str, dict[str, float]], benchmark: str) -> str:
    """Answer accuracy (%) per split in the benchmark's own terms: NExT-QA per type code and
    group, STAR per question type, MSRVTT-QA per question word (their ``family``), then overall
    and the fallback share; empty for a benchmark without its own terms."""
    names = {k for metrics in results.values() for k in metrics}
    families = sorted(k for k in names if k.startswith("family/"))
    if benchmark == "nextqa":
        rows = []
        for group, codes in NEXTQA_GROUPS.items():
            rows += [f"template/{c}" for c in codes] + [f"family/{group}"]
    elif benchmark in ("star", "msrvtt"):
        rows = families
    else:
        return ""
    rows += ["acc", "fallback", "fallback/acc", "program/acc"]
    splits = list(results)
    width = max(10, *(len(s) + 2 for s in splits))
    lines = [f"{benchmark + ' %':<20}" + "".join(f"{s:>{width}}" for s in splits)]
    for name in (r for r in rows if r in names):
        label = name.split("/", 1)[1] if name.startswith(("template/", "family/")) else name
        cells = [results[s].get(name) for s in splits]
        lines.append(f"{label:<20}" + "".join(
            f"{'-' if c is None else f'{100 * c:.2f}':>{width}}" for c in cells))  # fmt: skip
    return "\n".join(lines)


def concept_categories(bank: ConceptBank) -> Tensor:
    """The category of each bank concept as an index of :class:`Category` (-1: none), ``[V]``."""
    order = {c: i for i, c in enumerate(Category)}
    return torch.tensor([order.get(bank.categories[n], -1) for n in bank.names])


def judge(sup: Supervised, bank: ConceptBank, categories: Tensor) -> dict[str, Tensor]:
    """Per-row quality of one supervised group: metric name -> ``[R]`` (names above), by the
    group's value type (its ``.judge``); ``categories``: :func:`concept_categories` of the bank.

    Concept rows whose gold set is empty get NaN for ``top1`` and ``recall@5`` (nothing to find).
    """
    space = concept_space(bank, categories.to(bank.embeddings.device))
    with torch.no_grad():
        return sup.value.judge(sup.gold, space, sup.group.switch)


def add_intermediate(
    tally: Tally,
    trace: Trace,
    golds: Sequence[dict[int, Tensor]],
    bank: ConceptBank,
    categories: Tensor,
) -> None:
    """Every supervised step's quality, per module (names in the module docstring)."""
    for sup in supervised(trace, golds):
        for metric, rows in judge(sup, bank, categories).items():
            rows = rows[~rows.isnan()]
            if len(rows):
                tally.add(f"module/{sup.group.module}/{metric}", rows)
