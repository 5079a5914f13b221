"""Typed values: what flows between the neural modules, each type with its whole story.

Every module input and output is one of these small dataclasses (DESIGN.md section 4). Each holds
a batch of values (``B`` leading) and owns, against the gold of its node (the symbolic
executor's value, :mod:`stair.values.golds`): reading the gold into a tensor, its intermediate
loss (per row, shape ``[B]``; the caller reduces), its judgement (the intermediate metrics), and
the audit renderings of itself and of its gold (the protocol: :mod:`stair.values.base`).

=======  ======================================  ================================  ================
type     tensors                                 loss against gold                 judged by
=======  ======================================  ================================  ================
Video    features [B,T,D], weights [B,T], mask   BCE of the focus window           IoU
Frames   probs [B,T] in [0,1], mask [B,T]        BCE per frame                     IoU
Concept  vector [B,D] (+ Choose's option [B,2])  multi-positive InfoNCE vs a bank  top-1, recall@5
Bool     logit [B]                               BCE                               accuracy
Count    logits [B,K+1] (log-probabilities)      cross-entropy                     accuracy
Text     vector [B,D]                            (an input: no gold)
=======  ======================================  ================================  ================

Two of them have a one-frame variant, the same type to the language, read by its peak instead of
at 0.5 (:class:`Moment`, :class:`MomentVideo`: ``Relate``'s pick and ``AttnVideo`` on it, whose
per-frame values are a distribution over the frames).

``mask`` is the padding mask (True = a real frame). Probabilities (``Frames.probs``, the focus
``Video.weights``) are stored as probabilities, not logits: the temporal modules multiply and
accumulate them. Padded frames never count: :attr:`Video.focus` and :attr:`Frames.masked` zero
them whatever the stored tensor holds there, and frame losses average over real frames only.

The switch enums are re-exported here so that module code imports its vocabulary from one place.
"""

from stair.programs.switches import Category, Direction, Extreme, Switch, TemporalMode
from stair.values.base import (
    ConceptSpace,
    ExecutionError,
    FrameMap,
    GoldContext,
    GoldError,
    Value,
    tensor_fields,
)
from stair.values.concept import Concept, Text
from stair.values.frames import Frames, Moment, MomentVideo, Video
from stair.values.golds import choose_options, tree_golds
from stair.values.kinds import VALUE_TYPES
from stair.values.scalars import Bool, Count
from stair.values.time import TimeBase

__all__ = [
    "VALUE_TYPES", "Bool", "Category", "Concept", "ConceptSpace", "Count", "Direction",
    "ExecutionError", "Extreme", "FrameMap", "Frames", "GoldContext", "GoldError", "Moment",
    "MomentVideo", "Switch",
    "TemporalMode", "Text", "TimeBase", "Value", "Video", "choose_options",
    "tensor_fields", "tree_golds",
]  # fmt: skip
