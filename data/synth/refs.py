"""What question templates know about a video: facts, references and time expressions.

:class:`VideoFacts` answers quick questions about a scene graph (which objects are visible in a
window, how often an action happens, ...). Templates use them only to *steer* their proposals
towards a wanted answer; the answer itself always comes from the symbolic executor. The window
semantics mirror :mod:`stair.programs.symbolic` (``before A`` = frames before A first starts,
``after A`` = after it last ends, ``between A1 and A2`` = after A1 last ends and before A2
first starts).

References are the phrases a question slots in, each with its AGQA program text and its
English: an :class:`ActionRef` is a direct action phrase ("opening a door"), the longest or
shortest action (``Superlative``) or a verb applied to an indirectly named object
(``ToAction(opening, <the thing they were touching first>)``); an :class:`ObjectRef` is an
object name or "the thing they were R first/last" (``IterateUntil``). A :class:`TimeExpr` is
``video`` or ``Localize(before|after|while|between, ...)`` over action references.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from stair.data.synth.vocab import WorldVocabulary
from stair.programs import SceneGraph
from stair.programs.symbolic import Scene

Mask = tuple[bool, ...]

SUBTRACT = "Subtract(Query(end, action), Query(start, action))"


def mask_and(a: Mask, b: Mask) -> Mask:
    return tuple(map(operator.and_, a, b))


def runs(mask: Mask) -> int:
    """Number of maximal runs of True (separate occurrences)."""
    return sum(map(operator.gt, mask, (False, *mask[:-1])))


@dataclass(frozen=True)
class ActionRef:
    """An action slot: ``program`` (AGQA text), ``text`` (English) and what it resolves to.

    ``gerund``: the English reads as a gerund ("opening a door", fits "while ..."), otherwise
    as a noun ("the longest action", fits "during ..."). ``mask``: frames where it is under way.
    """

    program: str
    text: str
    phrase: str
    mask: Mask
    gerund: bool = True
    indirect: bool = False


@dataclass(frozen=True)
class ObjectRef:
    """An object slot: a name (``text`` "the cup") or an indirect reference to one object."""

    program: str
    text: str
    obj: str
    indirect: bool = False


@dataclass(frozen=True)
class TimeExpr:
    """A time expression: ``kind`` in video/before/after/while/between, and its window."""

    kind: str
    program: str
    text: str  # "" for the whole video, else " before opening a door" (leading space)
    window: Mask
    anchors: tuple[ActionRef, ...] = ()

    @property
    def indirect(self) -> bool:
        return any(a.indirect for a in self.anchors)


class VideoFacts:
    """Per-frame sets and per-action masks of one scene graph, for steering proposals.

    Templates ask the same questions of a video many times (the same windows recur across its
    drafts), so the answers are kept per window; the sets returned are frozen.
    """

    def __init__(self, graph: SceneGraph, vocab: WorldVocabulary) -> None:
        self.graph, self.vocab = graph, vocab
        self.scene = Scene(graph)  # the executor's reading of the graph, shared by its programs
        self.n = n = graph.num_frames
        self.full: Mask = (True,) * n
        self.empty: Mask = (False,) * n
        self.objects = [f.objects for f in graph.frames]
        self.pairs = [f.relations for f in graph.frames]
        self.masks: dict[str, Mask] = {}
        for act in graph.actions:
            old = self.masks.get(act.phrase, self.empty)
            self.masks[act.phrase] = tuple(old[f] or act.start <= f < act.end for f in range(n))
        self.phrases = sorted(self.masks)
        #: relation -> the frames where it holds with some object
        self.relation_frames: dict[str, list[int]] = {}
        for f, pairs in enumerate(self.pairs):
            for relation in sorted({r for r, _ in pairs}):
                self.relation_frames.setdefault(relation, []).append(f)
        self._memo: dict[tuple, object] = {}  # (question, arguments...) -> answer
        self._direct: dict[str, ActionRef] = {}

    def _cached(self, key: tuple, compute: Callable[[], Any]) -> Any:
        """The memoised answer to ``key`` (computed by ``compute`` the first time)."""
        try:
            return self._memo[key]
        except KeyError:
            value = self._memo[key] = compute()
            return value

    def mask_of(self, phrase: str) -> Mask:
        return self.masks.get(phrase, self.empty)

    def objects_in(self, window: Mask) -> frozenset[str]:
        def compute() -> frozenset[str]:
            return frozenset(o for f, on in enumerate(window) if on for o in self.objects[f])

        return self._cached(("objects", window), compute)

    def pairs_in(self, window: Mask) -> frozenset[tuple[str, str]]:
        def compute() -> frozenset[tuple[str, str]]:
            return frozenset(p for f, on in enumerate(window) if on for p in self.pairs[f])

        return self._cached(("pairs", window), compute)

    def related_in(self, relation: str, window: Mask) -> frozenset[str]:
        def compute() -> frozenset[str]:
            return frozenset(o for r, o in self.pairs_in(window) if r == relation)

        return self._cached(("related", relation, window), compute)

    def actions_in(self, window: Mask) -> frozenset[str]:
        def compute() -> frozenset[str]:
            return frozenset(p for p, m in self.masks.items() if any(mask_and(m, window)))

        return self._cached(("actions", window), compute)

    def count_in(self, phrase: str, window: Mask) -> int:
        mask = self.masks.get(phrase)
        if mask is None:
            return 0
        return self._cached(("count", phrase, window), lambda: runs(mask_and(mask, window)))

    def by_count(self, window: Mask, exclude: frozenset[str]) -> dict[int, list[str]]:
        """Count in ``window`` -> the vocabulary's actions (but ``exclude``) with that count, in
        vocabulary order; counts in order of first appearance (do not modify the result)."""

        def compute() -> dict[int, list[str]]:
            out: dict[int, list[str]] = {}
            for action in self.vocab.actions:
                if action.phrase not in exclude:
                    out.setdefault(self.count_in(action.phrase, window), []).append(action.phrase)
            return out

        return self._cached(("by_count", window, exclude), compute)

    def duration(self, phrase: str, window: Mask = ()) -> int:
        mask = self.masks.get(phrase)
        if mask is None:
            return 0
        window = window or self.full
        return self._cached(("duration", phrase, window), lambda: sum(mask_and(mask, window)))

    def extreme_action(self, extreme: str, window: Mask) -> str | None:
        """The unique longest (``max``) / shortest (``min``) action under way in ``window``."""
        durations = {p: self.duration(p, window) for p in self.actions_in(window)}
        if not durations:
            return None
        best = (max if extreme == "max" else min)(durations.values())
        winners = [p for p, d in durations.items() if d == best]
        return winners[0] if len(winners) == 1 else None

    def first_last(self, relation: str, direction: str, window: Mask) -> frozenset[str]:
        """Objects ``relation``-ed at the first (forward) / last (backward) frame it holds."""
        key = ("first_last", relation, direction, window)
        return self._cached(key, lambda: self._first_last(relation, direction, window))

    def _first_last(self, relation: str, direction: str, window: Mask) -> frozenset[str]:
        hits = [f for f in self.relation_frames.get(relation, ()) if window[f]]
        if not hits:
            return frozenset()
        f = hits[0] if direction == "forward" else hits[-1]
        return frozenset(o for r, o in self.pairs[f] if r == relation)

    def window(self, kind: str, anchors: tuple[ActionRef, ...]) -> Mask:
        """The frames a time expression keeps (all False when it is empty or ill-formed)."""
        if kind == "video":
            return self.full
        masks = tuple(a.mask for a in anchors)
        return self._cached(("window", kind, masks), lambda: self._window(kind, masks))

    def _window(self, kind: str, masks: tuple[Mask, ...]) -> Mask:
        hits = [[f for f in range(self.n) if mask[f]] for mask in masks]
        if not all(hits):
            return self.empty
        first, last = hits[0][0], hits[0][-1]
        if kind == "before":
            return tuple(f < first for f in range(self.n))
        if kind == "after":
            return tuple(f > last for f in range(self.n))
        if kind == "while":
            return masks[0]
        return tuple(last < f < hits[1][0] for f in range(self.n))

    # -- references -----------------------------------------------------------------------------
    def direct_action(self, phrase: str) -> ActionRef:
        ref = self._direct.get(phrase)
        if ref is None:
            ref = self._direct[phrase] = ActionRef(phrase, phrase, phrase, self.mask_of(phrase))
        return ref

    @cached_property
    def object_refs(self) -> list[ObjectRef]:
        """Every indirect object reference that resolves to exactly one object in this video."""
        out = []
        for relation in sorted({r for pairs in self.pairs for r, _ in pairs}):
            for direction, word in (("forward", "first"), ("backward", "last")):
                objs = self.first_last(relation, direction, self.full)
                if len(objs) != 1:
                    continue
                cond = f"Exists({relation}, Filter(frame, [relations]))"
                query = f"Filter(frame, [relations, {relation}, objects])"
                program = (
                    f"Query(class, OnlyItem(IterateUntil({direction}, video, {cond}, {query})))"
                )
                text = f"the thing they were {relation} {word}"
                out.append(ObjectRef(program, text, next(iter(objs)), indirect=True))
        return out

    @cached_property
    def indirect_actions(self) -> list[ActionRef]:
        """The longest/shortest action and verb + indirect object references that resolve."""
        out = []
        for extreme, word in (("max", "longest"), ("min", "shortest")):
            phrase = self.extreme_action(extreme, self.full)
            if phrase is not None:
                program = f"Superlative({extreme}, Filter(video, [actions]), {SUBTRACT})"
                out.append(ActionRef(program, f"the {word} action", phrase, self.mask_of(phrase),
                                     gerund=False, indirect=True))  # fmt: skip
        for ref in self.object_refs:
            for act in self.graph.actions:
                if act.object == ref.obj:
                    program = f"ToAction({act.verb}, {ref.program})"
                    text = f"{act.verb} {ref.text}"
                    mask = self.mask_of(act.phrase)
                    out.append(ActionRef(program, text, act.phrase, mask, indirect=True))
        unique = {r.program: r for r in out}
        return [unique[k] for k in sorted(unique)]
