"""The operations of the language: each module's exact semantics on a scene graph.

One typed function per module, registered with :func:`~stair.programs.signatures.operation`;
its type hints are the module's signature (:data:`stair.programs.SIGNATURES`), with ``Phrase``
standing for ``Text`` and the symbolic values (:mod:`.values`) for the other value types. The
keyword-only parameters are context (:mod:`.context`). The neural modules of :mod:`stair.modules`
are trained to approximate these functions: the values they give are the gold of every step.

Time words: ``before A`` is the frames before A first starts, ``after A`` those after it last
ends, ``while A`` those where it is under way, ``between A1 and A2`` those after A1 ends and
before A2 starts. Questions without a single answer (an empty time window, an empty or tied
superlative, a Compare where both or neither hold, a choice with no or both options) are
reported as issues; the value is still given.
"""

from __future__ import annotations

from typing import Annotated

from stair.programs.signatures import AnswerAs, OnlyWith, operation
from stair.programs.switches import Category, Direction, Extreme, TemporalMode
from stair.programs.symbolic.context import Report, Scene
from stair.programs.symbolic.values import (
    SymBool,
    SymConcept,
    SymCount,
    SymFrames,
    SymVideo,
    spans,
)
from stair.programs.tree import Node, Phrase


def _names(concept: SymConcept | Phrase) -> frozenset[str]:
    """The concept names an argument stands for (a phrase stands for itself)."""
    return frozenset({concept.text}) if isinstance(concept, Phrase) else concept.items


def _per_frame(
    scene: Scene, category: Category, video: SymVideo, text: SymConcept | Phrase | None
) -> list[frozenset[str]]:
    """The concepts of ``category`` (matching ``text``) at each frame of the window."""
    names = None if text is None else _names(text)
    return [
        scene.items(category, f, names) if video.window[f] else frozenset()
        for f in range(scene.num_frames)
    ]


# -- time -----------------------------------------------------------------------------------------
@operation("Localize")
def localize(video: SymVideo, action: SymConcept | Phrase, *, scene: Scene) -> SymFrames:
    """The frames of the window where an action of that name is under way."""
    names = _names(action)
    return SymFrames(
        tuple(
            video.window[f] and not scene.action_words[f].isdisjoint(names)
            for f in range(scene.num_frames)
        )
    )


@operation("Temporal")
def temporal(
    switch: TemporalMode,
    video: SymVideo,
    anchor: SymFrames,
    second: Annotated[SymFrames | None, OnlyWith("between")] = None,
    *,
    report: Report,
) -> SymVideo:
    """The window narrowed to the frames before / after / while / between the anchors."""
    n = len(anchor.mask)
    hits = [f for f in range(n) if anchor.mask[f]]
    if not hits:
        report.issue("the anchor action never happens")
        return SymVideo((False,) * n)
    if switch is TemporalMode.BEFORE:
        keep = [f < hits[0] for f in range(n)]
    elif switch is TemporalMode.AFTER:
        keep = [f > hits[-1] for f in range(n)]
    elif switch is TemporalMode.WHILE:
        keep = list(anchor.mask)
    else:
        if second is None:
            raise report.error("between needs a second anchor")
        later = [f for f in range(n) if second.mask[f]]
        if not later:
            report.issue("the second anchor action never happens")
            return SymVideo((False,) * n)
        keep = [hits[-1] < f < later[0] for f in range(n)]
    result = tuple(w and k for w, k in zip(video.window, keep))
    if not any(result):
        report.issue(f"the {switch.value} window is empty")
    return SymVideo(result)


@operation("Relate")
def relate(switch: Direction, frames: SymFrames, *, report: Report) -> SymFrames:
    """The first (forward) or last (backward) frame where the condition holds."""
    n = len(frames.mask)
    hits = [f for f in range(n) if frames.mask[f]]
    if not hits:
        report.issue("the condition never holds")
        return SymFrames((False,) * n)
    pick = hits[0] if switch is Direction.FORWARD else hits[-1]
    return SymFrames(tuple(f == pick for f in range(n)))


@operation("AttnVideo")
def attn_video(video: SymVideo, frames: SymFrames) -> SymVideo:
    """The window narrowed to the frames (per-frame concepts kept)."""
    return SymVideo(tuple(w and m for w, m in zip(video.window, frames.mask)), video.items)


# -- concepts in the window -----------------------------------------------------------------------
@operation("Filter")
def filter_concepts(
    switch: Category, video: SymVideo, text: SymConcept | Phrase | None = None, *, scene: Scene
) -> SymConcept:
    """Every concept of the category seen in the window (those matching ``text``, if given)."""
    frames = tuple(_per_frame(scene, switch, video, text))
    return SymConcept(frozenset().union(*frames), switch, frames, video.window)


@operation("FilterFrame")
def filter_frame(
    switch: Category, video: SymVideo, text: SymConcept | Phrase | None = None, *, scene: Scene
) -> SymVideo:
    """The window, with the concepts of the category (matching ``text``) found in each frame."""
    return SymVideo(video.window, tuple(_per_frame(scene, switch, video, text)))


@operation("Exists")
def exists(item: SymConcept | Phrase, items: SymConcept) -> SymBool:
    """Is the item among the items? (Over a window: at which of its frames it is there, too.)"""
    names = _names(item)
    value = bool(names & items.items)
    if items.frames is None or items.window is None:
        return SymBool(value)
    frames = tuple(bool(names & s) for s in items.frames)
    return SymBool(value, frames, items.window, items.frames, items.category)


@operation("ExistsFrame")
def exists_frame(item: SymConcept | Phrase, video: SymVideo, *, report: Report) -> SymFrames:
    """The frames of the window whose concepts include the item."""
    if video.items is None:
        raise report.error("needs per-frame concepts")
    names = _names(item)
    return SymFrames(tuple(w and bool(s & names) for w, s in zip(video.window, video.items)))


@operation("HasItem")
def has_item(video: SymVideo, *, report: Report) -> SymFrames:
    """The frames of the window where any concept was found."""
    if video.items is None:
        raise report.error("needs per-frame concepts")
    return SymFrames(tuple(w and bool(s) for w, s in zip(video.window, video.items)))


@operation("Superlative")
def superlative(
    switch: Extreme,
    video: SymVideo,
    candidates: tuple[SymConcept | Phrase, ...],
    *,
    scene: Scene,
    node: Node,
    report: Report,
) -> SymConcept:
    """The candidate action under way for the most (max) / fewest (min) frames of the window.

    A candidate written ``Filter(video, phrase)`` stands for its phrase, so that an action that
    never happens is still a candidate (lasting 0 frames). With no candidates, every action under
    way in the window is one. Ties are reported and every tied action is kept.
    """
    n = scene.num_frames
    if candidates:
        names: set[str] = set()
        for written, value in zip(node.args[1], candidates):  # node.args[1]: the candidates slot
            named = (
                isinstance(written, Node)
                and written.module == "Filter"
                and isinstance(written.args[1], Phrase)
            )
            names |= {written.args[1].text} if named else _names(value)  # type: ignore[union-attr]
    else:
        names = {a.phrase for f in range(n) if video.window[f] for a in scene.actions[f]}
    duration = {
        name: sum(
            1 for f in range(n)
            if video.window[f] and name in scene.action_words[f]
        )
        for name in names
    }  # fmt: skip
    if not duration:
        report.issue("no candidate action")
        return SymConcept(frozenset(), Category.ACTIONS)
    best = max(duration.values()) if switch is Extreme.MAX else min(duration.values())
    winners = frozenset(a for a, d in duration.items() if d == best)
    if len(winners) > 1:
        report.issue(f"tie between {sorted(winners)}")
    return SymConcept(winners, Category.ACTIONS)


# -- building and comparing concepts --------------------------------------------------------------
@operation("ToAction")
def to_action(
    verb: SymConcept | Phrase, object: SymConcept | Phrase, *, scene: Scene
) -> SymConcept:
    """The actions of the video done with one of the verbs to one of the objects."""
    verbs, objects = _names(verb), _names(object)
    found = {a.phrase for a in scene.graph.actions if a.verb in verbs and a.object in objects}
    return SymConcept(frozenset(found), Category.ACTIONS)


@operation("Choose", answer_as=AnswerAs.OPTION)
def choose(
    first: SymConcept | Phrase, second: SymConcept | Phrase, value: SymConcept, *, report: Report
) -> SymConcept:
    """The options found in the value (exactly one, in a well-posed question)."""
    a, b = _names(first), _names(second)
    chosen = (a if a & value.items else frozenset()) | (b if b & value.items else frozenset())
    if len(chosen) != 1:
        report.issue(f"{len(chosen)} of the options match {sorted(value.items)}")
    return SymConcept(chosen, value.category)


@operation("Equals")
def equals(first: SymConcept | Phrase, second: SymConcept | Phrase) -> SymBool:
    """Are the two the same (non-empty) set of concepts?"""
    a, b = _names(first), _names(second)
    return SymBool(bool(a) and a == b)


# -- logic ----------------------------------------------------------------------------------------
@operation("Compare", answer_as=AnswerAs.BEFORE_AFTER)
def compare(before: SymBool, after: SymBool, *, report: Report) -> SymBool:
    """Yes (= before) iff the "before" fact holds and the "after" one does not."""
    if before.value == after.value:
        report.issue(f"before is {before.value} and after is {after.value}")
    return SymBool(before.value and not after.value)


@operation("And")
def and_(first: SymBool, second: SymBool) -> SymBool:
    """Both hold."""
    return SymBool(first.value and second.value)


@operation("Or")
def or_(first: SymBool, second: SymBool) -> SymBool:
    """At least one holds."""
    return SymBool(first.value or second.value)


@operation("Xor")
def xor(first: SymBool, second: SymBool) -> SymBool:
    """Exactly one holds."""
    return SymBool(first.value != second.value)


@operation("Not")
def not_(value: SymBool) -> SymBool:
    """It does not hold."""
    return SymBool(not value.value)


@operation("AndFrame")
def and_frame(first: SymFrames, second: SymFrames) -> SymFrames:
    """The frames where both hold."""
    return SymFrames(tuple(x and y for x, y in zip(first.mask, second.mask)))


@operation("XorFrame")
def xor_frame(first: SymFrames, second: SymFrames) -> SymFrames:
    """The frames where exactly one holds."""
    return SymFrames(tuple(x != y for x, y in zip(first.mask, second.mask)))


# -- counting -------------------------------------------------------------------------------------
@operation("Count")
def count(frames: SymFrames) -> SymCount:
    """How many separate runs of frames (occurrences) there are."""
    return SymCount(len(spans(frames.mask)))
