"""The typed module tree: what the generator predicts, the executor runs and the audit shows.

A tree is immutable data. A :class:`Node` is one module application; its ``args`` hold one entry
per parameter of the module's :class:`~stair.programs.signatures.Signature`: a child ``Node``, a
:class:`Phrase` (a ``Text`` argument such as ``"opening a closet"``), :data:`VIDEO` (the raw input
video), ``None`` for an empty optional slot, or a tuple for a variadic slot.

Nodes are numbered in pre-order (the root is 0); :class:`ModuleTree` holds the numbered root and,
when compiled from AGQA, the source string. ``origin`` links a node to the ``(start, end)``
character range of the AGQA syntax node it came from; it takes no part in equality.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from itertools import pairwise
from typing import ClassVar, Union

from stair.programs.signatures import SIGNATURES, Signature, VType
from stair.programs.switches import Switch

Span = tuple[int, int]


@dataclass(frozen=True)
class Phrase:
    """A phrase argument: an object, relation, verb or action named in words.

    It is the ``Text`` value of the language: operations take it as it is (``vtype``, as every
    value class has); ``type`` is its type as a tree argument, as for nodes and the video.
    """

    text: str
    origin: Span | None = field(default=None, compare=False)
    vtype: ClassVar[VType] = VType.TEXT

    @property
    def type(self) -> VType:
        return self.vtype


@dataclass(frozen=True)
class VideoInput:
    """The raw input video (every frame, no focus window)."""

    origin: Span | None = field(default=None, compare=False)

    @property
    def type(self) -> VType:
        return VType.VIDEO


VIDEO = VideoInput()


@dataclass(frozen=True)
class Node:
    """One module application: ``module[switch](*args)``."""

    module: str
    args: tuple[Arg, ...]
    switch: Switch | None = None
    id: int = field(default=-1, compare=False)
    origin: Span | None = field(default=None, compare=False)

    def __hash__(self) -> int:
        # worked out once: nodes key the executor's memo, and a subtree's hash is its children's
        cached = self.__dict__.get("_hash")
        if cached is None:
            cached = self.__dict__["_hash"] = hash((self.module, self.args, self.switch))
        return cached

    def __getstate__(self) -> dict[str, object]:
        # string hashes differ between processes: a pickled node works its hash out again
        return {k: v for k, v in self.__dict__.items() if k != "_hash"}

    @property
    def signature(self) -> Signature:
        return SIGNATURES[self.module]

    @property
    def type(self) -> VType:
        return SIGNATURES[self.module].returns

    @property
    def label(self) -> str:
        """``Module`` or ``Module[switch]``: the module together with its switch."""
        return f"{self.module}[{self.switch.value}]" if self.switch is not None else self.module

    def children(self) -> Iterator[Node]:
        """The child nodes, in argument order (leaves and empty slots skipped)."""
        for arg in self.args:
            for item in arg if isinstance(arg, tuple) else (arg,):
                if isinstance(item, Node):
                    yield item

    def leaves(self) -> Iterator[Phrase | VideoInput]:
        """The phrase and video arguments given directly to this node."""
        for arg in self.args:
            for item in arg if isinstance(arg, tuple) else (arg,):
                if isinstance(item, (Phrase, VideoInput)):
                    yield item

    def walk(self) -> Iterator[Node]:
        """This node and all below it, in pre-order (the order of ``id``)."""
        yield self
        for child in self.children():
            yield from child.walk()


Leaf = Union[Phrase, VideoInput]  # noqa: UP007
Arg = Union[Node, Phrase, VideoInput, None, tuple[Union[Node, Phrase, VideoInput], ...]]  # noqa: UP007


def number(root: Node) -> Node:
    """A copy of ``root`` with every node's ``id`` set to its pre-order index."""
    counter = iter(range(1 << 30))

    def visit(node: Node) -> Node:
        node_id = next(counter)
        args = tuple(
            tuple(visit(a) if isinstance(a, Node) else a for a in arg)
            if isinstance(arg, tuple)
            else visit(arg)
            if isinstance(arg, Node)
            else arg
            for arg in node.args
        )
        return replace(node, args=args, id=node_id)

    return visit(root)


@dataclass(frozen=True)
class ModuleTree:
    """A numbered module tree, with the AGQA program it was compiled from (if any)."""

    root: Node
    source: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        nodes = tuple(self.root.walk())
        if any(n.id != i for i, n in enumerate(nodes)):
            object.__setattr__(self, "root", number(self.root))
            nodes = tuple(self.root.walk())
        object.__setattr__(self, "_nodes", nodes)

    @property
    def nodes(self) -> tuple[Node, ...]:
        """Every node in pre-order; ``tree.nodes[i].id == i``."""
        return self.__dict__["_nodes"]

    @property
    def type(self) -> VType:
        return self.root.type

    def __len__(self) -> int:
        return len(self.nodes)

    def parents(self) -> dict[int, int]:
        """Child id -> parent id."""
        return {c.id: n.id for n in self.nodes for c in n.children()}

    def depth(self) -> int:
        """Number of module levels (a single node has depth 1)."""

        def d(node: Node) -> int:
            return 1 + max((d(c) for c in node.children()), default=0)

        return d(self.root)

    def heights(self) -> dict[int, int]:
        """Node id -> height (leaf modules 0): nodes of equal height can run together."""
        out: dict[int, int] = {}
        for node in reversed(self.nodes):
            out[node.id] = 1 + max((out[c.id] for c in node.children()), default=-1)
        return out

    def phrases(self) -> list[Phrase]:
        """Every phrase argument in the tree, in pre-order."""
        return [leaf for n in self.nodes for leaf in n.leaves() if isinstance(leaf, Phrase)]

    def path(self, node_id: int) -> str:
        """A readable path to a node, e.g. ``Exists/1:Filter[objects]/0:Temporal[before]``."""
        parents = self.parents()
        chain = [node_id]
        while chain[-1] in parents:
            chain.append(parents[chain[-1]])
        chain.reverse()
        parts = [self.nodes[chain[0]].label]
        for parent_id, child_id in pairwise(chain):
            parent = self.nodes[parent_id]
            slot = next(i for i, a in enumerate(parent.args) if _holds(a, child_id))
            parts.append(f"{slot}:{self.nodes[child_id].label}")
        return "/".join(parts)


def _holds(arg: Arg, node_id: int) -> bool:
    items = arg if isinstance(arg, tuple) else (arg,)
    return any(isinstance(a, Node) and a.id == node_id for a in items)
