"""Adapter from AGQA's pickled spatio-temporal scene graphs to STAIR's :class:`SceneGraph`.

AGQA ships ``{video_id: {vertex_id: vertex}}`` (AGQA_FORMAT.md). Vertex ids encode the kind:
``"000105"`` a frame, ``"c076/1"`` an action instance, ``"o4/000105"`` an object in a frame,
``"r22/000209"`` / ``"v025/000270"`` a relation / verb in a frame. Neighbour fields hold other
vertex dicts, so the graph is cyclic; this adapter only ever reads named fields of each vertex and
never follows ``next``/``prev``, so cycles are harmless.

Class names may be ids (``o4``) or English; ``names`` (from ``ENG.txt``/``IDX.txt``, see
:func:`load_agqa_names`) translates ids. A vertex reference may be a dict with ``class`` /
``charades`` / ``id`` fields or a plain id string.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from stair.files import TextFileError, read_lines
from stair.programs.scene_graph import ActionInstance, Frame, SceneGraph, SceneGraphError

_FRAME = re.compile(r"^\d{6}$")
_ACTION = re.compile(r"^c\d{3}/\d+$")
RELATION_FIELDS = ("attention", "contact", "spatial")


def load_agqa_names(idx_path: str | Path, eng_path: str | Path) -> dict[str, str]:
    """Id -> English from AGQA's parallel ``IDX.txt`` and ``ENG.txt`` (one entry per line)."""
    try:
        ids = [line for _, line in read_lines(idx_path)]
        eng = [line for _, line in read_lines(eng_path)]
    except TextFileError as err:
        raise SceneGraphError(str(err)) from None
    if len(ids) != len(eng):
        raise SceneGraphError(f"{idx_path} has {len(ids)} lines but {eng_path} has {len(eng)}")
    return {i.strip(): e.strip() for i, e in zip(ids, eng) if i.strip()}


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, Mapping) and not any(k in value for k in ("class", "charades", "id")):
        return list(value.values())
    if isinstance(value, (list, tuple, set, frozenset)):
        return list(value)
    return [value]


class _Names:
    def __init__(self, names: Mapping[str, str] | None) -> None:
        self.names = dict(names or {})

    def __call__(self, ref: Any, *fields: str) -> str | None:
        """The English name of a vertex reference (dict or id string)."""
        if ref is None:
            return None
        raw: Any = ref
        if isinstance(ref, Mapping):
            raw = next((ref[f] for f in (*fields, "class", "charades", "id") if ref.get(f)), None)
            if raw is None:
                return None
        text = str(raw)
        if text in self.names:
            return self.names[text]
        base = text.split("/")[0]  # "o4/000105" -> "o4"
        return self.names.get(base, base if "/" in text else text)


def from_agqa(
    video_id: str,
    vertices: Mapping[str, Any],
    names: Mapping[str, str] | None = None,
    fps: float = 24.0,
) -> SceneGraph:
    """Convert one AGQA video graph. Frames are the annotated key frames, in frame-number order.

    ``fps`` converts frame numbers to seconds where a frame has no ``secs`` field; the scene
    graph's ``times`` hold each key frame's seconds.
    """
    name = _Names(names)
    frame_keys = sorted((k for k in vertices if _FRAME.match(str(k))), key=int)
    if not frame_keys:
        raise SceneGraphError(f"AGQA scene graph of video {video_id!r} has no frame vertices")
    index: dict[Any, int] = {k: i for i, k in enumerate(frame_keys)}
    index.update({id(vertices[k]): i for i, k in enumerate(frame_keys)})  # refs given as vertices
    frames, times = [], []
    for key in frame_keys:
        vertex = vertices[key]
        objects = {n for o in _as_list(vertex.get("objects")) if (n := name(o))}
        relations: set[tuple[str, str]] = set()
        for field in RELATION_FIELDS:
            for rel in _as_list(vertex.get(field)):
                rel_name = name(rel)
                targets = _as_list(rel.get("objects")) if isinstance(rel, Mapping) else []
                for obj in targets:
                    if rel_name and (obj_name := name(obj)):
                        relations.add((rel_name, obj_name))
                        objects.add(obj_name)
        frames.append(Frame(frozenset(objects), frozenset(relations)))
        secs = vertex.get("secs")
        times.append(float(secs) if secs is not None else int(key) / fps)
    actions = [
        _action(video_id, key, vertices[key], index, times, name)
        for key in sorted(k for k in vertices if _ACTION.match(str(k)))
    ]
    return SceneGraph(
        str(video_id), fps, tuple(frames), tuple(a for a in actions if a), tuple(times)
    )


def _frame_key(ref: Any) -> Any:
    """A key of ``index`` for a frame reference: its number, or the vertex's identity."""
    if isinstance(ref, Mapping):
        named = ref.get("id") or ref.get("frame")
        return id(ref) if named is None else _frame_key(named)
    text = str(ref).split("/")[-1]
    return text.zfill(6) if text.isdigit() else None


def _action(
    video_id: str,
    key: str,
    vertex: Mapping[str, Any],
    index: Mapping[Any, int],
    times: list[float],
    name: _Names,
) -> ActionInstance | None:
    phrase = vertex.get("phrase") or name(vertex.get("charades") or key.split("/")[0])
    if not phrase:
        raise SceneGraphError(f"video {video_id!r}: action vertex {key!r} has no phrase")
    hits = sorted(
        {index[k] for f in _as_list(vertex.get("all_f")) if (k := _frame_key(f)) in index}
    )
    if not hits and vertex.get("start") is not None and vertex.get("end") is not None:
        start, end = float(vertex["start"]), float(vertex["end"])
        hits = [i for i, t in enumerate(times) if start <= t <= end]
    if not hits:
        return None  # an action between key frames is invisible to frame-level questions
    verb = name(vertex.get("verb"))
    obj = name(vertex.get("object") or vertex.get("object_id"))
    return ActionInstance(str(phrase), hits[0], hits[-1] + 1, verb, obj)


def load_agqa_scene_graphs(
    path: str | Path,
    names: Mapping[str, str] | None = None,
    video_ids: Iterable[str] | None = None,
    fps: float = 24.0,
) -> dict[str, SceneGraph]:
    """Read ``AGQA_*_stsgs.pkl`` and convert the videos asked for (all by default).

    The pickle is read by :class:`_PlainUnpickler`, which builds only plain containers and
    scalars: a file that names any other Python object is refused before anything runs. Every
    failure is a :class:`SceneGraphError` naming the file (and the video, for a malformed graph).
    """
    try:
        with open(path, "rb") as fh:
            raw = _PlainUnpickler(fh).load()
    except SceneGraphError as err:
        raise SceneGraphError(f"{path}: {err}") from None
    except (OSError, pickle.UnpicklingError, EOFError, ValueError, IndexError) as err:
        raise SceneGraphError(f"{path}: cannot read AGQA scene graphs ({err})") from err
    if not isinstance(raw, dict):
        raise SceneGraphError(f"{path}: expected {{video_id: graph}}, found {type(raw).__name__}")
    wanted = list(raw) if video_ids is None else list(video_ids)
    missing = [v for v in wanted if v not in raw]
    if missing:
        raise SceneGraphError(f"{path}: no scene graph for video(s) {missing[:5]}")
    graphs = {}
    for video in wanted:
        try:
            if not isinstance(raw[video], dict):
                raise TypeError(
                    f"expected {{vertex_id: vertex}}, found {type(raw[video]).__name__}"
                )
            graphs[video] = from_agqa(video, raw[video], names, fps)
        except SceneGraphError:
            raise
        except (TypeError, AttributeError, ValueError, KeyError) as err:
            raise SceneGraphError(
                f"{path}: video {video!r}: malformed scene graph ({err})"
            ) from None
    return graphs


#: the only globals an AGQA scene-graph pickle may name (containers; the rest are opcodes)
PLAIN_GLOBALS = {("builtins", "set"), ("builtins", "frozenset"), ("__builtin__", "set"),
                 ("__builtin__", "frozenset")}  # fmt: skip


class _PlainUnpickler(pickle.Unpickler):
    """An unpickler for data made of dicts, lists, tuples, sets, strings, numbers, booleans and
    None; naming any other global raises :class:`SceneGraphError` (nothing is imported or run)."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in PLAIN_GLOBALS:
            return set if name == "set" else frozenset
        raise SceneGraphError(
            f"refused to load {module}.{name}: AGQA scene graphs hold only plain containers and "
            "scalars (the file may be crafted)"
        )

    def persistent_load(self, pid: Any) -> Any:
        raise SceneGraphError("refused a persistent reference (not a plain scene-graph pickle)")
