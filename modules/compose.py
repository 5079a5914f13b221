"""ToAction, Choose and Equals: building and comparing concepts."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from stair.modules.common import SimilarityLogit, project, weighted_sum
from stair.modules.registry import register
from stair.values import Bool, Concept, Text


@register
class ToAction(nn.Module):
    """Composes a verb with an object into an action concept: ``out(gelu(W_v v + W_o o))``.

    Split weights instead of a concatenation. Appears in indirect references to actions ("the
    action they did to the object they were holding first": ``ToAction(verb, <object>)``; the
    verb may itself be a reference, "what they did to the blanket first", a relation); feeds
    ``Localize`` (as the action), ``Exists``, ``Equals``. Supervised by InfoNCE vs the action.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.verb = nn.Linear(dim, dim)
        self.object = nn.Linear(dim, dim, bias=False)
        self.out = nn.Linear(dim, dim)

    def forward(self, verb: Text | Concept, object: Concept | Text) -> Concept:
        hidden = F.gelu(project(self.verb, verb) + project(self.object, object))
        return Concept(self.out(hidden))


@register
class Choose(nn.Module):
    """Which of two options is the value? A soft, differentiable choice with its probability.

    ``p = softmax(scale * [cos(first, value), cos(second, value)])``; the output concept is
    ``p_1 first + p_2 second`` and carries the option logits, so the answer head can answer with
    the option's own probability. Appears in "did they hold a cup or a dish ..." questions, at
    the root. Supervised by InfoNCE vs the gold concept and cross-entropy vs the gold option.
    """

    def __init__(self) -> None:
        super().__init__()
        self.log_scale = nn.Parameter(torch.tensor(math.log(10.0)))

    def forward(self, first: Concept | Text, second: Concept | Text, value: Concept) -> Concept:
        options = torch.stack([first.vector, second.vector], dim=1)  # (B, 2, D)
        logits = F.cosine_similarity(options, value.vector[:, None], dim=-1) * self.log_scale.exp()
        mixed = weighted_sum(logits.softmax(-1), options)
        return Concept(mixed, option=logits)


@register
class Equals(nn.Module):
    """Are two concepts the same? ``scale * cos(W a, b) + bias``.

    Appears in "is the object they held first a cup?" and "was the longest action X?" questions
    (an indirect reference against a phrase); the Bool answers them. Supervised by BCE.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.similarity = SimilarityLogit(dim)

    def forward(self, first: Concept | Text, second: Concept | Text) -> Bool:
        return Bool(self.similarity(first, second.vector))
