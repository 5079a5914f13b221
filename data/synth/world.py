"""Seeded generator of synthetic "AGQA-like" worlds: one scene graph per video.

A world is a timeline of ``frames`` frames at ``fps``. Into it go:

- **the room**: a few furniture objects (:attr:`WorldVocabulary.furniture`), each visible over a
  long span;
- **action instances** (``min_actions``..``max_actions``, Charades-style phrases from the
  vocabulary), placed at random with random durations; they may overlap (at most
  ``max_concurrent`` at a time), an action may happen again (``repeat_prob``; this is what
  makes counting questions interesting), and two instances sharing an object never overlap or
  touch (so every instance is a separate occurrence);
- what each action implies while under way: its relations (drinking from a cup -> holding and
  touching the cup) and the visibility of their objects, from a little before it starts to a
  little after it ends;
- **distractors**: props visible with no action using them and extra person-object relations
  (looking at the window, standing in front of the table, ...) over random spans.

Everything is drawn from the ``numpy.random.Generator`` passed in: the same generator state gives
the same world. The result is a :class:`stair.programs.SceneGraph`, exactly the schema the
symbolic executor reads.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stair.data.synth.vocab import DEFAULT_VOCAB, WorldVocabulary
from stair.programs import ActionInstance, Frame, SceneGraph

_SPATIAL = ("in front of", "beside", "behind")


@dataclass(frozen=True)
class WorldConfig:
    """Size and density of generated worlds (all durations in frames)."""

    frames: int = 32  #: frames per video
    fps: float = 2.0  #: frames per second of the scene graph
    min_actions: int = 2  #: fewest action instances per video
    max_actions: int = 6  #: most action instances per video
    min_duration: int = 3  #: shortest action instance
    max_duration: int = 10  #: longest action instance
    max_concurrent: int = 2  #: most actions under way in one frame
    repeat_prob: float = 0.3  #: chance that a new instance repeats an earlier action
    room_objects: tuple[int, int] = (2, 4)  #: furniture objects in the room (inclusive range)
    distractor_props: tuple[int, int] = (0, 2)  #: props visible with no action using them
    distractor_relations: tuple[int, int] = (1, 3)  #: extra relation spans

    def __post_init__(self) -> None:
        if self.frames < 8:
            raise ValueError(f"worlds need at least 8 frames, got {self.frames}")
        if not 1 <= self.min_actions <= self.max_actions:
            raise ValueError("need 1 <= min_actions <= max_actions")
        if not 1 <= self.min_duration <= self.max_duration < self.frames:
            raise ValueError("need 1 <= min_duration <= max_duration < frames")


def _can_relate(relation: str, obj: str, vocab: WorldVocabulary) -> bool:
    """Whether a distractor ``relation`` with ``obj`` is plausible."""
    furniture = obj in vocab.furniture
    if relation in _SPATIAL:
        return furniture
    if relation in ("looking at", "touching"):
        return True
    if relation == "holding":
        return not furniture
    if relation == "wearing":
        return obj == "shoe"
    if relation == "sitting on":
        return obj in ("chair", "sofa", "bed")
    if relation == "lying on":
        return obj in ("bed", "sofa")
    if relation == "leaning on":
        return obj in ("table", "door", "refrigerator", "window")
    return False


class _Timeline:
    """Mutable per-frame sets while a world is built."""

    def __init__(self, frames: int) -> None:
        self.n = frames
        self.objects: list[set[str]] = [set() for _ in range(frames)]
        self.relations: list[set[tuple[str, str]]] = [set() for _ in range(frames)]

    def show(self, obj: str, start: int, end: int) -> None:
        for f in range(max(0, start), min(self.n, end)):
            self.objects[f].add(obj)

    def relate(self, relation: str, obj: str, start: int, end: int) -> None:
        self.show(obj, start, end)
        for f in range(max(0, start), min(self.n, end)):
            self.relations[f].add((relation, obj))


def _span(rng: np.random.Generator, n: int, min_len: int) -> tuple[int, int]:
    length = int(rng.integers(min_len, n + 1))
    start = int(rng.integers(0, n - length + 1))
    return start, start + length


def _place_actions(
    rng: np.random.Generator, vocab: WorldVocabulary, cfg: WorldConfig
) -> list[ActionInstance]:
    n = cfg.frames
    placed: list[ActionInstance] = []
    for _ in range(int(rng.integers(cfg.min_actions, cfg.max_actions + 1))):
        if placed and rng.random() < cfg.repeat_prob:
            action = vocab.action(placed[int(rng.integers(len(placed)))].phrase)
        else:
            action = vocab.actions[int(rng.integers(len(vocab.actions)))]
        for _try in range(20):
            length = int(rng.integers(cfg.min_duration, cfg.max_duration + 1))
            start = int(rng.integers(0, n - length + 1))
            end = start + length
            clash = any(
                p.object == action.object and start <= p.end and p.start <= end for p in placed
            )
            busy = max(sum(1 for p in placed if p.start <= f < p.end) for f in range(start, end))
            if not clash and busy < cfg.max_concurrent:
                placed.append(ActionInstance(action.phrase, start, end, action.verb, action.object))
                break
    return sorted(placed, key=lambda a: (a.start, a.end, a.phrase))


def generate_world(
    video_id: str,
    rng: np.random.Generator,
    vocab: WorldVocabulary = DEFAULT_VOCAB,
    config: WorldConfig | None = None,
) -> SceneGraph:
    """Draw one video's scene graph from ``rng`` (see the module docstring for what is in it)."""
    cfg = config or WorldConfig()
    n = cfg.frames
    tl = _Timeline(n)
    furniture = sorted(vocab.furniture)
    lo, hi = cfg.room_objects
    for obj in rng.choice(furniture, size=int(rng.integers(lo, hi + 1)), replace=False):
        start, end = (0, n) if rng.random() < 0.6 else _span(rng, n, n // 2)
        tl.show(str(obj), start, end)

    actions = _place_actions(rng, vocab, cfg)
    for inst in actions:
        pre, post = (int(x) for x in rng.integers(0, 4, size=2))
        tl.show(inst.object, inst.start - pre, inst.end + post)  # type: ignore[arg-type]
        for relation, obj in vocab.action(inst.phrase).relations:
            tl.relate(relation, obj, inst.start, inst.end)

    props = [o for o in vocab.objects if o not in vocab.furniture]
    lo, hi = cfg.distractor_props
    for obj in rng.choice(props, size=int(rng.integers(lo, hi + 1)), replace=False):
        tl.show(str(obj), *_span(rng, n, 2))

    lo, hi = cfg.distractor_relations
    for _ in range(int(rng.integers(lo, hi + 1))):
        visible = sorted(set().union(*tl.objects))
        obj = visible[int(rng.integers(len(visible)))] if visible else vocab.objects[0]
        options = [r for r in vocab.relations if _can_relate(r, obj, vocab)]
        relation = options[int(rng.integers(len(options)))]
        start, end = _span(rng, n, 2)
        end = min(end, start + n // 3)
        tl.relate(relation, obj, start, end)

    frames = tuple(
        Frame(frozenset(objs), frozenset(rels)) for objs, rels in zip(tl.objects, tl.relations)
    )
    return SceneGraph(video_id, cfg.fps, frames, tuple(actions))
