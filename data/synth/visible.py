"""The scene graph of a synthetic video as its symbolic features show it (a perception oracle).

The ``symbolic`` renderer (:mod:`stair.data.synth.render`) drops every entity of every frame (an
object, a relation-object pair, an action under way) with probability ``miss_rate``, then adds
noise. A model that reads only the features cannot know what was dropped, so the benchmark's
ceiling is below the 100 % that the symbolic executor reaches on the full scene graph. This
module gives the graph that is left: :func:`visible_graph` replays, for one video of a built
dataset, exactly the drop mask the renderer drew (the first draw of the video's feature
generator ``default_rng([seed, 4, i])``, ``i`` the video's place in the build's order:
:func:`generator_indices`) and removes what it dropped: per frame the missed objects and
relations; an action is kept only on the frames where its entity survived, each run of such
frames becoming one action instance. :func:`replay_features` re-renders the features from that
mask and the same generator; they equal ``features.h5`` when the mask is the one drawn.
:class:`VisibleDataset` reads a folder and yields ``(question record, visible graph)`` over a
split.

Why this is a principled oracle: the symbolic executor on the visible graph is a perfect reasoner
(the exact semantics of every operation, the gold program) on perfect perception of what the
features contain, frame by frame. The noise is left out because it is far below the entity
margin: at norm 0.3 in 256 dimensions it moves a frame's score ``<feature, entity row>`` by
``0.3 / sqrt(256)`` ≈ 0.019 (standard deviation; about 0.10 at most over the test videos of
the default benchmark), while a present entity scores about 1 (median 1.00) and an absent one about
0 (median 0.01); :func:`entity_scores` measures these. The interference of entities that share a
part (a relation, a verb, an object) is larger than the noise (an absent entity scores up to
~0.7 at the 99th percentile): the oracle assumes perception that resolves it, as exact decoding
of the sum of a frame's few rows does. It is the ceiling of a reader that takes every frame
literally, not a bound on every model: one that smooths over a one-frame gap, or infers a missed
relation from the action that implies it (drinking from a cup -> holding the cup), can recover
some of what was dropped.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from stair.data.dataset import QuestionRecord, iter_questions
from stair.data.synth.render import EntityEmbeddings, SymbolicRenderConfig
from stair.data.synth.splits import SplitConfig, assign_videos
from stair.data.synth.vocab import WorldVocabulary
from stair.errors import StairError
from stair.programs import ActionInstance, Frame, SceneGraph, load_scene_graphs


class VisibleGraphError(StairError):
    """A folder or video whose rendering cannot be replayed; the message says which and why."""


def generator_indices(videos: int, seed: int, splits: SplitConfig) -> dict[str, int]:
    """Video id -> the index ``i`` its generators are seeded with (``default_rng([seed, 1, i])``
    for the world, ``[seed, 4, i]`` for the features): its place in the build's order, the video
    split's permutation (``assign_videos``), not the number in its id."""
    ids = [f"v{i:05d}" for i in range(videos)]
    order = assign_videos(ids, np.random.default_rng([seed, 0]), splits)
    return {video_id: i for i, video_id in enumerate(order)}


@dataclass(frozen=True)
class RenderSetup:
    """What the symbolic renderer of a dataset drew its features with: seed, settings, the entity
    table and each video's generator index."""

    seed: int
    config: SymbolicRenderConfig
    embeddings: EntityEmbeddings
    indices: dict[str, int]  #: video id -> generator index (:func:`generator_indices`)

    @classmethod
    def of(
        cls, vocab: WorldVocabulary, seed: int, config: SymbolicRenderConfig,
        indices: dict[str, int],
    ) -> RenderSetup:  # fmt: skip
        """The setup of a build with this vocabulary, seed and settings (as ``build.py``)."""
        embeddings = EntityEmbeddings(vocab, config.dim, np.random.default_rng([seed, 3]))
        return cls(seed, config, embeddings, indices)

    @classmethod
    def from_folder(cls, folder: str | os.PathLike) -> RenderSetup:
        """The setup recorded in a dataset folder's ``meta.json`` and ``vocab.json``."""
        folder = Path(folder)
        meta, vocab = _read_json(folder / "meta.json"), _read_json(folder / "vocab.json")
        where = folder / "meta.json"
        if "symbolic" not in meta.get("render", []):
            raise VisibleGraphError(f"{where}: the folder has no symbolic features to replay")
        settings = meta.get("config", {})
        seed, videos = meta.get("seed"), meta.get("videos")
        if not (isinstance(settings.get("symbolic"), dict) and isinstance(seed, int)
                and isinstance(videos, int)):  # fmt: skip
            raise VisibleGraphError(f"{where}: no 'seed', 'videos' and 'config' to replay with")
        try:
            config = SymbolicRenderConfig(**settings["symbolic"])
            indices = generator_indices(videos, seed, SplitConfig(**settings.get("splits", {})))
            return cls.of(WorldVocabulary.from_json(vocab), seed, config, indices)
        except (TypeError, ValueError, KeyError) as err:
            raise VisibleGraphError(f"{where}: cannot rebuild the renderer ({err!r})") from err

    def index(self, video_id: str) -> int:
        """The generator index of one video of the dataset."""
        if video_id not in self.indices:
            raise VisibleGraphError(f"video {video_id!r} is not one of the dataset's")
        return self.indices[video_id]


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise VisibleGraphError(f"{path}: cannot read ({err})") from err


@dataclass(frozen=True)
class Detections:
    """Which entities each frame of a video holds (``present``, bool ``[T, K]``) and which of
    them the renderer kept (``kept``); ``rng`` is the video's generator after the drop draw."""

    present: np.ndarray
    kept: np.ndarray
    rng: np.random.Generator = field(repr=False)

    @property
    def dropped(self) -> np.ndarray:
        return self.present & ~self.kept


def detections(graph: SceneGraph, setup: RenderSetup, index: int) -> Detections:
    """Replay the drop draw of video ``index``: ``render_features``' first use of its generator
    is ``present &= rng.random(present.shape) >= miss_rate`` (none when ``miss_rate`` is 0)."""
    rng = np.random.default_rng([setup.seed, 4, index])
    present = setup.embeddings.presence(graph)
    kept = present.copy()
    if setup.config.miss_rate > 0:
        kept &= rng.random(present.shape) >= setup.config.miss_rate
    return Detections(present, kept, rng)


def replay_features(graph: SceneGraph, setup: RenderSetup, index: int) -> np.ndarray:
    """The features of video ``index`` re-rendered from the replayed mask: float32 ``[T, D]``,
    equal to the stored ones when the mask is the renderer's (the noise is the generator's next
    draw, so a wrong first draw changes it too)."""
    found = detections(graph, setup, index)
    table = setup.embeddings.table
    features = np.stack([table[row].sum(axis=0) for row in found.kept]).astype(np.float32)
    noise = found.rng.standard_normal(features.shape, dtype=np.float32)
    return features + noise * np.float32(setup.config.noise / np.sqrt(table.shape[1]))


def _runs(mask: np.ndarray, offset: int) -> list[tuple[int, int]]:
    """Maximal runs of True in ``mask`` as half-open frame ranges shifted by ``offset``."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [(offset + int(s), offset + int(e)) for s, e in zip(starts, ends)]


def graph_from_mask(
    graph: SceneGraph, embeddings: EntityEmbeddings, kept: np.ndarray
) -> SceneGraph:
    """``graph`` without the entity-frames that ``kept`` (bool ``[T, K]``) leaves out.

    Objects and relations go per frame; an action instance keeps the frames where its entity is
    kept, each run of them one instance (in the order of the original instances)."""
    index = embeddings.index
    frames = tuple(
        Frame(
            frozenset(o for o in frame.objects if kept[f, index["object", o]]),
            frozenset(p for p in frame.relations if kept[f, index["pair", p]]),
        )
        for f, frame in enumerate(graph.frames)
    )
    actions = tuple(
        ActionInstance(act.phrase, start, end, act.verb, act.object)
        for act in graph.actions
        for start, end in _runs(kept[act.start : act.end, index["action", act.phrase]], act.start)
    )
    return SceneGraph(graph.video_id, graph.fps, frames, actions, graph.times)


def visible_graph(graph: SceneGraph, setup: RenderSetup) -> SceneGraph:
    """The scene graph of a synthetic video as its features show it (see the module docstring)."""
    index = setup.index(graph.video_id)
    return graph_from_mask(graph, setup.embeddings, detections(graph, setup, index).kept)


def entity_scores(
    features: np.ndarray, table: np.ndarray, kept: np.ndarray
) -> dict[str, np.ndarray]:
    """Scores ``<frame feature, entity row>`` of a video's entities: ``present`` (those kept),
    ``absent`` (all others), and ``noise``, the part of every score the noise makes (the features
    minus the sum of the kept rows)."""
    scores = features @ table.T
    clean = np.stack([table[row].sum(axis=0) for row in kept])
    return {"present": scores[kept], "absent": scores[~kept],
            "noise": ((features - clean) @ table.T).ravel()}  # fmt: skip


class VisibleDataset:
    """A synthetic dataset folder read with its visible graphs (each computed once, on demand)."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self.setup = RenderSetup.from_folder(self.folder)
        self.meta = _read_json(self.folder / "meta.json")
        path = self.folder / "scene_graphs.json"
        if not path.exists():
            raise VisibleGraphError(f"{self.folder}: no scene_graphs.json")
        self.graphs = load_scene_graphs(path)
        self._visible: dict[str, SceneGraph] = {}
        self.entity_frames = 0  #: entity-frames present, over the videos visited
        self.dropped = 0  #: of them, dropped by the renderer

    def visible(self, video_id: str) -> SceneGraph:
        """The visible graph of one video of the folder."""
        if video_id not in self._visible:
            graph = self.graphs.get(video_id)
            if graph is None:
                raise VisibleGraphError(f"{self.folder}: no scene graph for video {video_id!r}")
            found = detections(graph, self.setup, self.setup.index(video_id))
            self.entity_frames += int(found.present.sum())
            self.dropped += int(found.dropped.sum())
            self._visible[video_id] = graph_from_mask(graph, self.setup.embeddings, found.kept)
        return self._visible[video_id]

    def visited(self) -> list[str]:
        """The videos whose visible graph was computed so far, in that order."""
        return list(self._visible)

    def split_path(self, split: str) -> Path:
        return self.folder / "questions" / f"{split}.jsonl"

    def size(self, split: str) -> int | None:
        """The number of questions of ``split`` that ``meta.json`` records (None if it does not)."""
        size = self.meta.get("sizes", {}).get(split)
        return size if isinstance(size, int) else None

    def iter_split(self, split: str) -> Iterator[tuple[QuestionRecord, SceneGraph]]:
        """``(question record, visible graph of its video)`` for every question of ``split``."""
        path = self.split_path(split)
        if not path.exists():
            raise VisibleGraphError(f"{self.folder}: no {split!r} split")
        for record in iter_questions(path):
            yield record, self.visible(record.video_id)
