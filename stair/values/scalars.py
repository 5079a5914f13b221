"""Answers in one number: ``Bool`` (a yes/no fact) and ``Count`` (how many).

Both are supervised by the gold value itself (BCE, cross-entropy), judged by whether the most
likely reading equals it, and read off as the answer when they are a question's root.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from stair.programs.signatures import AnswerAs, VType
from stair.programs.switches import Switch
from stair.values.base import ConceptSpace, GoldContext, Value
from stair.values.time import TimeBase

#: The answer words of a true and a false Bool, by what the root means.
BOOL_WORDS = {AnswerAs.VALUE: ("yes", "no"), AnswerAs.BEFORE_AFTER: ("before", "after")}


@dataclass(frozen=True, eq=False)
class Bool(Value):
    """A yes/no fact as a logit ``[B]`` (for ``Compare``: yes = the first, "before").

    The gold is 0/1 (a float scalar per question).
    """

    logit: Tensor
    vtype = VType.BOOL

    @property
    def prob(self) -> Tensor:
        return torch.sigmoid(self.logit)

    @classmethod
    def read_gold(cls, data: Mapping[str, Any], context: GoldContext) -> Tensor:
        return torch.tensor(float(bool(data["value"])))

    def loss(
        self, gold: Tensor, concepts: ConceptSpace | None = None, option: Tensor | None = None
    ) -> Tensor:
        """BCE against the gold ``[B]`` (0/1), ``[B]``."""
        return F.binary_cross_entropy_with_logits(self.logit, gold.to(self.logit), reduction="none")

    def judge(
        self, gold: Tensor, concepts: ConceptSpace | None = None, switch: Switch | None = None
    ) -> dict[str, Tensor]:
        """``acc``: the more likely answer is the gold one."""
        return {"acc": ((self.logit > 0) == (gold > 0.5)).double()}

    def explain(
        self, index: int, time: TimeBase = None, concepts: ConceptSpace | None = None
    ) -> dict[str, Any]:
        p = float(self.prob[index])
        return {"type": "Bool", "probability": round(p, 4), "value": p >= 0.5}

    @classmethod
    def explain_gold(
        cls, gold: Tensor, times: Sequence[float], names: Sequence[str]
    ) -> dict[str, Any]:
        return {"type": "Bool", "value": bool(gold > 0.5)}

    @classmethod
    def describe(cls, shown: Mapping[str, Any]) -> str:
        if "probability" in shown:
            return (
                f"{'yes' if shown['probability'] >= 0.5 else 'no'} (p={shown['probability']:.2f})"
            )
        return "yes" if shown.get("value") else "no"

    @classmethod
    def answer_shown(cls, shown: Mapping[str, Any], answer_as: AnswerAs) -> str | None:
        """yes / no (before / after for a Compare root) as the rendered value says."""
        words = BOOL_WORDS.get(answer_as)
        if words is None:
            return None
        return words[0] if shown["value"] else words[1]


@dataclass(frozen=True, eq=False)
class Count(Value):
    """How many: log-probabilities ``[B, K+1]`` of 0..K occurrences (K means K or more).

    The gold is the count (a long scalar per question; counts past K are read as K).
    """

    logits: Tensor
    vtype = VType.COUNT

    @property
    def max_count(self) -> int:
        return self.logits.shape[-1] - 1

    @classmethod
    def read_gold(cls, data: Mapping[str, Any], context: GoldContext) -> Tensor:
        return torch.tensor(int(data["value"]), dtype=torch.long)

    def _target(self, gold: Tensor) -> Tensor:
        return gold.long().clamp(0, self.max_count)

    def loss(
        self, gold: Tensor, concepts: ConceptSpace | None = None, option: Tensor | None = None
    ) -> Tensor:
        """Cross-entropy against the gold count ``[B]`` (clamped to K), ``[B]``."""
        return F.cross_entropy(self.logits, self._target(gold), reduction="none")

    def judge(
        self, gold: Tensor, concepts: ConceptSpace | None = None, switch: Switch | None = None
    ) -> dict[str, Tensor]:
        """``acc``: the most likely count is the gold one (clamped to K)."""
        return {"acc": (self.logits.argmax(-1) == self._target(gold)).double()}

    def explain(
        self, index: int, time: TimeBase = None, concepts: ConceptSpace | None = None
    ) -> dict[str, Any]:
        probs = self.logits[index].detach().float().softmax(-1)
        best = int(probs.argmax())
        expected = float((probs * torch.arange(len(probs))).sum())
        return {
            "type": "Count",
            "value": best,
            "probability": round(float(probs[best]), 4),
            "expected": round(expected, 4),
        }

    @classmethod
    def explain_gold(
        cls, gold: Tensor, times: Sequence[float], names: Sequence[str]
    ) -> dict[str, Any]:
        return {"type": "Count", "value": int(gold)}

    @classmethod
    def describe(cls, shown: Mapping[str, Any]) -> str:
        if "probability" in shown:
            return f"{shown['value']} (p={shown['probability']:.2f})"
        return str(shown.get("value"))

    @classmethod
    def answer_shown(cls, shown: Mapping[str, Any], answer_as: AnswerAs) -> str | None:
        """The count the rendered value says."""
        return str(shown["value"])
