"""The program language: AGQA programs -> typed module trees, and their symbolic execution.

Programs are plain data and this package's own code uses no torch; the module signatures, though,
are derived from the neural modules' type hints, so the first compile imports ``stair.modules``.
The pipeline: :func:`parse` (string -> syntax tree with positions),
:func:`compile_program` (syntax tree -> checked :class:`ModuleTree`), serialisations
(:mod:`stair.programs.serialize`) and :func:`execute` (tree + :class:`SceneGraph` -> answer and a
gold value per node).
"""

from stair.programs.compiler import compile_program
from stair.programs.errors import ProgramError, SymbolicError
from stair.programs.parser import parse
from stair.programs.scene_graph import (
    ActionInstance,
    Frame,
    SceneGraph,
    SceneGraphError,
    load_scene_graphs,
    save_scene_graphs,
)
from stair.programs.serialize import (
    from_json,
    from_text,
    from_tokens,
    to_json,
    to_pretty,
    to_text,
    to_tokens,
)
from stair.programs.signatures import SIGNATURES, Signature, VType
from stair.programs.switches import Category, Direction, Extreme, Switch, TemporalMode
from stair.programs.symbolic import SymbolicResult, execute
from stair.programs.tree import VIDEO, ModuleTree, Node, Phrase, VideoInput
from stair.programs.typecheck import check

__all__ = [
    "SIGNATURES", "VIDEO", "ActionInstance", "Category", "Direction", "Extreme", "Frame",
    "ModuleTree", "Node", "Phrase", "ProgramError", "SceneGraph", "SceneGraphError", "Signature",
    "Switch", "SymbolicError", "SymbolicResult", "TemporalMode", "VType", "VideoInput", "check",
    "compile_program", "execute", "from_json", "from_text", "from_tokens", "load_scene_graphs",
    "parse", "save_scene_graphs", "to_json", "to_pretty", "to_text", "to_tokens",
]  # fmt: skip
