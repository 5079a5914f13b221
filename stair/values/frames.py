"""Values over time: ``Video`` (frames with a focus window) and ``Frames`` (when something holds).

Both are supervised by a gold mask over the video's frames (the focus window, the frames where
the fact holds): BCE per real frame, judged by IoU, rendered as time spans.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from stair.programs.signatures import VType
from stair.programs.switches import Switch
from stair.programs.symbolic import spans
from stair.values.base import ConceptSpace, GoldContext, Value, fit_frames
from stair.values.time import TimeBase, runs_in_seconds, shown_spans


def _masked_bce(probs: Tensor, gold: Tensor, mask: Tensor) -> Tensor:
    """Per-row mean BCE over the real frames: ``[B, T]`` -> ``[B]``."""
    m = mask.to(probs.dtype)
    bce = F.binary_cross_entropy(
        torch.where(mask, probs, 0).clamp(0, 1), gold.to(probs), reduction="none"
    )
    return (bce * m).sum(-1) / m.sum(-1).clamp_min(1)


def _iou(probs: Tensor, gold: Tensor, mask: Tensor) -> dict[str, Tensor]:
    """IoU of the real frames at >= 0.5 with the gold frames at >= 0.5 (1 when both are empty)."""
    pred = (probs >= 0.5) & mask
    truth = (gold >= 0.5) & mask
    inter = (pred & truth).sum(-1).double()
    union = (pred | truth).sum(-1).double()
    return {"iou": torch.where(union > 0, inter / union.clamp_min(1), 1.0)}


def peak_reading(probs: Tensor, mask: Tensor) -> Tensor:
    """How a one-frame value reads: per row, its most probable real frame when the row's mass
    (the chance that there is such a frame at all) is at least 0.5, else no frame; bool
    ``[..., T]``."""
    real = torch.where(mask, probs, 0)
    top = F.one_hot(real.argmax(-1), real.shape[-1]).bool()
    return top & mask & (real.sum(-1, keepdim=True) >= 0.5)


class _OverTime(Value):
    """What ``Video`` and ``Frames`` share: golds are frame masks ``[T]`` (spans in JSON)."""

    mask: Tensor

    @classmethod
    def read_gold(cls, data: Mapping[str, Any], context: GoldContext) -> Tensor:
        """The gold spans (scene-graph frames) as a mask over the feature frames ``[T]``."""
        return context.frames(data["spans"])

    def stack_golds(self, golds: Sequence[Tensor]) -> Tensor:
        """Each gold cut or zero-padded to the batch's padded length, stacked: ``[R, T]``."""
        return torch.stack([fit_frames(g, self.mask.shape[1]) for g in golds])

    @classmethod
    def explain_gold(
        cls, gold: Tensor, times: Sequence[float], names: Sequence[str]
    ) -> dict[str, Any]:
        """The gold's runs over the real frames, in frames and seconds."""
        real = gold[: len(times)].float()
        runs = spans(tuple((real >= 0.5).tolist()))
        return {
            "type": str(cls.vtype),
            "spans": runs,
            "spans_seconds": runs_in_seconds(runs, len(real), list(times)),
        }

    @classmethod
    def describe(cls, shown: Mapping[str, Any]) -> str:
        """The spans in seconds (else in frames), and the peak when the output has one."""
        if "spans_seconds" in shown:
            pairs = shown.get("spans_seconds")
            text = ", ".join(f"{a:.1f}–{b:.1f} s" for a, b in pairs) if pairs else "none"
        else:
            text = ", ".join(f"frames {a}–{b - 1}" for a, b in shown.get("spans", [])) or "none"
        peak = shown.get("peak")
        if peak and "probability" in peak:
            at = f"{peak['seconds']} s" if "seconds" in peak else f"frame {peak.get('frame')}"
            text += f" (peak {at}: p={peak['probability']:.2f})"
        return text


@dataclass(frozen=True, eq=False)
class Video(_OverTime):
    """Frames with a focus window: ``features [B,T,D]``, ``weights [B,T]``, ``mask [B,T]``.

    The raw video's window is its padding mask (:meth:`from_features`); ``Temporal`` and
    ``AttnVideo`` narrow the window and keep the features; ``FilterFrame`` replaces the features
    with per-frame concept features. The gold is the focus window.
    """

    features: Tensor
    weights: Tensor
    mask: Tensor
    vtype = VType.VIDEO

    @classmethod
    def from_features(cls, features: Tensor, mask: Tensor | None = None) -> Video:
        """A raw video: every real frame in focus. ``mask`` defaults to all frames real."""
        if mask is None:
            mask = torch.ones(features.shape[:2], dtype=torch.bool, device=features.device)
        return cls(features, mask.to(features.dtype), mask.bool())

    @classmethod
    def from_lengths(cls, features: Tensor, lengths: Sequence[int] | Tensor) -> Video:
        """A raw, padded video batch: row ``b`` has ``lengths[b]`` real frames."""
        T = features.shape[1]
        lengths = torch.as_tensor(lengths, device=features.device)
        mask = torch.arange(T, device=features.device)[None] < lengths[:, None]
        return cls.from_features(features, mask)

    @property
    def focus(self) -> Tensor:
        """The window weights with padded frames zeroed, ``[B, T]``."""
        return torch.where(self.mask, self.weights, 0)

    @property
    def per_frame(self) -> Tensor:
        """The per-frame values a reading looks at: the focus window."""
        return self.focus

    def loss(
        self, gold: Tensor, concepts: ConceptSpace | None = None, option: Tensor | None = None
    ) -> Tensor:
        """BCE of the window against the gold window ``[B, T]`` (real frames only), ``[B]``."""
        return _masked_bce(self.weights, gold, self.mask)

    def judge(
        self, gold: Tensor, concepts: ConceptSpace | None = None, switch: Switch | None = None
    ) -> dict[str, Tensor]:
        """``iou`` of the window with the gold window."""
        return _iou(self.focus, gold, self.mask)

    def explain(
        self, index: int, time: TimeBase = None, concepts: ConceptSpace | None = None
    ) -> dict[str, Any]:
        real = self.focus[index][self.mask[index]]  # the real frames, in order
        real = real.detach().float()
        out = {"type": "Video", **shown_spans(real, time)}
        out["window_mass"] = round(float(self.focus[index].sum()), 4)
        out["probabilities"] = [round(float(p), 4) for p in real]
        return out


@dataclass(frozen=True, eq=False)
class Frames(_OverTime):
    """When something holds: a probability per frame, ``probs [B,T]``, with the padding mask.

    The gold is the mask of the frames where it holds (soft targets allowed).
    """

    probs: Tensor
    mask: Tensor
    vtype = VType.FRAMES

    @property
    def masked(self) -> Tensor:
        """The probabilities with padded frames zeroed, ``[B, T]``."""
        return torch.where(self.mask, self.probs, 0)

    @property
    def per_frame(self) -> Tensor:
        """The per-frame values a reading looks at: the probabilities."""
        return self.masked

    def loss(
        self, gold: Tensor, concepts: ConceptSpace | None = None, option: Tensor | None = None
    ) -> Tensor:
        """BCE per real frame against the gold mask ``[B, T]`` (soft targets allowed), ``[B]``."""
        return _masked_bce(self.probs, gold, self.mask)

    def judge(
        self, gold: Tensor, concepts: ConceptSpace | None = None, switch: Switch | None = None
    ) -> dict[str, Tensor]:
        """``iou`` of the frames at >= 0.5 with the gold frames."""
        return _iou(self.masked, gold, self.mask)

    def explain(
        self, index: int, time: TimeBase = None, concepts: ConceptSpace | None = None
    ) -> dict[str, Any]:
        probs = self.probs[index][self.mask[index]].detach().float()  # the real frames
        return {
            "type": "Frames",
            **shown_spans(probs, time),
            "probabilities": [round(float(p), 4) for p in probs],
        }


class _OneFrame:
    """What :class:`Moment` and :class:`MomentVideo` share: read by the peak, not at 0.5.

    Their per-frame values are a distribution over the frames (at most 1 in all; the rest is the
    chance that there is no such frame), so no frame need reach 0.5 when the value is sure
    *that* there is one but not quite *which*: the reading is the peak frame when the mass is at
    least 0.5 (:func:`peak_reading`), judged by its IoU with the gold frame(s). The loss stays
    the per-frame BCE of the base type.
    """

    per_frame: Tensor  # the values read: Frames.masked, Video.focus

    def judge(
        self, gold: Tensor, concepts: ConceptSpace | None = None, switch: Switch | None = None
    ) -> dict[str, Tensor]:
        """``iou`` of the peak reading with the gold frames."""
        values = self.per_frame
        return _iou(peak_reading(values, self.mask).to(values.dtype), gold, self.mask)

    def explain(
        self, index: int, time: TimeBase = None, concepts: ConceptSpace | None = None
    ) -> dict[str, Any]:
        out = super().explain(index, time, concepts)  # type: ignore[misc]
        real = self.per_frame[index][self.mask[index]].detach().float()
        out.update(shown_spans(real, time, peak_reading(real, torch.ones_like(real).bool())))
        out["reading"] = "peak"
        out["mass"] = round(float(real.sum()), 4)
        return out


@dataclass(frozen=True, eq=False)
class Moment(_OneFrame, Frames):
    """One frame of the video (``Relate``'s first / last hit): a distribution over the frames,
    read by its peak (:class:`_OneFrame`). A ``Frames`` to the language and to the modules that
    read it."""


@dataclass(frozen=True, eq=False)
class MomentVideo(_OneFrame, Video):
    """A video focused on one frame (``AttnVideo`` on ``Relate``'s pick, the only way programs
    use it): the window is a distribution over the frames, read by its peak
    (:class:`_OneFrame`). A ``Video`` to the language and to the modules that read it."""
