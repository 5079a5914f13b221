"""Vectors in the concept space: ``Concept`` (objects, relations, actions), ``Text`` (a phrase).

A Concept is supervised by its gold concept set, contrasted with the rest of the concept bank
(multi-positive InfoNCE), judged by the nearest concepts of the right category and rendered as its
nearest concepts. A Text is an input (a phrase argument): it has no gold.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from stair.programs.signatures import VType
from stair.programs.switches import Category, Switch
from stair.values.base import ConceptSpace, GoldContext, GoldError, Value
from stair.values.time import TimeBase

#: How many nearest concepts the judgement's recall looks at.
RECALL_AT = 5


def _nearest(vector: Tensor, concepts: ConceptSpace | None, top_k: int) -> list[dict[str, Any]]:
    if concepts is None:
        return []
    sims = F.cosine_similarity(vector[None], concepts.embeddings.to(vector), dim=-1)
    k = min(top_k, sims.shape[0])
    best = sims.topk(k)
    return [
        {"name": concepts.names[int(i)], "cosine": round(float(s), 4)}
        for s, i in zip(best.values, best.indices)
    ]


def _vector_explained(
    kind: str, vector: Tensor, concepts: ConceptSpace | None, top_k: int
) -> dict[str, Any]:
    """A vector as an audit shows it: its norm and, given the concept space, its nearest names."""
    vec = vector.detach().float()
    out: dict[str, Any] = {"type": kind, "norm": round(float(vec.norm()), 4)}
    if concepts is not None:
        out["nearest"] = _nearest(vec, concepts, top_k)
    return out


def _bank(concepts: ConceptSpace | None) -> ConceptSpace:
    if concepts is None:
        raise GoldError("a Concept gold is read against the concept bank: pass concepts")
    return concepts


@dataclass(frozen=True, eq=False)
class Concept(Value):
    """An object / relation / action (or a set of them) as a vector in the concept space.

    ``option``: for ``Choose``'s output, the logits ``[B, 2]`` of picking its first or second
    option (the vector is then the probability-weighted mix of the two options). The gold is the
    set of concepts the step finds, multi-hot over the bank ``[V]``.

    ``frames``, ``window``, ``cue``: for ``Filter``'s output, the evidence the set was read from
    -- the frame states ``[B, T, D]``, the focus window over its largest weight ``[B, T]`` and
    what the filter looked for ``[B, D]`` (its phrase, or its category's learned cue). A step that
    tests one hypothesis against the set (``Exists``: is this item among them; ``Superlative``:
    how long does the named action last) reads the evidence frame by frame instead of the one
    summary vector, which cannot hold every member of a large set.

    ``named``: for ``ToAction``'s output, the concept it names as a phrase ``[B, D]`` (the bank
    concepts' names encoded by the question encoder, mixed by how likely the vector names each),
    which ``Localize`` matches against the frames as it matches a phrase (zero in the rows of a
    group whose other rows lack it).
    """

    vector: Tensor
    option: Tensor | None = None
    frames: Tensor | None = None
    window: Tensor | None = None
    cue: Tensor | None = None
    named: Tensor | None = None
    vtype = VType.CONCEPT

    def similarities(self, bank: Tensor) -> Tensor:
        """Cosine with every bank concept, ``[B, V]``."""
        return F.normalize(self.vector, dim=-1) @ F.normalize(bank, dim=-1).T

    @classmethod
    def read_gold(cls, data: Mapping[str, Any], context: GoldContext) -> Tensor:
        """The gold concept names as a multi-hot ``[V]`` over the bank's rows."""
        rows = context.concept_rows(data["items"])
        hot = torch.zeros(len(context.concepts or ()))
        hot[rows] = 1.0
        return hot

    def loss(
        self, gold: Tensor, concepts: ConceptSpace | None = None, option: Tensor | None = None
    ) -> Tensor:
        """Multi-positive InfoNCE against the bank's ``embeddings [V, D]``, ``[B]``.

        ``gold [B, V]`` is multi-hot: each positive is contrasted with every negative (the other
        positives are left out of its denominator), and the row's loss is the mean over its
        positives; a row with no positive has loss 0. The bank's ``temperature`` divides the
        cosines. With ``option [B]`` (Choose's gold option, -1 = unknown) the cross-entropy of
        :attr:`option` is added.
        """
        bank = _bank(concepts)
        logits = self.similarities(bank.embeddings) / bank.temperature  # (B, V)
        pos = gold.to(logits) > 0.5
        neg_lse = torch.logsumexp(logits.masked_fill(pos, -math.inf), dim=-1, keepdim=True)
        per_pos = torch.logaddexp(logits, neg_lse) - logits  # -log p(positive vs negatives)
        n_pos = pos.sum(-1)
        loss = torch.where(pos, per_pos, 0).sum(-1) / n_pos.clamp_min(1)
        if option is not None and self.option is not None:
            known = option >= 0
            ce = F.cross_entropy(self.option, option.clamp_min(0), reduction="none")
            loss = loss + torch.where(known, ce, 0)
        return loss

    def judge(
        self, gold: Tensor, concepts: ConceptSpace | None = None, switch: Switch | None = None
    ) -> dict[str, Tensor]:
        """``top1``: the nearest concept of the gold's category is a gold one; ``recall@5``: the
        share of the gold set (up to 5) among the 5 nearest of that category.

        The category is the step's Category switch (``Filter[objects]``), else the first gold
        concept's. Rows whose gold set is empty get NaN (nothing to find).
        """
        bank = _bank(concepts)
        if bank.categories is None:
            raise GoldError("judging a Concept needs the bank's concept categories")
        categories = bank.categories.to(bank.embeddings.device)
        pos = gold > 0.5
        sims = self.similarities(bank.embeddings)
        if isinstance(switch, Category):
            order = {c: i for i, c in enumerate(Category)}
            cat = torch.full_like(pos[:, 0], order[switch], dtype=torch.long)
        else:
            cat = categories[pos.float().argmax(-1)]
        sims = sims.masked_fill(categories[None] != cat[:, None], -2.0)
        top = sims.topk(min(RECALL_AT, sims.shape[-1]), dim=-1).indices
        hit = pos.gather(1, top)
        found = hit.sum(-1).double() / pos.sum(-1).clamp(1, top.shape[-1]).double()
        empty = ~pos.any(-1)
        nan = torch.full_like(found, float("nan"))
        return {
            "top1": torch.where(empty, nan, hit[:, 0].double()),
            f"recall@{RECALL_AT}": torch.where(empty, nan, found),
        }

    def explain(
        self,
        index: int,
        time: TimeBase = None,
        concepts: ConceptSpace | None = None,
        top_k: int = 5,
    ) -> dict[str, Any]:
        out = _vector_explained("Concept", self.vector[index], concepts, top_k)
        if self.option is not None:
            probs = self.option[index].detach().float().softmax(-1)
            out["option_probabilities"] = [round(float(p), 4) for p in probs]
        return out

    @classmethod
    def explain_gold(
        cls, gold: Tensor, times: Sequence[float], names: Sequence[str]
    ) -> dict[str, Any]:
        """The names of the gold concepts."""
        return {
            "type": "Concept",
            "items": [names[i] for i in (gold > 0.5).nonzero().flatten().tolist()],
        }

    @classmethod
    def describe(cls, shown: Mapping[str, Any]) -> str:
        """The three nearest concepts with their cosines (a gold: its items), and the options."""
        if "nearest" in shown:
            text = ", ".join(f"{c['name']} ({c['cosine']:.2f})" for c in shown["nearest"][:3])
        else:
            text = ", ".join(shown.get("items", [])) or "nothing"
        options = shown.get("option_probabilities")
        if options:
            text += f"; options p={options[0]:.2f}/{options[1]:.2f}"
        return text


@dataclass(frozen=True, eq=False)
class Text(Value):
    """A phrase argument encoded as a vector ``[B, D]`` (from the question, or the phrase).

    ``projections``, when the executor gives one, returns ``layer(vector)`` for a module's
    layer from a projection of the batch's phrases computed once for all the groups that read
    them (:func:`stair.modules.common.project`); the result is the same.
    """

    vector: Tensor
    projections: Callable[[torch.nn.Module], Tensor] | None = field(
        default=None, metadata={"tensor": False}
    )
    vtype = VType.TEXT

    def explain(
        self,
        index: int,
        time: TimeBase = None,
        concepts: ConceptSpace | None = None,
        top_k: int = 5,
    ) -> dict[str, Any]:
        return _vector_explained("Text", self.vector[index], concepts, top_k)
