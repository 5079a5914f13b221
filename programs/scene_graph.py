"""STAIR's scene-graph schema: what happens in a video, frame by frame.

The symbolic executor reads it; the synthetic benchmark writes it; AGQA's pickled graphs are
converted to it (:mod:`stair.data.agqa.graph`). As JSON::

    {
      "video_id": "v00042",
      "fps": 4.0,
      "frames": [                                   # one entry per (sampled) frame
        {"objects": ["cup", "table"],               # objects visible in the frame
         "relations": [["holding", "cup"]]},        # person-object relations holding in it
        ...
      ],
      "actions": [                                  # action instances
        {"phrase": "drinking from a cup", "verb": "drinking from", "object": "cup",
         "start": 2, "end": 9}                      # frame indices, end exclusive
      ],
      "times": [0.0, 0.25, ...]                     # optional: seconds of each frame
    }

Without ``times`` frame ``i`` is at ``i / fps`` seconds.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stair.errors import StairError
from stair.files import write_json


class SceneGraphError(StairError):
    """A malformed scene graph; the message names the video and the field."""


@dataclass(frozen=True)
class Frame:
    objects: frozenset[str] = frozenset()
    relations: frozenset[tuple[str, str]] = frozenset()  # (relation, object)


@dataclass(frozen=True)
class ActionInstance:
    phrase: str
    start: int
    end: int  # exclusive
    verb: str | None = None
    object: str | None = None

    def names(self) -> frozenset[str]:
        """The words that refer to this action: its phrase, verb and object."""
        return frozenset(n for n in (self.phrase, self.verb, self.object) if n)


@dataclass(frozen=True)
class SceneGraph:
    video_id: str
    fps: float
    frames: tuple[Frame, ...]
    actions: tuple[ActionInstance, ...] = ()
    times: tuple[float, ...] | None = field(default=None)

    def __post_init__(self) -> None:
        where = f"scene graph of video {self.video_id!r}"
        if self.fps <= 0:
            raise SceneGraphError(f"{where}: fps must be positive, got {self.fps}")
        if self.times is not None and len(self.times) != len(self.frames):
            raise SceneGraphError(
                f"{where}: 'times' has {len(self.times)} entries for {len(self.frames)} frames"
            )
        for i, act in enumerate(self.actions):
            if not (0 <= act.start < act.end <= len(self.frames)):
                raise SceneGraphError(
                    f"{where}: actions[{i}] ({act.phrase!r}) spans frames [{act.start}, "
                    f"{act.end}) outside [0, {len(self.frames)})"
                )

    @property
    def num_frames(self) -> int:
        return len(self.frames)

    def time_of(self, frame: int) -> float:
        """Seconds from the start of the video to ``frame``."""
        return self.times[frame] if self.times is not None else frame / self.fps

    def actions_at(self, frame: int) -> list[ActionInstance]:
        return [a for a in self.actions if a.start <= frame < a.end]

    # -- JSON -----------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "video_id": self.video_id,
            "fps": self.fps,
            "frames": [
                {"objects": sorted(f.objects), "relations": [list(r) for r in sorted(f.relations)]}
                for f in self.frames
            ],
            "actions": [
                {"phrase": a.phrase, "verb": a.verb, "object": a.object, "start": a.start,
                 "end": a.end}
                for a in self.actions
            ],
        }  # fmt: skip
        if self.times is not None:
            out["times"] = list(self.times)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SceneGraph:
        video = data.get("video_id", "?") if isinstance(data, Mapping) else "?"
        try:
            frames = tuple(
                Frame(
                    frozenset(map(str, f.get("objects", []))),
                    frozenset((str(r), str(o)) for r, o in f.get("relations", [])),
                )
                for f in data["frames"]
            )
            actions = tuple(
                ActionInstance(
                    str(a["phrase"]), int(a["start"]), int(a["end"]),
                    a.get("verb"), a.get("object"),
                )
                for a in data.get("actions", [])
            )  # fmt: skip
            times = tuple(float(t) for t in data["times"]) if data.get("times") else None
            return cls(str(data["video_id"]), float(data["fps"]), frames, actions, times)
        except SceneGraphError:
            raise
        except (KeyError, TypeError, ValueError) as err:
            raise SceneGraphError(f"scene graph of video {video!r}: malformed ({err!r})") from err


def save_scene_graphs(graphs: Mapping[str, SceneGraph], path: str | Path) -> None:
    """Write ``{video_id: graph}`` as one JSON file, atomically."""
    write_json(path, {k: g.to_json() for k, g in graphs.items()}, indent=None)


def load_scene_graphs(path: str | Path) -> dict[str, SceneGraph]:
    path = Path(path)
    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise SceneGraphError(f"{path}: cannot read scene graphs ({err})") from err
    return {k: SceneGraph.from_json(v) for k, v in raw.items()}
