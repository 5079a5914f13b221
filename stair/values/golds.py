"""A question's golds: the symbolic executor's value of every node, read into gold tensors.

The golds travel in one form from the symbolic executor to the batch: the JSON of its values
(``SymbolicResult.golds_json()``, what a dataset stores: node id -> ``{"type": ..., ...}``).
:func:`tree_golds` reads each once, by the value class of its node (``Value.read_gold``), into
the tensor that the node's loss and judgement read and that its audit renders
(``Value.explain_gold``). :func:`choose_options` reads which option each option-answering node
(``Choose``) picks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor

from stair.programs.signatures import AnswerAs, VType
from stair.programs.tree import ModuleTree, Node, Phrase
from stair.values.base import GoldContext, GoldError
from stair.values.kinds import VALUE_TYPES

#: Node id (a string key, as in JSON) -> the JSON of its symbolic value.
GoldsJSON = Mapping[str, Mapping[str, Any]]


def tree_golds(tree: ModuleTree, golds: GoldsJSON, context: GoldContext) -> dict[int, Tensor]:
    """Node id -> gold tensor, for every node of ``tree`` that has a gold in ``golds``.

    Each gold is read by the value class of its node's type; a gold of another type is an error.
    """
    out: dict[int, Tensor] = {}
    for node in tree.nodes:
        data = golds.get(str(node.id))
        if data is None:
            continue
        if data["type"] != str(node.type):
            raise GoldError(f"the gold of node {node.id} is a {data['type']}, not a {node.type}")
        out[node.id] = VALUE_TYPES[node.type].read_gold(data, context)
    return out


def choose_options(tree: ModuleTree, golds: GoldsJSON) -> dict[int, int]:
    """Option-answering node id -> its gold option (0 = first, 1 = second), where exactly one
    of its two first arguments (a phrase, or a node's gold concepts) is among its gold concepts.
    """

    def items(node: Node) -> frozenset[str]:
        data = golds.get(str(node.id))
        if data is None or data["type"] != str(VType.CONCEPT):
            return frozenset()
        return frozenset(data["items"])

    def names(arg: object) -> frozenset[str]:
        if isinstance(arg, Phrase):
            return frozenset({arg.text})
        return items(arg) if isinstance(arg, Node) else frozenset()

    out: dict[int, int] = {}
    for node in tree.nodes:
        chosen = items(node)
        if node.signature.answer_as is not AnswerAs.OPTION or not chosen:
            continue
        hits = [i for i, arg in enumerate(node.args[:2]) if names(arg) & chosen]
        if len(hits) == 1:
            out[node.id] = hits[0]
    return out
