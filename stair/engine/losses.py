"""Intermediate supervision: every step's value against its gold, one batched call per group.

A batch's golds are per question (``QABatch.golds[b]``: node id -> gold tensor). For each group
of the trace (one module call), :func:`supervised` gathers the rows that have a gold and stacks
their golds, so that the loss (each value type's own ``.loss``) and the intermediate metrics
(:mod:`stair.engine.metrics`) run once per group, never per node.
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
from stair.values import Concept, Frames, Value, Video


@dataclass
class Supervised:
    """The rows of one group that have a gold: their values, stacked golds, Choose options."""

    group: Group
    value: Value  # the group's output, restricted to the supervised rows
    gold: Tensor  # [R, ...]
    option: Tensor | None  # [R] long, Choose's gold option (-1 = unknown), else None
    trees: list[int]  # the question of each row


def _fit(gold: Tensor, frames: int) -> Tensor:
    """A per-frame gold cut or zero-padded to ``frames`` (the batch's padded length)."""
    n = gold.shape[-1]
    return gold[..., :frames] if n >= frames else F.pad(gold, (0, frames - n))


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
        if isinstance(picked, (Frames, Video)):
            frames = picked.mask.shape[1]
            stack = [_fit(g, frames) for g in stack]
        option = None
        if isinstance(picked, Concept) and picked.option is not None:
            option = torch.tensor(
                [
                    options[b].get(group.nodes[r], -1) if b < len(options) else -1
                    for r, b in zip(rows, trees)
                ],
                device=device,
            )
        yield Supervised(group, picked, torch.stack(stack).to(device), option, trees)


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
) -> IntermediateLoss:
    """Sum of every supervised node's loss (its value type's ``.loss`` against its gold)."""
    total = bank.embeddings.new_zeros(())
    count = 0
    by_module: dict[str, Tensor] = {}
    for sup in supervised(trace, golds, options):
        if isinstance(sup.value, Concept):
            loss = sup.value.loss(sup.gold, bank.embeddings, bank.temperature, sup.option)
        else:
            loss = sup.value.loss(sup.gold)
        summed = loss.sum()
        total = total + summed
        count += len(loss)
        name = sup.group.module
        by_module[name] = by_module.get(name, 0) + summed.detach()
    return IntermediateLoss(total, count, by_module)
