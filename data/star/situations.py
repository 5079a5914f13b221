"""STAR's situation graphs -> STAIR's scene-graph schema (:mod:`stair.programs.scene_graph`).

A STAR question carries ``situations``: ``{frame_id: {rel_pairs, rel_labels, actions, bbox,
bbox_labels}}`` for keyframes of its clip, ``frame_id`` the frame's number in the Charades video.
The conversion, per keyframe:

- ``objects``: the names of ``bbox_labels`` and of the objects of ``rel_pairs``, the person
  (``o000``) left out (the schema's relations are the person's);
- ``relations``: ``(relation name, object name)`` for each pair whose subject is the person (a
  pair between two objects has no place in the schema and is dropped);
- ``actions``: an action instance per run of consecutive keyframes showing the action id, its
  phrase, verb and object from the class lists (:mod:`stair.data.star.classes`).

Frames are ordered by number; ``times`` are seconds from the clip's start
(``frame / fps - start``, ``fps`` the video's frame rate), so the graph lines up with features of
the clip. The questions of one clip each carry its situations; :func:`merge_situations` joins
them frame by frame before :func:`situation_graph` builds the clip's graph once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stair.data.star.classes import PERSON, STARClasses
from stair.programs.scene_graph import ActionInstance, Frame, SceneGraph

__all__ = ["FrameFacts", "merge_situations", "read_situations", "situation_graph"]


@dataclass(frozen=True)
class FrameFacts:
    """What one keyframe shows, by name (``actions``: STAR action ids)."""

    objects: frozenset[str]
    relations: frozenset[tuple[str, str]]
    actions: frozenset[str]

    def __or__(self, other: FrameFacts) -> FrameFacts:
        return FrameFacts(self.objects | other.objects, self.relations | other.relations,
                          self.actions | other.actions)  # fmt: skip


def _ids(situation: dict, key: str, frame: str) -> list:
    value = situation.get(key, [])
    if not isinstance(value, list):
        raise ValueError(f"situation of frame {frame}: {key!r} must be a list, got {value!r}")
    return value


def _name(table: Mapping[str, str], ident: Any, kind: str, frame: str) -> str:
    if not isinstance(ident, str) or ident not in table:
        raise ValueError(f"situation of frame {frame}: unknown {kind} id {ident!r}")
    return table[ident]


def read_situations(situations: Mapping[str, Any], classes: STARClasses) -> dict[int, FrameFacts]:
    """Frame number -> what it shows (raises ``ValueError`` naming the frame and what is wrong)."""
    out: dict[int, FrameFacts] = {}
    for frame, situation in situations.items():
        if not frame.isdigit():
            raise ValueError(f"situation frame id {frame!r} is not a frame number")
        if not isinstance(situation, dict):
            raise ValueError(f"situation of frame {frame} must be an object")
        pairs, labels = _ids(situation, "rel_pairs", frame), _ids(situation, "rel_labels", frame)
        if len(pairs) != len(labels):
            raise ValueError(f"situation of frame {frame}: {len(pairs)} rel_pairs but "
                             f"{len(labels)} rel_labels")  # fmt: skip
        seen = set(_ids(situation, "bbox_labels", frame))
        relations = set()
        for pair, label in zip(pairs, labels):
            if not (isinstance(pair, list) and len(pair) == 2):
                raise ValueError(f"situation of frame {frame}: rel pair {pair!r} is not [s, o]")
            subject, obj = pair
            seen.update(pair)
            relation = _name(classes.relations, label, "relation", frame)
            if subject == PERSON and obj != PERSON:
                relations.add((relation, _name(classes.objects, obj, "object", frame)))
        objects = {_name(classes.objects, o, "object", frame) for o in seen if o != PERSON}
        actions = set(_ids(situation, "actions", frame))
        for action in actions:
            _name(classes.actions, action, "action", frame)
        out[int(frame)] = FrameFacts(frozenset(objects), frozenset(relations), frozenset(actions))
    return out


def merge_situations(into: dict[int, FrameFacts], more: Mapping[int, FrameFacts]) -> None:
    """Add the keyframes of ``more`` to ``into``, joining what a shared frame shows."""
    for number, facts in more.items():
        into[number] = into[number] | facts if number in into else facts


def situation_graph(
    video_id: str,
    frames: Mapping[int, FrameFacts],
    classes: STARClasses,
    start: float,
    end: float,
    fps: float,
) -> SceneGraph:
    """The scene graph of the clip ``video_id`` (``[start, end]`` seconds of a video at ``fps``)."""
    numbers = sorted(frames)
    facts = [frames[n] for n in numbers]
    actions = []
    for action in sorted({a for f in facts for a in f.actions}):
        phrase, verb, obj = classes.action(action)
        i = 0
        while i < len(facts):
            if action not in facts[i].actions:
                i += 1
                continue
            j = i
            while j < len(facts) and action in facts[j].actions:
                j += 1
            actions.append(ActionInstance(phrase, i, j, verb, obj))
            i = j
    rate = len(numbers) / (end - start) if end > start and numbers else fps
    return SceneGraph(
        video_id,
        rate,
        tuple(Frame(f.objects, f.relations) for f in facts),
        tuple(actions),
        tuple(max(0.0, n / fps - start) for n in numbers),
    )
