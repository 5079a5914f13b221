"""The program language: AGQA programs -> typed module trees, and their exact semantics.

Programs are plain data and this package uses no torch. The language declares its operations
itself: each module is one typed function with its semantics on a scene graph
(:mod:`stair.programs.symbolic.operations`, registered with :func:`operation`), and
:data:`SIGNATURES` is read from those functions' type hints. Adding a module is that function
plus, to run it neurally, a ``@register``-ed class in :mod:`stair.modules` with the same
signature (the registry checks they agree).

The pipeline: :func:`parse` (string -> syntax tree with positions),
:func:`compile_program` (syntax tree -> checked :class:`ModuleTree`), serialisations
(:mod:`stair.programs.serialize`) and :func:`evaluate` (tree + :class:`SceneGraph` -> answer and
a gold value per node).
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
from stair.programs.signatures import (
    OPERATIONS,
    SIGNATURES,
    AnswerAs,
    OnlyWith,
    Signature,
    VType,
    operation,
)
from stair.programs.switches import Category, Direction, Extreme, Switch, TemporalMode
from stair.programs.symbolic import SymbolicResult, evaluate
from stair.programs.tree import VIDEO, ModuleTree, Node, Phrase, VideoInput
from stair.programs.typecheck import check

__all__ = [
    "OPERATIONS", "SIGNATURES", "VIDEO", "ActionInstance", "AnswerAs", "Category", "Direction",
    "Extreme", "Frame", "ModuleTree", "Node", "OnlyWith", "Phrase", "ProgramError", "SceneGraph",
    "SceneGraphError", "Signature", "Switch", "SymbolicError", "SymbolicResult", "TemporalMode",
    "VType", "VideoInput", "check", "compile_program", "evaluate", "from_json", "from_text",
    "from_tokens", "load_scene_graphs", "operation", "parse", "save_scene_graphs", "to_json",
    "to_pretty", "to_text", "to_tokens",
]  # fmt: skip
