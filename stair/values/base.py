"""The value protocol: what every value type knows, and the row operations they share.

A value holds a batch of values (``B`` leading). Beyond its tensors, each type owns its whole
story with a gold (the symbolic executor's value of the same node, stored as JSON):

==================  ===========================================================================
method              meaning
==================  ===========================================================================
``read_gold``       one question's JSON gold -> the gold tensor its loss and judgement read
``stack_golds``     the gold tensors of the supervised rows -> one ``[R, ...]`` tensor
``loss``            per-row intermediate loss against the stacked golds, ``[R]``
``judge``           per-row quality against the stacked golds: metric name -> ``[R]``
``explain``         one row rendered for audit, a JSON-able dict
``explain_gold``    one gold tensor rendered for audit, in the same terms as ``explain``
``describe``        a rendering (``explain`` or ``explain_gold``) as one line of text
``answer_shown``    the answer word a rendered root value says, when it is read off it
==================  ===========================================================================

Concept golds are read against the concept bank: :class:`ConceptSpace` is the bank as values
see it. Frame golds are read against the video's feature frames: :class:`GoldContext`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, ClassVar, NamedTuple, TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor

from stair.errors import StairError
from stair.programs.signatures import AnswerAs, VType
from stair.programs.switches import Switch

V = TypeVar("V", bound="Value")

#: Feature frame -> scene-graph frame: one index per feature frame ``[T]``, or soft weights
#: ``[T, N]`` (each row sums to 1) when a feature frame covers several scene-graph frames.
FrameMap = Sequence[int] | Tensor


class ExecutionError(StairError):
    """A module tree cannot be executed with what was given (missing bank, bad batch)."""


class GoldError(StairError):
    """A gold value that cannot become a tensor (unknown concept, frame counts that disagree)."""


class ConceptSpace(NamedTuple):
    """The concept bank as values read it: to render a concept as its nearest names, and for
    Concept losses and judgements.

    ``embeddings [V, D]`` in the bank's row order (``names``); ``temperature`` divides the
    cosines of the InfoNCE loss (the bank's learnable one); ``categories [V]``: each concept's
    :class:`~stair.programs.switches.Category` as an index of that enum (-1: none), which the
    judgement ranks within.
    """

    names: Sequence[str]
    embeddings: Tensor
    temperature: Tensor | float = 1.0
    categories: Tensor | None = None


@dataclass(frozen=True)
class GoldContext:
    """What one question's JSON golds are read against.

    ``num_frames``: the video's real feature frames; ``length``: the gold tensor's length over
    time (the batch's padded length; default ``num_frames``), zero past the real frames;
    ``frame_map``: which scene-graph frame each feature frame shows (None: the same frames, the
    synthetic case); ``concepts``: concept name -> bank row, for Concept golds.
    """

    num_frames: int
    concepts: Mapping[str, int] | None = None
    frame_map: FrameMap | None = None
    length: int | None = None

    def frames(self, runs: Sequence[Sequence[int]]) -> Tensor:
        """Scene-graph frame runs ``[start, end)`` as a gold mask over the feature frames.

        Feature frame ``t`` takes the gold of scene-graph frame ``frame_map[t]`` (or the
        ``frame_map[t]``-weighted mean); the result has :attr:`length` entries.
        """
        n = self.num_frames
        end = max((int(e) for _, e in runs), default=0)
        fmap = None if self.frame_map is None else torch.as_tensor(self.frame_map)
        if fmap is None:
            if end > n:
                raise GoldError(
                    f"the gold spans {end} scene-graph frames but the video has {n} feature "
                    "frames: pass frame_map (feature frame -> scene-graph frame)"
                )
            graph = n
        elif fmap.shape[0] != n:
            raise GoldError(f"frame_map has {fmap.shape[0]} rows for {n} feature frames")
        elif fmap.dim() == 2:
            graph = fmap.shape[1]
            if end > graph:
                raise GoldError(f"frame_map has {graph} columns for {end} graph frames")
        else:
            graph = max(int(fmap.max()) + 1 if len(fmap) else 0, end)
            if len(fmap) and int(fmap.min()) < 0:
                raise GoldError(f"frame_map points outside the {graph} scene-graph frames")
        mask = torch.zeros(graph)
        for start, stop in runs:
            mask[int(start) : int(stop)] = 1.0
        if fmap is not None:
            mask = fmap.to(mask) @ mask if fmap.dim() == 2 else mask[fmap.long()]
        length = n if self.length is None else self.length
        return torch.cat([mask, mask.new_zeros(length - n)]) if length > n else mask

    def concept_rows(self, names: Sequence[str]) -> list[int]:
        """The bank rows of the gold concept ``names``."""
        if self.concepts is None:
            raise GoldError("a Concept gold needs the concept vocabulary (name -> index)")
        unknown = sorted(n for n in names if n not in self.concepts)
        if unknown:
            raise GoldError(f"gold concepts not in the concept vocabulary: {unknown}")
        return [self.concepts[n] for n in names]


def fit_frames(gold: Tensor, length: int) -> Tensor:
    """A gold over time (last axis) cut or zero-padded to ``length`` frames: golds are read to
    their own batch's padded length, the value they meet may be padded to another."""
    frames = gold.shape[-1]
    return gold[..., :length] if frames >= length else F.pad(gold, (0, length - frames))


@functools.cache
def tensor_fields(cls: type[Value]) -> tuple[str, ...]:
    """The tensor fields of a value type (fields with ``metadata={"tensor": False}`` are not)."""
    return tuple(f.name for f in fields(cls) if f.metadata.get("tensor", True))


@dataclass(frozen=True, eq=False)
class Value:
    """Base of the value types: row gathering and concatenation over the tensor fields, and the
    protocol with golds (module docstring). A type without golds (``Text``, an input) keeps the
    base methods, which say so.

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

    # -- the protocol with golds ----------------------------------------------------------------
    @classmethod
    def read_gold(cls, data: Mapping[str, Any], context: GoldContext) -> Tensor:
        """One question's gold (the JSON of the symbolic executor's value) as a tensor."""
        raise GoldError(f"{cls.vtype} values have no gold")

    def stack_golds(self, golds: Sequence[Tensor]) -> Tensor:
        """The gold tensors of this value's rows, one row each, stacked: ``[R, ...]``."""
        return torch.stack(list(golds))

    def loss(
        self, gold: Tensor, concepts: ConceptSpace | None = None, option: Tensor | None = None
    ) -> Tensor:
        """The per-row intermediate loss against ``gold [R, ...]`` (:meth:`stack_golds`), ``[R]``.

        ``concepts``: the bank, for Concept values; ``option [R]``: Choose's gold option.
        """
        raise GoldError(f"{self.vtype} values have no gold to be trained against")

    def judge(
        self, gold: Tensor, concepts: ConceptSpace | None = None, switch: Switch | None = None
    ) -> dict[str, Tensor]:
        """Per-row quality against ``gold [R, ...]``: metric name -> ``[R]`` (NaN: no verdict).

        ``switch``: the step's switch (a Category switch names the category to rank within).
        """
        raise GoldError(f"{self.vtype} values have no gold to be judged against")

    @classmethod
    def explain_gold(
        cls, gold: Tensor, times: Sequence[float], names: Sequence[str]
    ) -> dict[str, Any]:
        """One gold tensor (:meth:`read_gold`) as the JSON an audit shows next to the output.

        ``times``: the seconds of the video's real frames; ``names``: the bank's concept names.
        """
        raise GoldError(f"{cls.vtype} values have no gold")

    @classmethod
    def describe(cls, shown: Mapping[str, Any]) -> str:
        """A rendered value of this type (an output or a gold) as one line of text."""
        return ", ".join(f"{k}={v}" for k, v in shown.items() if k != "type")

    @classmethod
    def answer_shown(cls, shown: Mapping[str, Any], answer_as: AnswerAs) -> str | None:
        """The answer word that a rendered root value of this type says, read as ``answer_as``;
        None when the answer is not read off the rendering (it is scored elsewhere)."""
        return None
