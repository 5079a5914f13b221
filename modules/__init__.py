"""The neural modules (one small class each), their registry and the concept bank.

Importing this package registers the whole catalogue of DESIGN.md section 5 in
:data:`~stair.modules.registry.MODULES`, each checked against its operation in
:data:`stair.programs.OPERATIONS` (the module's semantics, whose hints give
:data:`stair.programs.SIGNATURES`).
"""

from stair.modules.bank import ConceptBank
from stair.modules.compose import Choose, Equals, ToAction
from stair.modules.count import CountOccurrences
from stair.modules.exists import Exists, ExistsFrame, HasItem
from stair.modules.filter import Filter, FilterFrame
from stair.modules.frames import AttnVideo, Relate
from stair.modules.localize import Localize
from stair.modules.logic import And, AndFrame, Compare, Not, Or, Xor, XorFrame
from stair.modules.registry import (
    MODULES,
    build_modules,
    context_of,
    operation_of,
    register,
    signature_of,
)
from stair.modules.superlative import Superlative
from stair.modules.temporal import Temporal

__all__ = [
    "MODULES", "And", "AndFrame", "AttnVideo", "Choose", "Compare", "ConceptBank",
    "CountOccurrences",
    "Equals", "Exists", "ExistsFrame", "Filter", "FilterFrame", "HasItem", "Localize", "Not",
    "Or", "Relate", "Superlative", "Temporal", "ToAction", "Xor", "XorFrame", "build_modules",
    "context_of", "operation_of", "register", "signature_of",
]  # fmt: skip
