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
from stair.programs.symbolic import spans
from stair.values.base import ConceptSpace, GoldContext, Value, fit_frames
from stair.values.time import TimeBase, runs_in_seconds, shown_spans

#: The answer words of a true and a false Bool, by what the root means.
BOOL_WORDS = {AnswerAs.VALUE: ("yes", "no"), AnswerAs.BEFORE_AFTER: ("before", "after")}


def _values(gold: Tensor) -> Tensor:
    """Stacked Bool golds' values, ``[R]``: the golds, or column 0 of ``[R, 1 + 2 T]``."""
    return gold if gold.dim() == 1 else gold[:, 0]


@dataclass(frozen=True, eq=False)
class Bool(Value):
    """A yes/no fact as a logit ``[B]`` (for ``Compare``: yes = the first, "before").

    The gold is 0/1 (a float scalar per question). A fact read off frames (``Exists`` over a
    ``Filter``'s window) also gives the logit of each frame, ``frame_logit [B, T]``, whose best
    frame the answer takes; its gold then says at which frames of the window the item is there
    (``[1 + 2 T]``: the value, the frames that show the item, the window), and the frames of the
    window are supervised one by one, not only through the best of them.
    """

    logit: Tensor
    frame_logit: Tensor | None = None
    vtype = VType.BOOL

    @property
    def prob(self) -> Tensor:
        return torch.sigmoid(self.logit)

    @classmethod
    def read_gold(cls, data: Mapping[str, Any], context: GoldContext) -> Tensor:
        value = torch.tensor([float(bool(data["value"]))])
        if "frames" not in data or "window" not in data:
            return value[0]
        return torch.cat([value, context.frames(data["frames"]), context.frames(data["window"])])

    def stack_golds(self, golds: Sequence[Tensor]) -> Tensor:
        """The values ``[R]``; with frame logits and some frame gold, ``[R, 1 + 2 T]``: each
        row's frames and window fitted to the batch's length (a row without frame golds: an
        empty window, so only its value is supervised)."""
        values = torch.stack([g.reshape(-1)[0] for g in golds])
        if self.frame_logit is None or all(g.numel() == 1 for g in golds):
            return values
        length = self.frame_logit.shape[1]
        rows = []
        for g in golds:
            flat, n = g.reshape(-1), (g.numel() - 1) // 2
            parts = (flat[1 : 1 + n], flat[1 + n :])  # empty for a row without frame golds
            rows.append(torch.cat([flat[:1], *(fit_frames(p, length) for p in parts)]))
        return torch.stack(rows)

    def loss(
        self, gold: Tensor, concepts: ConceptSpace | None = None, option: Tensor | None = None
    ) -> Tensor:
        """BCE against the gold value, ``[B]``; with frame golds and frame logits, plus the mean
        BCE of the window's frames (rows with an empty window add nothing)."""
        loss = F.binary_cross_entropy_with_logits(
            self.logit, _values(gold).to(self.logit), reduction="none"
        )
        if gold.dim() == 1 or self.frame_logit is None:
            return loss
        length = (gold.shape[1] - 1) // 2
        present, window = gold[:, 1 : 1 + length].to(loss), gold[:, 1 + length :].to(loss)
        per_frame = F.binary_cross_entropy_with_logits(self.frame_logit, present, reduction="none")
        return loss + (per_frame * window).sum(-1) / window.sum(-1).clamp_min(1)

    def judge(
        self, gold: Tensor, concepts: ConceptSpace | None = None, switch: Switch | None = None
    ) -> dict[str, Tensor]:
        """``acc``: the more likely answer is the gold one."""
        return {"acc": ((self.logit > 0) == (_values(gold) > 0.5)).double()}

    def explain(
        self, index: int, time: TimeBase = None, concepts: ConceptSpace | None = None
    ) -> dict[str, Any]:
        """The probability and value; with frame logits, also each real frame's reading
        (``frames``: its runs >= 0.5, peak and probabilities; the answer takes the best frame of
        the window, the reading of the frames outside it is shown but not used)."""
        p = float(self.prob[index])
        out: dict[str, Any] = {"type": "Bool", "probability": round(p, 4), "value": p >= 0.5}
        if self.frame_logit is not None:
            probs = torch.sigmoid(self.frame_logit[index].detach().float())
            if time is not None and not isinstance(time, (int, float)):
                probs = probs[: len(time)]  # the real frames
            shown = shown_spans(probs, time)
            out["frames"] = {**shown, "probabilities": [round(float(q), 4) for q in probs]}
        return out

    @classmethod
    def explain_gold(
        cls, gold: Tensor, times: Sequence[float], names: Sequence[str]
    ) -> dict[str, Any]:
        """The value; with a frame gold, the frames of the window that show the item and the
        window, each as runs in frames and seconds."""
        flat = gold.reshape(-1)
        out: dict[str, Any] = {"type": "Bool", "value": bool(flat[0] > 0.5)}
        if flat.numel() > 1:
            n = (flat.numel() - 1) // 2
            for key, part in (("frames", flat[1 : 1 + n]), ("window", flat[1 + n :])):
                runs = spans(tuple((part[: len(times)] >= 0.5).tolist()))
                out[key] = {"spans": runs, "spans_seconds": runs_in_seconds(runs, len(times), times)}
        return out

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
