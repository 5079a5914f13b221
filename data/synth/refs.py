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

from dataclasses import dataclass
from functools import cached_property

from stair.data.synth.vocab import WorldVocabulary
from stair.programs import SceneGraph

Mask = tuple[bool, ...]

SUBTRACT = "Subtract(Query(end, action), Query(start, action))"


def mask_and(a: Mask, b: Mask) -> Mask:
    return tuple(x and y for x, y in zip(a, b))


def runs(mask: Mask) -> int:
    """Number of maximal runs of True (separate occurrences)."""
    return sum(1 for i, on in enumerate(mask) if on and (i == 0 or not mask[i - 1]))


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
    """Per-frame sets and per-action masks of one scene graph, for steering proposals."""

    def __init__(self, graph: SceneGraph, vocab: WorldVocabulary) -> None:
        self.graph, self.vocab = graph, vocab
        self.n = n = graph.num_frames
        self.full: Mask = (True,) * n
        self.objects = [f.objects for f in graph.frames]
        self.pairs = [f.relations for f in graph.frames]
        self.masks: dict[str, Mask] = {}
        for act in graph.actions:
            old = self.masks.get(act.phrase, (False,) * n)
            self.masks[act.phrase] = tuple(old[f] or act.start <= f < act.end for f in range(n))
        self.phrases = sorted(self.masks)
        #: relation -> the frames where it holds with some object
        self.relation_frames: dict[str, list[int]] = {}
        for f, pairs in enumerate(self.pairs):
            for relation in sorted({r for r, _ in pairs}):
                self.relation_frames.setdefault(relation, []).append(f)

    def mask_of(self, phrase: str) -> Mask:
        return self.masks.get(phrase, (False,) * self.n)

    def objects_in(self, window: Mask) -> set[str]:
        return {o for f, on in enumerate(window) if on for o in self.objects[f]}

    def pairs_in(self, window: Mask) -> set[tuple[str, str]]:
        return {p for f, on in enumerate(window) if on for p in self.pairs[f]}

    def related_in(self, relation: str, window: Mask) -> set[str]:
        return {o for r, o in self.pairs_in(window) if r == relation}

    def actions_in(self, window: Mask) -> set[str]:
        return {p for p, m in self.masks.items() if any(mask_and(m, window))}

    def count_in(self, phrase: str, window: Mask) -> int:
        return runs(mask_and(self.mask_of(phrase), window))

    def duration(self, phrase: str, window: Mask = ()) -> int:
        return sum(mask_and(self.mask_of(phrase), window or self.full))

    def extreme_action(self, extreme: str, window: Mask) -> str | None:
        """The unique longest (``max``) / shortest (``min``) action under way in ``window``."""
        durations = {p: self.duration(p, window) for p in self.actions_in(window)}
        if not durations:
            return None
        best = (max if extreme == "max" else min)(durations.values())
        winners = [p for p, d in durations.items() if d == best]
        return winners[0] if len(winners) == 1 else None

    def first_last(self, relation: str, direction: str, window: Mask) -> set[str]:
        """Objects ``relation``-ed at the first (forward) / last (backward) frame it holds."""
        hits = [f for f in self.relation_frames.get(relation, ()) if window[f]]
        if not hits:
            return set()
        f = hits[0] if direction == "forward" else hits[-1]
        return {o for r, o in self.pairs[f] if r == relation}

    def window(self, kind: str, anchors: tuple[ActionRef, ...]) -> Mask:
        """The frames a time expression keeps (all False when it is empty or ill-formed)."""
        if kind == "video":
            return self.full
        hits = [[f for f in range(self.n) if a.mask[f]] for a in anchors]
        if not all(hits):
            return (False,) * self.n
        first, last = hits[0][0], hits[0][-1]
        if kind == "before":
            return tuple(f < first for f in range(self.n))
        if kind == "after":
            return tuple(f > last for f in range(self.n))
        if kind == "while":
            return anchors[0].mask
        return tuple(last < f < hits[1][0] for f in range(self.n))

    # -- references -----------------------------------------------------------------------------
    def direct_action(self, phrase: str) -> ActionRef:
        return ActionRef(phrase, phrase, phrase, self.mask_of(phrase))

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
