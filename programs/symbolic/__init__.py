"""The exact semantics of the language: module trees evaluated on scene graphs.

:mod:`.values` (the symbolic values and their JSON form), :mod:`.context` (what operations may
ask for: the scene, the node, an issue reporter), :mod:`.operations` (one function per module,
which registers the language's operations and their signatures) and :mod:`.executor`
(:func:`evaluate`: a tree on a scene graph -> the answer and a gold value per node).
"""

from stair.programs.symbolic import operations  # noqa: F401  (registers the operations)
from stair.programs.symbolic.context import Scene
from stair.programs.symbolic.executor import SymbolicResult, answer_of, evaluate
from stair.programs.symbolic.values import (
    SymBool,
    SymConcept,
    SymCount,
    SymFrames,
    SymValue,
    SymVideo,
    spans,
    value_from_json,
)

__all__ = [
    "Scene", "SymBool", "SymConcept", "SymCount", "SymFrames", "SymValue", "SymVideo",
    "SymbolicResult", "answer_of", "evaluate", "spans", "value_from_json",
]  # fmt: skip
