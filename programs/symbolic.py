"""The symbolic executor: run a module tree on a scene graph, exactly.

It gives the answer and a typed gold value for every node of the tree; these golds supervise the
neural modules and are the ground truth of audits. Values, by the node's value type:

============  =====================  =============================================================
type          value                  meaning
============  =====================  =============================================================
Video         :class:`SymVideo`      the focus window (a bool per frame); after ``FilterFrame``
                                     also the concepts found in each frame
Frames        :class:`SymFrames`     the frames where something holds
Concept       :class:`SymConcept`    a set of concept names (objects, relations or actions)
Bool          :class:`SymBool`       yes / no (for ``Compare``: yes = before)
Count         :class:`SymCount`      how many separate occurrences
============  =====================  =============================================================

Semantics, per frame: the *objects* are the visible ones, the *relations* the person-object
relations, the *actions* the action instances under way. A phrase matches an action by its
phrase, verb or object; it matches a relation-object pair by either side. ``before A`` is the
frames before A first starts, ``after A`` those after it last ends, ``between A1 and A2`` those
after A1 ends and before A2 starts.

Questions without a single answer (an empty time window, an empty or tied superlative, a Compare
where both or neither hold, a query with several items) are reported in ``SymbolicResult.issues``;
where no answer can be read off, ``answer`` is ``None``. Generators keep only well-posed questions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from stair.programs.errors import SymbolicError
from stair.programs.scene_graph import SceneGraph
from stair.programs.signatures import VType
from stair.programs.switches import Category, Direction, Extreme, TemporalMode
from stair.programs.tree import Arg, ModuleTree, Node, Phrase, VideoInput

Mask = tuple[bool, ...]


def spans(mask: Mask) -> list[list[int]]:
    """Maximal runs of True as half-open ``[start, end]`` frame ranges."""
    out: list[list[int]] = []
    for i, on in enumerate(mask):
        if on and (i == 0 or not mask[i - 1]):
            out.append([i, i + 1])
        elif on:
            out[-1][1] = i + 1
    return out


@dataclass(frozen=True)
class SymVideo:
    window: Mask
    items: tuple[frozenset[str], ...] | None = None
    type = VType.VIDEO

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "Video", "spans": spans(self.window)}
        if self.items is not None:
            out["items"] = [sorted(s) for s in self.items]
        return out


@dataclass(frozen=True)
class SymFrames:
    mask: Mask
    type = VType.FRAMES

    def to_json(self) -> dict[str, Any]:
        return {"type": "Frames", "spans": spans(self.mask)}


@dataclass(frozen=True)
class SymConcept:
    items: frozenset[str]
    category: Category | None = None
    type = VType.CONCEPT

    def to_json(self) -> dict[str, Any]:
        cat = self.category.value if self.category is not None else None
        return {"type": "Concept", "items": sorted(self.items), "category": cat}


@dataclass(frozen=True)
class SymBool:
    value: bool
    type = VType.BOOL

    def to_json(self) -> dict[str, Any]:
        return {"type": "Bool", "value": self.value}


@dataclass(frozen=True)
class SymCount:
    value: int
    type = VType.COUNT

    def to_json(self) -> dict[str, Any]:
        return {"type": "Count", "value": self.value}


SymValue = SymVideo | SymFrames | SymConcept | SymBool | SymCount


def value_from_json(data: dict[str, Any], num_frames: int) -> SymValue:
    """Inverse of each value's ``to_json`` (masks need the video's frame count)."""

    def mask(ranges: list[list[int]]) -> Mask:
        m = [False] * num_frames
        for start, end in ranges:
            m[start:end] = [True] * (end - start)
        return tuple(m)

    kind = data["type"]
    if kind == "Video":
        items = data.get("items")
        return SymVideo(mask(data["spans"]), tuple(map(frozenset, items)) if items else None)
    if kind == "Frames":
        return SymFrames(mask(data["spans"]))
    if kind == "Concept":
        cat = Category(data["category"]) if data.get("category") else None
        return SymConcept(frozenset(data["items"]), cat)
    if kind == "Bool":
        return SymBool(bool(data["value"]))
    if kind == "Count":
        return SymCount(int(data["value"]))
    raise SymbolicError(f"unknown gold value type {kind!r}")


@dataclass
class SymbolicResult:
    values: dict[int, SymValue]
    answer: str | None
    issues: list[str] = field(default_factory=list)

    def golds_json(self) -> dict[str, dict[str, Any]]:
        """Node id (as a string key) -> JSON gold, for dataset files."""
        return {str(i): v.to_json() for i, v in sorted(self.values.items())}


class _Executor:
    def __init__(self, tree: ModuleTree, graph: SceneGraph) -> None:
        self.tree, self.g = tree, graph
        self.n = graph.num_frames
        self.values: dict[int, SymValue] = {}
        self.issues: list[str] = []
        self.frame_objects = [f.objects for f in graph.frames]
        self.frame_relations = [f.relations for f in graph.frames]
        self.frame_actions = [graph.actions_at(i) for i in range(self.n)]
        self.ops: dict[str, Callable[[Node], SymValue]] = {
            "Localize": self.localize, "Temporal": self.temporal, "Filter": self.filter,
            "FilterFrame": self.filter_frame, "Exists": self.exists,
            "ExistsFrame": self.exists_frame, "HasItem": self.has_item, "Relate": self.relate,
            "AttnVideo": self.attn_video, "Superlative": self.superlative,
            "ToAction": self.to_action, "Choose": self.choose, "Compare": self.compare,
            "Equals": self.equals, "And": self.logic, "Or": self.logic, "Xor": self.logic,
            "Not": self.logic, "AndFrame": self.frame_logic, "XorFrame": self.frame_logic,
            "Count": self.count,
        }  # fmt: skip

    def issue(self, node: Node, message: str) -> None:
        self.issues.append(f"{self.tree.path(node.id)}: {message}")

    # -- argument access ------------------------------------------------------------------------
    def run(self, node: Node) -> SymValue:
        for child in node.children():
            self.run(child)
        value = self.ops[node.module](node)
        self.values[node.id] = value
        return value

    def video(self, arg: Arg) -> SymVideo:
        if isinstance(arg, VideoInput):
            return SymVideo((True,) * self.n)
        value = self.values[arg.id]  # type: ignore[union-attr]
        assert isinstance(value, SymVideo)
        return value

    def frames(self, arg: Arg) -> Mask:
        value = self.values[arg.id]  # type: ignore[union-attr]
        assert isinstance(value, SymFrames)
        return value.mask

    def items(self, arg: Arg) -> frozenset[str]:
        if isinstance(arg, Phrase):
            return frozenset({arg.text})
        value = self.values[arg.id]  # type: ignore[union-attr]
        assert isinstance(value, SymConcept)
        return value.items

    def boolean(self, arg: Arg) -> bool:
        value = self.values[arg.id]  # type: ignore[union-attr]
        assert isinstance(value, SymBool)
        return value.value

    # -- per-frame concept sets -----------------------------------------------------------------
    def frame_items(self, cat: Category, f: int, text: frozenset[str] | None) -> frozenset[str]:
        if cat is Category.OBJECTS:
            if text is None:
                return self.frame_objects[f]
            related = {o for r, o in self.frame_relations[f] if r in text}
            return frozenset(related | (self.frame_objects[f] & text))
        if cat is Category.RELATIONS:
            if text is None:
                return frozenset(r for r, _ in self.frame_relations[f])
            return frozenset(r for r, o in self.frame_relations[f] if o in text or r in text)
        acts = self.frame_actions[f]
        return frozenset(a.phrase for a in acts if text is None or a.names() & text)

    def per_frame(self, node: Node) -> tuple[Mask, list[frozenset[str]]]:
        video = self.video(node.args[0])
        text = None if node.args[1] is None else self.items(node.args[1])
        cat = node.switch
        assert isinstance(cat, Category)
        return video.window, [
            self.frame_items(cat, f, text) if video.window[f] else frozenset()
            for f in range(self.n)
        ]

    # -- modules --------------------------------------------------------------------------------
    def localize(self, node: Node) -> SymFrames:
        window = self.video(node.args[0]).window
        names = self.items(node.args[1])
        return SymFrames(
            tuple(
                window[f] and any(a.names() & names for a in self.frame_actions[f])
                for f in range(self.n)
            )
        )

    def temporal(self, node: Node) -> SymVideo:
        window = self.video(node.args[0]).window
        anchor = self.frames(node.args[1])
        hits = [f for f in range(self.n) if anchor[f]]
        if not hits:
            self.issue(node, "the anchor action never happens")
            return SymVideo((False,) * self.n)
        mode = node.switch
        if mode is TemporalMode.BEFORE:
            keep = [f < hits[0] for f in range(self.n)]
        elif mode is TemporalMode.AFTER:
            keep = [f > hits[-1] for f in range(self.n)]
        elif mode is TemporalMode.WHILE:
            keep = list(anchor)
        else:
            second = [f for f in range(self.n) if self.frames(node.args[2])[f]]
            if not second:
                self.issue(node, "the second anchor action never happens")
                return SymVideo((False,) * self.n)
            keep = [hits[-1] < f < second[0] for f in range(self.n)]
        result = tuple(w and k for w, k in zip(window, keep))
        if not any(result):
            self.issue(node, f"the {mode.value} window is empty")
        return SymVideo(result)

    def filter(self, node: Node) -> SymConcept:
        _, sets = self.per_frame(node)
        return SymConcept(frozenset().union(*sets), node.switch)  # type: ignore[arg-type]

    def filter_frame(self, node: Node) -> SymVideo:
        window, sets = self.per_frame(node)
        return SymVideo(window, tuple(sets))

    def exists(self, node: Node) -> SymBool:
        return SymBool(bool(self.items(node.args[0]) & self.items(node.args[1])))

    def exists_frame(self, node: Node) -> SymFrames:
        names, video = self.items(node.args[0]), self.video(node.args[1])
        if video.items is None:
            raise SymbolicError(f"{self.tree.path(node.id)}: needs per-frame concepts")
        return SymFrames(tuple(w and bool(s & names) for w, s in zip(video.window, video.items)))

    def has_item(self, node: Node) -> SymFrames:
        video = self.video(node.args[0])
        if video.items is None:
            raise SymbolicError(f"{self.tree.path(node.id)}: needs per-frame concepts")
        return SymFrames(tuple(w and bool(s) for w, s in zip(video.window, video.items)))

    def relate(self, node: Node) -> SymFrames:
        mask = self.frames(node.args[0])
        hits = [f for f in range(self.n) if mask[f]]
        if not hits:
            self.issue(node, "the condition never holds")
            return SymFrames((False,) * self.n)
        pick = hits[0] if node.switch is Direction.FORWARD else hits[-1]
        return SymFrames(tuple(f == pick for f in range(self.n)))

    def attn_video(self, node: Node) -> SymVideo:
        video = self.video(node.args[0])
        mask = self.frames(node.args[1])
        return SymVideo(tuple(w and m for w, m in zip(video.window, mask)), video.items)

    def superlative(self, node: Node) -> SymConcept:
        window = self.video(node.args[0]).window
        cands = node.args[1]
        assert isinstance(cands, tuple)
        if cands:
            names: set[str] = set()
            for c in cands:
                named = (
                    isinstance(c, Node) and c.module == "Filter" and isinstance(c.args[1], Phrase)
                )
                names |= {c.args[1].text} if named else self.items(c)  # type: ignore[union-attr]
        else:
            names = {a.phrase for f in range(self.n) if window[f] for a in self.frame_actions[f]}
        duration = {
            name: sum(
                1 for f in range(self.n)
                if window[f] and any(name in a.names() for a in self.frame_actions[f])
            )
            for name in names
        }  # fmt: skip
        if not duration:
            self.issue(node, "no candidate action")
            return SymConcept(frozenset(), Category.ACTIONS)
        best = max(duration.values()) if node.switch is Extreme.MAX else min(duration.values())
        winners = frozenset(n for n, d in duration.items() if d == best)
        if len(winners) > 1:
            self.issue(node, f"tie between {sorted(winners)}")
        return SymConcept(winners, Category.ACTIONS)

    def to_action(self, node: Node) -> SymConcept:
        verb = self.items(node.args[0])
        objects = self.items(node.args[1])
        found = {a.phrase for a in self.g.actions if a.verb in verb and a.object in objects}
        return SymConcept(frozenset(found), Category.ACTIONS)

    def choose(self, node: Node) -> SymConcept:
        first, second = self.items(node.args[0]), self.items(node.args[1])
        value = self.values[node.args[2].id]  # type: ignore[union-attr]
        assert isinstance(value, SymConcept)
        chosen = (first if first & value.items else frozenset()) | (
            second if second & value.items else frozenset()
        )
        if len(chosen) != 1:
            self.issue(node, f"{len(chosen)} of the options match {sorted(value.items)}")
        return SymConcept(chosen, value.category)

    def compare(self, node: Node) -> SymBool:
        before, after = self.boolean(node.args[0]), self.boolean(node.args[1])
        if before == after:
            self.issue(node, f"before is {before} and after is {after}")
        return SymBool(before and not after)

    def equals(self, node: Node) -> SymBool:
        a, b = self.items(node.args[0]), self.items(node.args[1])
        return SymBool(bool(a) and a == b)

    def logic(self, node: Node) -> SymBool:
        vals = [self.boolean(a) for a in node.args]
        op = {"And": all, "Or": any, "Xor": lambda v: v[0] != v[1], "Not": lambda v: not v[0]}
        return SymBool(bool(op[node.module](vals)))

    def frame_logic(self, node: Node) -> SymFrames:
        a, b = self.frames(node.args[0]), self.frames(node.args[1])
        if node.module == "AndFrame":
            return SymFrames(tuple(x and y for x, y in zip(a, b)))
        return SymFrames(tuple(x != y for x, y in zip(a, b)))

    def count(self, node: Node) -> SymCount:
        return SymCount(len(spans(self.frames(node.args[0]))))


def answer_of(tree: ModuleTree, values: dict[int, SymValue]) -> tuple[str | None, str | None]:
    """The answer word of a tree given its node values, or ``(None, why)`` if there is none."""
    root = values[0]
    if tree.root.module == "Compare":
        return ("before" if root.value else "after"), None  # type: ignore[union-attr]
    if isinstance(root, SymBool):
        return ("yes" if root.value else "no"), None
    if isinstance(root, SymCount):
        return str(root.value), None
    if isinstance(root, SymConcept):
        if len(root.items) == 1:
            return next(iter(root.items)), None
        return None, f"the answer has {len(root.items)} items: {sorted(root.items)}"
    return None, f"a {root.type} root has no answer"


def execute(tree: ModuleTree, graph: SceneGraph) -> SymbolicResult:
    """Run ``tree`` on ``graph``: every node's gold value, the answer and any issues."""
    ex = _Executor(tree, graph)
    ex.run(tree.root)
    answer, why = answer_of(tree, ex.values)
    issues = ex.issues + ([f"{tree.root.label}: {why}"] if why else [])
    if tree.root.module == "Compare" and issues:
        answer = None
    return SymbolicResult(ex.values, answer, issues)
