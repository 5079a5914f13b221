"""Typed values: what flows between the neural modules, with their losses and audit renderings.

Every module input and output is one of these small dataclasses (DESIGN.md section 4). Each holds
a batch of values (``B`` leading), knows its intermediate loss against a gold tensor (per row,
shape ``[B]``; the caller reduces) and renders one row for audit as a JSON-able dict.

=======  ===============================================  ================================
type     tensors                                          loss against gold
=======  ===============================================  ================================
Video    features [B,T,D], weights [B,T], mask [B,T]      BCE of the focus window
Frames   probs [B,T] in [0,1], mask [B,T]                 BCE per frame
Concept  vector [B,D] (+ Choose's option logits [B,2])    multi-positive InfoNCE vs a bank
Bool     logit [B]                                        BCE
Count    logits [B,K+1] (log-probabilities)               cross-entropy
Text     vector [B,D]                                     (an input: no loss)
=======  ===============================================  ================================

``mask`` is the padding mask (True = a real frame). Probabilities (``Frames.probs``, the focus
``Video.weights``) are stored as probabilities, not logits: the temporal modules multiply and
accumulate them. Padded frames never count: :attr:`Video.focus` and :attr:`Frames.masked` zero
them whatever the stored tensor holds there, and frame losses average over real frames only.

The switch enums are re-exported here so that module code imports its vocabulary from one place.
Gold tensors come from the symbolic executor's values (:func:`gold_tensor`, :func:`tree_golds`,
:func:`choose_options`, at the end of this file).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, NamedTuple, TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor

from stair.errors import StairError
from stair.programs.signatures import VType
from stair.programs.switches import Category, Direction, Extreme, Switch, TemporalMode
from stair.programs.symbolic import (
    SymBool,
    SymConcept,
    SymCount,
    SymFrames,
    SymValue,
    SymVideo,
    value_from_json,
)
from stair.programs.tree import ModuleTree, Node, Phrase

__all__ = [
    "VALUE_TYPES", "Bool", "Category", "Concept", "Count", "Direction", "ExecutionError", "Extreme",
    "Frames", "GoldError", "Switch", "TemporalMode", "Text", "TimeBase", "Value", "Video",
    "Vocabulary", "choose_options", "gold_tensor", "tree_golds",
]  # fmt: skip

V = TypeVar("V", bound="Value")

#: Seconds of each frame: an fps (frame ``i`` at ``i / fps``), explicit timestamps, or None.
TimeBase = float | Sequence[float] | None


class ExecutionError(StairError):
    """A module tree cannot be executed with what was given (missing bank, bad batch)."""


class GoldError(StairError):
    """A gold value that cannot become a tensor (unknown concept, frame counts that disagree)."""


class Vocabulary(NamedTuple):
    """Concept names and their embeddings ``[V, D]``, for rendering concepts as words."""

    names: Sequence[str]
    embeddings: Tensor


@functools.cache
def tensor_fields(cls: type[Value]) -> tuple[str, ...]:
    """The tensor fields of a value type (fields with ``metadata={"tensor": False}`` are not)."""
    return tuple(f.name for f in fields(cls) if f.metadata.get("tensor", True))


@dataclass(frozen=True, eq=False)
class Value:
    """Base of the value types: row gathering and concatenation over the tensor fields.

    Row operations give a value of the same type from its tensor fields only: other fields
    (per-batch helpers such as :attr:`Text.projections`) do not survive them.
    """

    vtype: ClassVar[VType]

    def _tensors(self) -> dict[str, Tensor | None]:
        return {name: getattr(self, name) for name in tensor_fields(type(self))}

    def __len__(self) -> int:
        # the first field is never optional (features, probs, vector, logit, logits)
        return getattr(self, tensor_fields(type(self))[0]).shape[0]

    def index(self: V, rows: Tensor) -> V:
        """The rows ``rows`` (a long tensor) of every field."""
        return type(self)(**{
            k: None if t is None else t.index_select(0, rows) for k, t in self._tensors().items()
        })  # fmt: skip

    def narrow(self: V, start: int, length: int) -> V:
        """Rows ``start .. start + length`` as views (no copy)."""
        return type(self)(**{
            k: None if t is None else t.narrow(0, start, length)
            for k, t in self._tensors().items()
        })  # fmt: skip

    @classmethod
    def cat(cls: type[V], values: Sequence[V]) -> V:
        """Concatenate batches; an optional field is kept only where every batch has it."""
        if len(values) == 1:
            return values[0]
        out: dict[str, Tensor | None] = {}
        for name in tensor_fields(cls):
            parts = [getattr(v, name) for v in values]
            out[name] = None if any(p is None for p in parts) else torch.cat(parts)
        return cls(**out)


# -- rendering helpers ----------------------------------------------------------------------------
def _seconds(frame: int, num_frames: int, time: TimeBase) -> float | None:
    """Seconds at the start of ``frame`` (``frame == num_frames``: the end of the last frame)."""
    if time is None:
        return None
    if isinstance(time, (int, float)):
        return round(frame / float(time), 3)
    stamps = list(time)
    if frame < len(stamps):
        return round(float(stamps[frame]), 3)
    step = stamps[-1] - stamps[-2] if len(stamps) > 1 else 0.0
    return round(float(stamps[-1] + step * (frame - len(stamps) + 1)), 3)


def _spans(probs: Tensor, time: TimeBase) -> dict[str, Any]:
    """Runs of frames with probability >= 0.5, in frames and seconds, and the peak frame."""
    n = probs.shape[0]
    on = (probs >= 0.5).tolist()
    runs: list[list[int]] = []
    for i, flag in enumerate(on):
        if flag and (i == 0 or not on[i - 1]):
            runs.append([i, i + 1])
        elif flag:
            runs[-1][1] = i + 1
    peak = int(probs.argmax()) if n else 0
    out: dict[str, Any] = {
        "spans": runs,
        "peak": {"frame": peak, "probability": round(float(probs[peak]), 4) if n else 0.0},
        "num_frames": n,
    }
    if time is not None:
        out["spans_seconds"] = [[_seconds(s, n, time), _seconds(e, n, time)] for s, e in runs]
        out["peak"]["seconds"] = _seconds(peak, n, time)
    return out


def _nearest(vector: Tensor, vocabulary: Vocabulary | None, top_k: int) -> list[dict[str, Any]]:
    if vocabulary is None:
        return []
    sims = F.cosine_similarity(vector[None], vocabulary.embeddings.to(vector), dim=-1)
    k = min(top_k, sims.shape[0])
    best = sims.topk(k)
    return [
        {"name": vocabulary.names[int(i)], "cosine": round(float(s), 4)}
        for s, i in zip(best.values, best.indices)
    ]


def _masked_bce(probs: Tensor, gold: Tensor, mask: Tensor) -> Tensor:
    """Per-row mean BCE over the real frames: ``[B, T]`` -> ``[B]``."""
    m = mask.to(probs.dtype)
    bce = F.binary_cross_entropy(
        torch.where(mask, probs, 0).clamp(0, 1), gold.to(probs), reduction="none"
    )
    return (bce * m).sum(-1) / m.sum(-1).clamp_min(1)


# -- the value types ------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Video(Value):
    """Frames with a focus window: ``features [B,T,D]``, ``weights [B,T]``, ``mask [B,T]``.

    The raw video's window is its padding mask (:meth:`from_features`); ``Temporal`` and
    ``AttnVideo`` narrow the window and keep the features; ``FilterFrame`` replaces the features
    with per-frame concept features.
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

    def loss(self, gold: Tensor) -> Tensor:
        """BCE of the window against the gold window ``[B, T]`` (real frames only), ``[B]``."""
        return _masked_bce(self.weights, gold, self.mask)

    def explain(
        self, index: int, time: TimeBase = None, vocabulary: Vocabulary | None = None
    ) -> dict[str, Any]:
        real = self.focus[index][self.mask[index]]  # the real frames, in order
        real = real.detach().float()
        out = {"type": "Video", **_spans(real, time)}
        out["window_mass"] = round(float(self.focus[index].sum()), 4)
        out["probabilities"] = [round(float(p), 4) for p in real]
        return out


@dataclass(frozen=True, eq=False)
class Frames(Value):
    """When something holds: a probability per frame, ``probs [B,T]``, with the padding mask."""

    probs: Tensor
    mask: Tensor
    vtype = VType.FRAMES

    @property
    def masked(self) -> Tensor:
        """The probabilities with padded frames zeroed, ``[B, T]``."""
        return torch.where(self.mask, self.probs, 0)

    def loss(self, gold: Tensor) -> Tensor:
        """BCE per real frame against the gold mask ``[B, T]`` (soft targets allowed), ``[B]``."""
        return _masked_bce(self.probs, gold, self.mask)

    def explain(
        self, index: int, time: TimeBase = None, vocabulary: Vocabulary | None = None
    ) -> dict[str, Any]:
        probs = self.probs[index][self.mask[index]].detach().float()  # the real frames
        return {
            "type": "Frames",
            **_spans(probs, time),
            "probabilities": [round(float(p), 4) for p in probs],
        }


@dataclass(frozen=True, eq=False)
class Concept(Value):
    """An object / relation / action (or a set of them) as a vector in the concept space.

    ``option``: for ``Choose``'s output, the logits ``[B, 2]`` of picking its first or second
    option (the vector is then the probability-weighted mix of the two options).
    """

    vector: Tensor
    option: Tensor | None = None
    vtype = VType.CONCEPT

    def similarities(self, bank: Tensor) -> Tensor:
        """Cosine with every bank concept, ``[B, V]``."""
        return F.normalize(self.vector, dim=-1) @ F.normalize(bank, dim=-1).T

    def loss(
        self, gold: Tensor, bank: Tensor, temperature: Tensor | float, option: Tensor | None = None
    ) -> Tensor:
        """Multi-positive InfoNCE against the concept ``bank [V, D]``, ``[B]``.

        ``gold [B, V]`` is multi-hot: each positive is contrasted with every negative (the other
        positives are left out of its denominator), and the row's loss is the mean over its
        positives; a row with no positive has loss 0. ``temperature`` divides the cosines (pass
        the bank's learnable one). With ``option [B]`` (Choose's gold option, -1 = unknown) the
        cross-entropy of :attr:`option` is added.
        """
        logits = self.similarities(bank) / temperature  # (B, V)
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

    def explain(
        self,
        index: int,
        time: TimeBase = None,
        vocabulary: Vocabulary | None = None,
        top_k: int = 5,
    ) -> dict[str, Any]:
        vec = self.vector[index].detach().float()
        out: dict[str, Any] = {"type": "Concept", "norm": round(float(vec.norm()), 4)}
        if vocabulary is not None:
            out["nearest"] = _nearest(vec, vocabulary, top_k)
        if self.option is not None:
            probs = self.option[index].detach().float().softmax(-1)
            out["option_probabilities"] = [round(float(p), 4) for p in probs]
        return out


@dataclass(frozen=True, eq=False)
class Bool(Value):
    """A yes/no fact as a logit ``[B]`` (for ``Compare``: yes = the first, "before")."""

    logit: Tensor
    vtype = VType.BOOL

    @property
    def prob(self) -> Tensor:
        return torch.sigmoid(self.logit)

    def loss(self, gold: Tensor) -> Tensor:
        """BCE against the gold ``[B]`` (0/1), ``[B]``."""
        return F.binary_cross_entropy_with_logits(self.logit, gold.to(self.logit), reduction="none")

    def explain(
        self, index: int, time: TimeBase = None, vocabulary: Vocabulary | None = None
    ) -> dict[str, Any]:
        p = float(self.prob[index])
        return {"type": "Bool", "probability": round(p, 4), "value": p >= 0.5}


@dataclass(frozen=True, eq=False)
class Count(Value):
    """How many: log-probabilities ``[B, K+1]`` of 0..K occurrences (K means K or more)."""

    logits: Tensor
    vtype = VType.COUNT

    @property
    def max_count(self) -> int:
        return self.logits.shape[-1] - 1

    def loss(self, gold: Tensor) -> Tensor:
        """Cross-entropy against the gold count ``[B]`` (clamped to K), ``[B]``."""
        target = gold.long().clamp(0, self.max_count)
        return F.cross_entropy(self.logits, target, reduction="none")

    def explain(
        self, index: int, time: TimeBase = None, vocabulary: Vocabulary | None = None
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
        vocabulary: Vocabulary | None = None,
        top_k: int = 5,
    ) -> dict[str, Any]:
        vec = self.vector[index].detach().float()
        out: dict[str, Any] = {"type": "Text", "norm": round(float(vec.norm()), 4)}
        if vocabulary is not None:
            out["nearest"] = _nearest(vec, vocabulary, top_k)
        return out


VALUE_TYPES: dict[VType, type[Value]] = {
    cls.vtype: cls for cls in (Video, Frames, Concept, Bool, Count, Text)
}


# -- gold tensors from the symbolic executor ------------------------------------------------------
#: Feature frame -> scene-graph frame: one index per feature frame ``[T]``, or soft weights
#: ``[T, N]`` (each row sums to 1) when a feature frame covers several scene-graph frames.
FrameMap = Sequence[int] | Tensor


def _graph_frames(data: dict[str, Any], num_frames: int, frame_map: FrameMap | None) -> int:
    """How many scene-graph frames a JSON gold spans (to rebuild its masks)."""
    if frame_map is None:
        return num_frames
    fmap = torch.as_tensor(frame_map)
    if fmap.dim() == 2:
        return fmap.shape[1]
    ends = [end for _, end in data.get("spans", [])]
    return max([int(fmap.max()) + 1, *ends])


def _frames_tensor(mask: Sequence[bool], num_frames: int, frame_map: FrameMap | None) -> Tensor:
    """A scene-graph frame mask as a gold tensor ``[T]`` over the ``num_frames`` feature frames."""
    m = torch.tensor(mask, dtype=torch.float32)
    if frame_map is None:
        if len(m) != num_frames:
            raise GoldError(
                f"the gold spans {len(m)} scene-graph frames but the video has {num_frames} "
                "feature frames: pass frame_map (feature frame -> scene-graph frame)"
            )
        return m
    fmap = torch.as_tensor(frame_map)
    if fmap.shape[0] != num_frames:
        raise GoldError(f"frame_map has {fmap.shape[0]} rows for {num_frames} feature frames")
    if fmap.dim() == 2:
        if fmap.shape[1] != len(m):
            raise GoldError(f"frame_map has {fmap.shape[1]} columns for {len(m)} graph frames")
        return fmap.to(m) @ m
    if len(fmap) and (int(fmap.min()) < 0 or int(fmap.max()) >= len(m)):
        raise GoldError(f"frame_map points outside the {len(m)} scene-graph frames")
    return m[fmap.long()]


def gold_tensor(
    value: SymValue | dict[str, Any],
    num_frames: int,
    vocabulary: dict[str, int] | None = None,
    frame_map: FrameMap | None = None,
) -> Tensor:
    """The gold tensor of one node for a video of ``num_frames`` feature frames.

    ``value`` is a symbolic value or its JSON (``SymbolicResult.golds_json()``). Video -> the
    window ``[T]``; Frames -> the mask ``[T]``; Concept -> multi-hot ``[V]`` over ``vocabulary``
    (name -> index); Bool -> a 0/1 scalar; Count -> a long scalar. Without ``frame_map`` the
    video's frames are the scene graph's (the synthetic case); with it, feature frame ``t`` takes
    the gold of scene-graph frame ``frame_map[t]`` (or the ``frame_map[t]``-weighted mean).
    """
    if isinstance(value, dict):
        value = value_from_json(value, _graph_frames(value, num_frames, frame_map))
    if isinstance(value, SymVideo):
        return _frames_tensor(value.window, num_frames, frame_map)
    if isinstance(value, SymFrames):
        return _frames_tensor(value.mask, num_frames, frame_map)
    if isinstance(value, SymBool):
        return torch.tensor(float(value.value))
    if isinstance(value, SymCount):
        return torch.tensor(value.value, dtype=torch.long)
    if isinstance(value, SymConcept):
        if vocabulary is None:
            raise GoldError("a Concept gold needs the concept vocabulary (name -> index)")
        unknown = sorted(n for n in value.items if n not in vocabulary)
        if unknown:
            raise GoldError(f"gold concepts not in the concept vocabulary: {unknown}")
        hot = torch.zeros(len(vocabulary))
        hot[[vocabulary[n] for n in value.items]] = 1.0
        return hot
    raise GoldError(f"no gold tensor for {type(value).__name__}")


def _node_values(values: dict[Any, Any], num_frames: int, frame_map: FrameMap | None) -> dict:
    """Node id -> symbolic value, from ``SymbolicResult.values`` or ``golds_json()``."""
    out = {}
    for key, val in values.items():
        if isinstance(val, dict):
            val = value_from_json(val, _graph_frames(val, num_frames, frame_map))
        out[int(key)] = val
    return out


def tree_golds(
    tree: ModuleTree,
    values: dict[int, SymValue] | dict[str, dict[str, Any]],
    num_frames: int,
    vocabulary: dict[str, int] | None = None,
    frame_map: FrameMap | None = None,
) -> dict[int, Tensor]:
    """:func:`gold_tensor` of every node of ``tree`` that has a gold value."""
    sym = _node_values(values, num_frames, frame_map)
    return {
        node.id: gold_tensor(sym[node.id], num_frames, vocabulary, frame_map)
        for node in tree.nodes
        if node.id in sym
    }


def choose_options(
    tree: ModuleTree, values: dict[int, SymValue] | dict[str, dict[str, Any]]
) -> dict[int, int]:
    """Choose node id -> its gold option (0 = first, 1 = second), where exactly one matches."""
    sym = {
        int(k): value_from_json(v, 0) if isinstance(v, dict) else v
        for k, v in values.items()
        if (v.get("type") == "Concept" if isinstance(v, dict) else isinstance(v, SymConcept))
    }

    def names(arg: object) -> frozenset[str]:
        if isinstance(arg, Phrase):
            return frozenset({arg.text})
        if isinstance(arg, Node) and isinstance(sym.get(arg.id), SymConcept):
            return sym[arg.id].items
        return frozenset()

    out: dict[int, int] = {}
    for node in tree.nodes:
        chosen = sym.get(node.id)
        if node.module != "Choose" or not isinstance(chosen, SymConcept):
            continue
        hits = [i for i, arg in enumerate(node.args[:2]) if names(arg) & chosen.items]
        if len(hits) == 1:
            out[node.id] = hits[0]
    return out
