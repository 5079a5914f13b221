"""The ``symbolic`` renderer: per-frame feature vectors from scene graphs, no pixels involved.

Each frame's vector is the sum of fixed random *entity embeddings* of what is in it:

- every visible object: its object vector;
- every person-object relation: ``bind(relation vector, P1(object vector))``;
- every action under way: ``bind(verb vector, P2(object vector))``;

where object, relation and verb vectors are random unit vectors, ``P1``, ``P2`` fixed random
signed permutations of the coordinates and ``bind(a, b) = normalise(a + b + sqrt(D) * a * b)``:
the sum keeps a pair similar to its parts (compositional), the elementwise product (nearly
orthogonal to everything else) binds them, so that holding a cup while touching a phone does not
sum to the same vector as holding a phone while touching a cup.

Each entity is dropped from a frame with probability ``miss_rate`` (a missed detection) and
Gaussian noise of norm about ``noise`` is added (per coordinate ``noise / sqrt(dim)``). The
embeddings depend only on the vocabulary and the seed they are drawn from, so the features of all
videos of a dataset live in one space.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stair.data.synth.vocab import WorldVocabulary
from stair.programs import SceneGraph


@dataclass(frozen=True)
class SymbolicRenderConfig:
    """Feature size and how unreliable the detections are."""

    dim: int = 256  #: feature dimension D
    noise: float = 0.3  #: expected norm of the Gaussian noise added to each frame
    miss_rate: float = 0.05  #: probability that an entity is missing from a frame

    def __post_init__(self) -> None:
        if self.dim < 8:
            raise ValueError(f"dim must be at least 8, got {self.dim}")
        if self.noise < 0 or not 0 <= self.miss_rate < 1:
            raise ValueError("need noise >= 0 and 0 <= miss_rate < 1")


def _unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    vectors = rng.standard_normal((n, dim))
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


class EntityEmbeddings:
    """The fixed entity table: one row per object, relation-object pair and action.

    ``index`` maps ``("object", o)``, ``("pair", (r, o))`` and ``("action", phrase)`` to a row
    of ``table`` (float32 ``[K, D]``).
    """

    def __init__(self, vocab: WorldVocabulary, dim: int, rng: np.random.Generator) -> None:
        objects = _unit(rng, len(vocab.objects), dim)
        relations = _unit(rng, len(vocab.relations), dim)
        verbs = _unit(rng, len(vocab.verbs), dim)
        p1, p2 = rng.permutation(dim), rng.permutation(dim)
        s1, s2 = rng.choice([-1.0, 1.0], dim), rng.choice([-1.0, 1.0], dim)
        obj = {o: objects[i] for i, o in enumerate(vocab.objects)}
        root = np.sqrt(dim)

        def bind(a: np.ndarray, b: np.ndarray) -> np.ndarray:
            return a + b + root * a * b

        rows: list[np.ndarray] = []
        self.index: dict[tuple[str, object], int] = {}

        def add(key: tuple[str, object], vector: np.ndarray) -> None:
            self.index[key] = len(rows)
            rows.append(vector / np.linalg.norm(vector))

        for o in vocab.objects:
            add(("object", o), obj[o])
        for i, r in enumerate(vocab.relations):
            for o in vocab.objects:
                add(("pair", (r, o)), bind(relations[i], s1 * obj[o][p1]))
        verb_row = {v: verbs[i] for i, v in enumerate(vocab.verbs)}
        for a in vocab.actions:
            add(("action", a.phrase), bind(verb_row[a.verb], s2 * obj[a.object][p2]))
        self.table = np.stack(rows).astype(np.float32)

    def presence(self, graph: SceneGraph) -> np.ndarray:
        """Which entities each frame holds: bool ``[T, K]``."""
        out = np.zeros((graph.num_frames, len(self.table)), dtype=bool)
        for f, frame in enumerate(graph.frames):
            for o in frame.objects:
                out[f, self.index[("object", o)]] = True
            for pair in frame.relations:
                out[f, self.index[("pair", pair)]] = True
        for act in graph.actions:
            out[act.start : act.end, self.index[("action", act.phrase)]] = True
        return out


def render_features(
    graph: SceneGraph,
    embeddings: EntityEmbeddings,
    config: SymbolicRenderConfig,
    rng: np.random.Generator,
) -> np.ndarray:
    """Symbolic features of one video: float32 ``[T, D]`` (see the module docstring)."""
    present = embeddings.presence(graph)
    if config.miss_rate > 0:
        present &= rng.random(present.shape) >= config.miss_rate
    # a sum of rows per frame (tiny sizes: no BLAS call, whose threads stall on a busy machine)
    table = embeddings.table
    features = np.stack([table[row].sum(axis=0) for row in present]).astype(np.float32)
    dim = table.shape[1]
    noise = rng.standard_normal(features.shape, dtype=np.float32)
    features += noise * np.float32(config.noise / np.sqrt(dim))
    return features


def timestamps(graph: SceneGraph) -> np.ndarray:
    """Seconds of each frame, float64 ``[T]``."""
    return np.array([graph.time_of(f) for f in range(graph.num_frames)], dtype=np.float64)
