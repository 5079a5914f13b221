"""Answers in one number: ``Bool`` (a yes/no fact) and ``Count`` (how many).

Both are supervised by the gold value itself (BCE, cross-entropy), judged by whether the most
likely reading equals it, and read off as the answer when they are a question's root.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from stair.programs.signatures import AnswerAs, VType
from stair.programs.switches import Category, Switch
from stair.programs.symbolic import spans
from stair.values.base import ConceptSpace, GoldContext, Value, fit_frames
from stair.values.time import TimeBase, runs_in_seconds, shown_spans

#: The answer words of a true and a false Bool, by what the root means.
BOOL_WORDS = {AnswerAs.VALUE: ("yes", "no"), AnswerAs.BEFORE_AFTER: ("before", "after")}


def _values(gold: Tensor) -> Tensor:
    """Stacked Bool golds' values, ``[R]``: the golds, or column 0 of a frame gold."""
    return gold if gold.dim() == 1 else gold[:, 0]


class FrameGold(NamedTuple):
    """A Bool's frame gold, one row or stacked (leading ``[R]``): the frames that show the
    item and the window (``[.., T]``), the set's category (:class:`Category` index, -1: none)
    and its members: bank rows (``[.., K]``, -1: padding) and the frames that show each
    (``[.., K, T]``)."""

    frames: Tensor
    window: Tensor
    category: Tensor
    ids: Tensor
    members: Tensor

    def fit(self, length: int, width: int) -> FrameGold:
        """One row over ``length`` frames and ``width`` members (padded with -1 rows)."""
        pad = width - self.ids.shape[-1]
        return FrameGold(
            fit_frames(self.frames, length), fit_frames(self.window, length), self.category,
            F.pad(self.ids, (0, pad), value=-1),
            F.pad(fit_frames(self.members, length), (0, 0, 0, pad)),
        )  # fmt: skip

    def flat(self) -> Tensor:
        """One row without the value: frames, window, category, then ``K`` x (id, frames)."""
        ids = self.ids[..., None].to(self.members.dtype)
        members = torch.cat([ids, self.members], -1).flatten(-2)
        return torch.cat([self.frames, self.window, self.category.reshape(-1), members])


def _balanced_mean(per: Tensor, target: Tensor, weight: Tensor) -> Tensor:
    """The mean of ``per [R, ...]`` over each row's weighted entries, the positive and the
    negative ones (``target``) weighing the same: the mean of the two classes' means, or the
    one class a row has (0 for a row with no entries). A frame that shows the item is rarer than
    one that does not, and a plain mean taught the reading to say "no" to pairs."""
    dims = tuple(range(1, per.dim()))
    pos, neg = weight * target, weight * (1 - target)
    n_pos, n_neg = pos.sum(dims), neg.sum(dims)
    means = (per * pos).sum(dims) / n_pos.clamp_min(1), (per * neg).sum(dims) / n_neg.clamp_min(1)
    has = (n_pos > 0).to(per), (n_neg > 0).to(per)
    return (means[0] * has[0] + means[1] * has[1]) / (has[0] + has[1]).clamp_min(1)


def _frame_gold(flat: Tensor, length: int) -> FrameGold:
    """The frame gold of a row laid out as :meth:`FrameGold.flat` over ``length`` frames, or of
    such rows stacked (``[R, ...]``)."""
    members = flat[..., 2 * length + 1 :].unflatten(-1, (-1, length + 1))
    return FrameGold(
        flat[..., :length], flat[..., length : 2 * length], flat[..., 2 * length],
        members[..., 0].long(), members[..., 1:],
    )  # fmt: skip


@dataclass(frozen=True, eq=False)
class Bool(Value):
    """A yes/no fact as a logit ``[B]`` (for ``Compare``: yes = the first, "before").

    The gold is 0/1 (a float scalar per question). A fact read off frames (``Exists`` over a
    ``Filter``'s window) also gives the logit of each frame, ``frame_logit [B, T]``, whose best
    frame the answer takes; its gold then says at which frames of the window the item is there
    (``[2 + 2 T + 1 + K (1 + T)]``: the value, the length ``T``, the frames that show the item,
    the window, the set's category and its ``K`` members, each a bank row and the frames that
    show it: what every frame of the window holds of the category), and the frames of the
    window are supervised one by one, not only through the best of them. In training the
    reading also comes for every concept of the bank (``concept_frame_logit [B, V, T]``), and
    is supervised for the concepts of the set's category: each frame of the window, whether it
    shows that concept (with the set's cue: held, looked at), so that a question teaches the
    reading of every pair its window holds or lacks, not of the one it names. Both per-frame
    terms are class-balanced (:func:`_balanced_mean`).
    """

    logit: Tensor
    frame_logit: Tensor | None = None
    concept_frame_logit: Tensor | None = None
    vtype = VType.BOOL

    @property
    def prob(self) -> Tensor:
        return torch.sigmoid(self.logit)

    @classmethod
    def read_gold(cls, data: Mapping[str, Any], context: GoldContext) -> Tensor:
        value = torch.tensor([float(bool(data["value"]))])
        if "frames" not in data or "window" not in data:
            return value[0]
        frames, window = context.frames(data["frames"]), context.frames(data["window"])
        length = frames.shape[0]
        members = data.get("members") or {}
        known = context.concepts or {}
        names = [n for n in members if n in known]
        category = -1
        if data.get("category") and context.concepts is not None:
            category = list(Category).index(Category(data["category"]))
        gold = FrameGold(
            frames, window, torch.tensor(float(category)),
            torch.tensor([known[n] for n in names], dtype=torch.long),
            torch.stack([context.frames(members[n]) for n in names]) if names
            else torch.zeros(0, length),
        )  # fmt: skip
        return torch.cat([value, torch.tensor([float(length)]), gold.flat()])

    def stack_golds(self, golds: Sequence[Tensor]) -> Tensor:
        """The values ``[R]``; with frame logits and some frame gold, ``[R, 1 + 2 L + 1 +
        K (L + 1)]`` over the batch's ``L`` frames and the most members ``K`` of a row (a row
        without frame golds: an empty window, so only its value is supervised)."""
        values = torch.stack([g.reshape(-1)[0] for g in golds])
        if self.frame_logit is None or all(g.numel() == 1 for g in golds):
            return values
        length = self.frame_logit.shape[1]
        no_frames = torch.tensor([-1.0])  # no frames, no category, no members
        parsed = [
            _frame_gold(g[2:], int(g[1])) if g.numel() > 1 else _frame_gold(no_frames, 0)
            for g in (g.reshape(-1) for g in golds)
        ]
        width = max(p.ids.shape[0] for p in parsed) if self.concept_frame_logit is not None else 0
        rows = [
            torch.cat([v[None], p._replace(ids=p.ids[:width], members=p.members[:width])
                       .fit(length, width).flat()])
            for v, p in zip(values, parsed)
        ]  # fmt: skip
        return torch.stack(rows)

    def loss(
        self, gold: Tensor, concepts: ConceptSpace | None = None, option: Tensor | None = None
    ) -> Tensor:
        """BCE against the gold value, ``[B]``; with frame golds and frame logits, plus the
        class-balanced mean BCE of the window's frames (rows with an empty window add nothing);
        with every concept's reading and the bank's categories, plus the class-balanced mean BCE
        over the window's frames and the concepts of the set's category."""
        loss = F.binary_cross_entropy_with_logits(
            self.logit, _values(gold).to(self.logit), reduction="none"
        )
        if gold.dim() == 1 or self.frame_logit is None:
            return loss
        found = _frame_gold(gold[:, 1:].to(loss), self.frame_logit.shape[1])
        per_frame = F.binary_cross_entropy_with_logits(
            self.frame_logit, found.frames, reduction="none"
        )
        loss = loss + _balanced_mean(per_frame, found.frames, found.window)
        dense = self.concept_frame_logit
        if dense is None or concepts is None or concepts.categories is None:
            return loss
        kinds = concepts.categories.to(found.category.device)
        of_set = (kinds[None] == found.category[:, None].long()) & (found.category[:, None] >= 0)
        target = torch.zeros_like(dense)  # (R, V, T)
        rows, slots = (found.ids >= 0).nonzero(as_tuple=True)
        target[rows, found.ids[rows, slots]] = found.members[rows, slots]
        weight = of_set[..., None] * found.window[:, None]  # (R, V, T)
        per_concept = F.binary_cross_entropy_with_logits(dense, target, reduction="none")
        return loss + _balanced_mean(per_concept, target, weight)

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
            found = _frame_gold(flat[2:], int(flat[1]))
            for key, part in (("frames", found.frames), ("window", found.window)):
                runs = spans(tuple((part[: len(times)] >= 0.5).tolist()))
                out[key] = {
                    "spans": runs,
                    "spans_seconds": runs_in_seconds(runs, len(times), times),
                }
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
