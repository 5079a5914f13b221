"""Intermediate supervision: every step's value against its gold, one batched call per group.

A batch's golds are per question (``QABatch.golds[b]``: node id -> gold tensor). For each group
of the trace (one module call), :func:`supervised` gathers the rows that have a gold and stacks
their golds (the value's ``.stack_golds``), so that the loss (the value's ``.loss``) and the
intermediate metrics (its ``.judge``, :mod:`stair.engine.metrics`) run once per group, never per
node, whatever the value's type.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

from stair.engine.executor import Trace
from stair.engine.plan import Group
from stair.modules import ConceptBank
from stair.values import ConceptSpace, Value


@dataclass
class Supervised:
    """The rows of one group that have a gold: their values, stacked golds, Choose options."""

    group: Group
    value: Value  # the group's output, restricted to the supervised rows
    gold: Tensor  # [R, ...]
    option: Tensor | None  # [R] long, Choose's gold option (-1 = unknown); None: no row has one
    trees: list[int]  # the question of each row


def concept_space(bank: ConceptBank, categories: Tensor | None = None) -> ConceptSpace:
    """The bank as Concept losses and judgements read it (``categories``: for judgements)."""
    return ConceptSpace(bank.names, bank.embeddings, bank.temperature, categories)


def supervised(
    trace: Trace, golds: Sequence[dict[int, Tensor]], options: Sequence[dict[int, int]] = ()
) -> Iterator[Supervised]:
    """Each group with at least one gold, restricted to the rows that have one."""
    for group, value in trace.groups():
        rows, stack, trees = [], [], []
        for row, (b, nid) in enumerate(zip(group.trees, group.nodes)):
            gold = golds[b].get(nid) if b < len(golds) else None
            if gold is not None:
                rows.append(row)
                stack.append(gold)
                trees.append(b)
        if not rows:
            continue
        device = group.tree_index.device if group.tree_index is not None else None
        picked = value if len(rows) == len(group.nodes) else value.index(torch.tensor(rows))
        known = [
            options[b].get(group.nodes[r], -1) if b < len(options) else -1
            for r, b in zip(rows, trees)
        ]
        option = torch.tensor(known, device=device) if any(k >= 0 for k in known) else None
        yield Supervised(group, picked, picked.stack_golds(stack).to(device), option, trees)


@dataclass
class IntermediateLoss:
    """The summed loss over every supervised node of a batch, and its parts by module."""

    total: Tensor
    count: int
    by_module: dict[str, Tensor] = field(default_factory=dict)  # summed, detached


def grounding_loss(text: Tensor, texts: Sequence[str], bank: ConceptBank) -> tuple[Tensor, int]:
    """Sum of the InfoNCE of each phrase that names a concept against the bank, and how many.

    Phrases such as "cup" or "opening a door" are encoded from the question; pulling each
    towards its own concept embedding puts phrases and concepts in one space, which is what
    ``Exists``, ``Equals``, ``Choose`` and the concept answers compare them in.
    """
    pairs = [(r, bank.index[t]) for r, t in enumerate(texts) if t in bank.index]
    if not pairs:
        return text.new_zeros(()), 0
    rows, targets = (torch.tensor(x, device=text.device) for x in zip(*pairs))
    phrases = F.normalize(text.index_select(0, rows), dim=-1)
    logits = phrases @ F.normalize(bank.embeddings, dim=-1).T
    loss = F.cross_entropy(logits / bank.temperature, targets, reduction="sum")
    return loss, len(pairs)


def intermediate_losses(
    trace: Trace,
    golds: Sequence[dict[int, Tensor]],
    options: Sequence[dict[int, int]],
    bank: ConceptBank,
    categories: Tensor | None = None,
) -> IntermediateLoss:
    """Sum of every supervised node's loss (its value type's ``.loss`` against its gold);
    ``categories``: the bank's (:func:`~stair.engine.metrics.concept_categories`), for the losses
    that read them (a Bool's reading of every concept of a set's category)."""
    total = bank.embeddings.new_zeros(())
    count = 0
    by_module: dict[str, Tensor] = {}
    space = concept_space(bank, categories)
    for sup in supervised(trace, golds, options):
        loss = sup.value.loss(sup.gold, space, sup.option)
        summed = loss.sum()
        total = total + summed
        count += len(loss)
        name = sup.group.module
        by_module[name] = by_module.get(name, 0) + summed.detach()
    return IntermediateLoss(total, count, by_module)
