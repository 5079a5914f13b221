"""The drafting context of question templates: one video, one random stream, a few knobs.

A template (:mod:`.synth_templates_facts`, :mod:`.synth_templates_time`) is a function
``build(ctx, want) -> Draft | None``: it draws the slots of its program from the :class:`Context`
(time expressions, action and object references, relation-object pairs), steering towards the
answer ``want`` when it has one, and returns a :class:`Draft` (program, English question, time
expression, compositions). A draft is only a proposal: the question generator compiles it, runs
the symbolic executor and keeps it only if it is well posed.

Knobs: ``indirect_prob`` (how often a slot is filled with an indirect reference),
``force_time`` / ``force_pair`` (the novel-composition split asks for a given time expression or
relation-object pair), ``avoid_pairs`` / ``avoid_family_times`` (the other splits keep clear of
held-out compositions).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from stair.data.synth.refs import ActionRef, Mask, ObjectRef, TimeExpr, VideoFacts

T = TypeVar("T")

TIME_KINDS = ("video", "before", "after", "while", "between")
_TIME_WEIGHTS = {"video": 3.0, "before": 2.0, "after": 2.0, "while": 1.5, "between": 1.5}


@dataclass(frozen=True)
class Draft:
    """A proposed question before execution.

    ``time_expr``: video/before/after/while/between, or ``tag`` for Compare's before-or-after.
    ``pairs``: the relation-object pairs the question names together (compositions).
    """

    program: str
    question: str
    time_expr: str
    pairs: tuple[tuple[str, str], ...] = ()
    indirect: bool = False


@dataclass(frozen=True)
class Template:
    """A question template: its taxonomy, its English phrasings and its builder.

    ``answers``: ``yes/no``, ``before/after``, ``count`` or ``open`` (a concept name), which tells
    the answer balancer what to aim for. ``phrasings``: format strings of the question; every
    template has at least three.
    """

    name: str
    family: str
    semantic: str  # object / relation / action
    structural: str  # query / verify / logic / choose / compare
    answers: str
    phrasings: tuple[str, ...]
    build: Callable[[Context, Template, str | None], Draft | None] = field(compare=False)
    weight: float = 1.0
    uses_pairs: bool = False  #: names relation-object pairs (can carry a held-out pair)


class Context:
    """Slot filling for one video (see the module docstring)."""

    def __init__(
        self,
        facts: VideoFacts,
        rng: random.Random,
        *,
        indirect_prob: float = 0.15,
        force_time: str | None = None,
        force_pair: tuple[str, str] | None = None,
        avoid_pairs: frozenset[tuple[str, str]] = frozenset(),
        avoid_family_times: frozenset[tuple[str, str]] = frozenset(),
    ) -> None:
        self.facts, self.rng = facts, rng
        self.indirect_prob = indirect_prob
        self.force_time, self.force_pair = force_time, force_pair
        self.avoid_pairs, self.avoid_family_times = avoid_pairs, avoid_family_times

    # -- small helpers --------------------------------------------------------------------------
    def pick(self, items: Sequence[T]) -> T | None:
        return items[self.rng.randrange(len(items))] if items else None

    def coin(self, p: float = 0.5) -> bool:
        return self.rng.random() < p

    def say(self, template: Template, **slots: str) -> str:
        """One of the template's phrasings, filled in and capitalised."""
        text = self.pick(template.phrasings).format(**slots)  # type: ignore[union-attr]
        return text[0].upper() + text[1:]

    # -- references -----------------------------------------------------------------------------
    def action_ref(self, exclude: frozenset[str] = frozenset()) -> ActionRef | None:
        """An action that happens in the video: named, or (sometimes) referred to indirectly."""
        facts = self.facts
        if self.coin(self.indirect_prob):
            refs = facts.indirect_actions
            if exclude:
                refs = [r for r in refs if r.phrase not in exclude]
            if refs:
                return self.pick(refs)
        phrases = facts.phrases
        if exclude:
            phrases = [p for p in phrases if p not in exclude]
        return facts.direct_action(self.pick(phrases)) if phrases else None

    def object_ref(self, candidates: set[str], indirect: bool | None = None) -> ObjectRef | None:
        """An object among ``candidates``: named, or referred to indirectly."""
        if indirect is None:
            indirect = self.coin(self.indirect_prob)
        if indirect:
            refs = [r for r in self.facts.object_refs if r.obj in candidates]
            if refs:
                return self.pick(refs)
        name = self.pick(sorted(candidates))
        return ObjectRef(name, f"the {name}", name) if name else None

    def time(self, family: str, kinds: Sequence[str] = TIME_KINDS) -> TimeExpr | None:
        """A time expression with a non-empty window, of one of ``kinds``."""
        kinds = [k for k in kinds if (family, k) not in self.avoid_family_times]
        if self.force_time is not None:
            kinds = [k for k in kinds if k == self.force_time]
        if not kinds:
            return None
        kind = self.rng.choices(kinds, [_TIME_WEIGHTS[k] for k in kinds])[0]
        if kind == "video":
            return TimeExpr("video", "video", "", self.facts.full)
        for _ in range(4):
            first = self.action_ref()
            if first is None:
                return None
            anchors: tuple[ActionRef, ...] = (first,)
            if kind == "between":
                second = self.action_ref(exclude=frozenset({first.phrase}))
                if second is None:
                    return None
                anchors = (first, second)
            window = self.facts.window(kind, anchors)
            if any(window):
                return _time_expr(kind, anchors, window)
        return None

    def pair(self, window: Mask, want_in: bool | None) -> tuple[str, str] | None:
        """A relation-object pair that holds in ``window`` (``want_in``) or does not."""
        if self.force_pair is not None:
            return self.force_pair
        present = sorted(p for p in self.facts.pairs_in(window) if p not in self.avoid_pairs)
        if want_in is not False and present and (want_in or self.coin()):
            return self.pick(present)
        video_pairs = self.facts.pairs_in(self.facts.full)
        relation = self.pick(sorted({r for r, _ in video_pairs}) or self.facts.vocab.relations)
        near = sorted({o for r, o in video_pairs if r == relation} | self.facts.objects_in(window))
        pool = near if near and self.coin(0.7) else list(self.facts.vocab.objects)
        options = [
            o
            for o in pool
            if (relation, o) not in present and (relation, o) not in self.avoid_pairs
        ]
        obj = self.pick(options)
        return (relation, obj) if obj else None  # type: ignore[return-value]


def _time_expr(kind: str, anchors: tuple[ActionRef, ...], window: Mask) -> TimeExpr:
    if kind == "between":
        first, second = anchors
        program = f"Localize(between, [{first.program}, {second.program}])"
        text = f" between {first.text} and {second.text}"
    else:
        (anchor,) = anchors
        program = f"Localize({kind}, {anchor.program})"
        word = "during" if kind == "while" and not anchor.gerund else kind
        text = f" {word} {anchor.text}"
    return TimeExpr(kind, program, text, window, anchors)
