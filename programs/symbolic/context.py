"""What an operation may ask for besides its arguments: the scene, frame by frame, and a reporter.

Operations name these as keyword-only parameters (``*, scene: Scene``), as neural modules name
theirs; the executor (:func:`stair.programs.symbolic.evaluate`) supplies the ones asked for:

- ``scene``: the :class:`Scene` being evaluated on;
- ``report``: the :class:`Report` of the node, for ill-posed questions and errors;
- ``node``: the :class:`~stair.programs.tree.Node` itself, for semantics that read how an
  argument was written (``Superlative`` names a candidate ``Filter(video, phrase)`` by its phrase).
"""

from __future__ import annotations

from dataclasses import dataclass

from stair.programs.errors import SymbolicError
from stair.programs.scene_graph import ActionInstance, SceneGraph
from stair.programs.switches import Category
from stair.programs.symbolic.values import SymValue, SymVideo
from stair.programs.tree import ModuleTree, Node


class Scene:
    """A scene graph read per frame: visible objects, person-object relations, actions under way.

    Per frame, the *objects* are the visible ones, the *relations* the person-object relations,
    the *actions* the action instances under way.
    """

    def __init__(self, graph: SceneGraph) -> None:
        self.graph = graph
        self.num_frames = graph.num_frames
        self.objects = [f.objects for f in graph.frames]
        self.relations = [f.relations for f in graph.frames]
        self.actions: list[list[ActionInstance]] = [[] for _ in range(self.num_frames)]
        for act in graph.actions:
            for f in range(act.start, act.end):
                self.actions[f].append(act)
        #: per frame: each action under way as (phrase, the words that name it)
        self.named = [[(a.phrase, a.names()) for a in acts] for acts in self.actions]
        #: per frame: every word naming an action under way
        self.action_words: list[frozenset[str]] = [
            frozenset().union(*(names for _, names in named)) for named in self.named
        ]
        self._relation_names = [frozenset(r for r, _ in rels) for rels in self.relations]
        self.whole = SymVideo((True,) * self.num_frames)  #: the raw video's value
        #: subtree -> its value here, for subtrees evaluated without issues (kept by the
        #: executor; see :mod:`.executor`)
        self.memo: dict[Node, SymValue] = {}

    def items(self, category: Category, frame: int, text: frozenset[str] | None) -> frozenset[str]:
        """The concepts of ``category`` at ``frame``, those matching ``text`` when it is given.

        A phrase matches an action by its phrase, verb or object; it matches a relation-object
        pair by either side (``holding`` gives the objects held, ``cup`` the relations to it).
        """
        if category is Category.OBJECTS:
            if text is None:
                return self.objects[frame]
            related = {o for r, o in self.relations[frame] if r in text}
            return frozenset(related | (self.objects[frame] & text))
        if category is Category.RELATIONS:
            if text is None:
                return self._relation_names[frame]
            return frozenset(r for r, o in self.relations[frame] if o in text or r in text)
        if text is None:
            return frozenset(phrase for phrase, _ in self.named[frame])
        if self.action_words[frame].isdisjoint(text):
            return frozenset()
        return frozenset(
            phrase for phrase, names in self.named[frame] if not names.isdisjoint(text)
        )


@dataclass
class Report:
    """Where one node's problems go: ``issue`` for an ill-posed question, ``error`` to fail.

    Both messages start with the node's path in the tree (worked out only when needed).
    """

    tree: ModuleTree
    node: Node
    issues: list[str]

    def issue(self, message: str) -> None:
        """The question has no single answer here (it is kept in ``SymbolicResult.issues``)."""
        self.issues.append(f"{self.tree.path(self.node.id)}: {message}")

    def error(self, message: str) -> SymbolicError:
        """The tree cannot be evaluated at all (the caller raises it)."""
        return SymbolicError(f"{self.tree.path(self.node.id)}: {message}")
