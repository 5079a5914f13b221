"""The neural modules (one small class each), their registry and the concept bank.

Importing this package registers the whole catalogue of DESIGN.md section 5 in
:data:`~stair.modules.registry.MODULES`; :data:`stair.programs.SIGNATURES` is derived from it.
"""

from stair.modules.bank import ConceptBank
from stair.modules.compose import Choose, Equals, ToAction
from stair.modules.count import Count
from stair.modules.exists import Exists, ExistsFrame, HasItem
from stair.modules.filter import Filter, FilterFrame
from stair.modules.frames import AttnVideo, Relate
from stair.modules.localize import Localize
from stair.modules.logic import And, AndFrame, Compare, Not, Or, Xor, XorFrame
from stair.modules.registry import (
    MODULES,
    OnlyWith,
    build_modules,
    context_of,
    register,
    signature_of,
    signatures,
)
from stair.modules.superlative import Superlative
from stair.modules.temporal import Temporal

__all__ = [
    "MODULES", "And", "AndFrame", "AttnVideo", "Choose", "Compare", "ConceptBank", "Count",
    "Equals", "Exists", "ExistsFrame", "Filter", "FilterFrame", "HasItem", "Localize", "Not",
    "OnlyWith", "Or", "Relate", "Superlative", "Temporal", "ToAction", "Xor", "XorFrame",
    "build_modules", "context_of", "register", "signature_of", "signatures",
]  # fmt: skip
