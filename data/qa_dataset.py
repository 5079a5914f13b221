"""Questions as training examples, and their collation into :class:`~stair.engine.batch.QABatch`.

A :class:`QAExample` is everything about one question that does not depend on the batch: its
compiled tree, word ids, answer index, gold values (the symbolic executor's JSON, as stored),
metadata and, for a multiple-choice question, its candidate answers (the answer index is then the
right candidate's). :class:`Collate` gathers the videos of a batch once each, pads them, finds
the phrases in the questions and reads each gold once into its tensor, by the value class of its
node, on the video's own frames (:func:`stair.values.tree_golds`).
:class:`VideoBatchSampler` fills batches video by video, so questions about the same video share
one encoded video.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from stair.data.video.store import FeatureStore
from stair.engine.batch import QABatch
from stair.engine.options import Candidates
from stair.engine.plan import Plan, TextIndex
from stair.programs import ModuleTree
from stair.programs.text import WordVocabulary, find_span, tokenize
from stair.values import GoldContext, choose_options, tree_golds


@dataclass(frozen=True)
class QAExample:
    qid: str
    video_id: str
    tree: ModuleTree
    words: tuple[str, ...]
    answer: int
    golds: dict[str, dict[str, Any]]
    metadata: dict[str, Any]
    #: the candidate answers of a multiple-choice question (empty: a global answer vocabulary)
    options: tuple[str, ...] = ()


class QADataset(Dataset):
    """A list of examples; ``__getitem__`` is pure (no randomness, no I/O)."""

    def __init__(self, examples: Sequence[QAExample]) -> None:
        self.examples = list(examples)

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> QAExample:
        return self.examples[index]

    def video_ids(self) -> list[str]:
        return [e.video_id for e in self.examples]


def _pad(rows: Sequence[Sequence[int]], width: int | None = None) -> torch.Tensor:
    width = max([len(r) for r in rows] + [1]) if width is None else width
    out = torch.zeros(len(rows), width, dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, : len(row)] = torch.as_tensor(row[:width], dtype=torch.long)
    return out


def frame_map(feature_times: np.ndarray, graph_times: Sequence[float]) -> torch.Tensor | None:
    """Which scene-graph frame each feature frame shows: the nearest in time.

    ``None`` when the two are the same frames (the synthetic benchmark's symbolic features).
    """
    graph = np.asarray(graph_times, dtype=np.float64)
    if len(graph) == len(feature_times) and np.allclose(graph, feature_times, atol=1e-4):
        return None
    nearest = np.abs(feature_times[:, None] - graph[None, :]).argmin(axis=1)
    return torch.as_tensor(nearest, dtype=torch.long)


class Collate:
    """Turns a list of :class:`QAExample` into a :class:`QABatch` (picklable for workers).

    ``graph_times``: per video, the seconds of its scene-graph frames, used to map golds onto
    feature frames when they differ (AGQA's 8 clips vs its key frames).
    """

    def __init__(
        self,
        store: FeatureStore,
        words: WordVocabulary,
        concepts: dict[str, int],
        graph_times: dict[str, Sequence[float]] | None = None,
    ) -> None:
        self.store, self.words, self.concepts = store, words, concepts
        self.graph_times = graph_times or {}

    def __call__(self, examples: Sequence[QAExample]) -> QABatch:
        video_ids = list(dict.fromkeys(e.video_id for e in examples))
        row = {v: i for i, v in enumerate(video_ids)}
        loaded = [self.store.get(v) for v in video_ids]
        lengths = [f.shape[0] for f, _ in loaded]
        t_max, dim = max(lengths), loaded[0][0].shape[1]
        features = torch.zeros(len(video_ids), t_max, dim)
        mask = torch.zeros(len(video_ids), t_max, dtype=torch.bool)
        times = torch.zeros(len(video_ids), t_max)
        maps: dict[str, torch.Tensor | None] = {}
        for i, (v, (feats, attrs)) in enumerate(zip(video_ids, loaded)):
            n = feats.shape[0]
            features[i, :n] = torch.from_numpy(feats)
            mask[i, :n] = True
            stamps = np.asarray(attrs.get("timestamps", np.arange(n)), dtype=np.float64)[:n]
            times[i, : len(stamps)] = torch.from_numpy(stamps).float()
            maps[v] = frame_map(stamps, self.graph_times[v]) if v in self.graph_times else None

        trees = [e.tree for e in examples]
        video_index = [row[e.video_id] for e in examples]
        text_index = TextIndex(trees)
        spans, phrase_words = [], []
        for text, b in zip(text_index.texts, text_index.tree_of):
            span = find_span(text, examples[b].words)
            spans.append(span if span is not None else (-1, -1))
            phrase_words.append(self.words.encode(tokenize(text)))

        golds, options = [], []
        for e in examples:
            if not e.golds:
                golds.append({})
                options.append({})
                continue
            n = lengths[row[e.video_id]]
            context = GoldContext(n, self.concepts, maps[e.video_id], length=t_max)
            golds.append(tree_golds(e.tree, e.golds, context))
            options.append(choose_options(e.tree, e.golds))

        candidates = None
        if any(e.options for e in examples):
            candidates = Candidates.build([e.options for e in examples], self.words)
        return QABatch(
            qids=[e.qid for e in examples],
            trees=trees,
            questions=_pad([self.words.encode(e.words) for e in examples]),
            plan=Plan(trees, video_index, text_index),
            phrase_spans=torch.tensor(spans, dtype=torch.long).reshape(-1, 2),
            phrase_words=_pad(phrase_words),
            video_ids=video_ids,
            video_index=torch.tensor(video_index, dtype=torch.long),
            features=features,
            frame_mask=mask,
            timestamps=times,
            answers=torch.tensor([e.answer for e in examples], dtype=torch.long),
            golds=golds,
            options=options,
            metadata=[e.metadata for e in examples],
            candidates=candidates,
        )


class VideoBatchSampler(Sampler[list[int]]):
    """Batches of whole videos' questions: each video is encoded once per batch.

    Videos are shuffled per epoch (seeded by ``seed`` and the epoch Lightning passes to
    :meth:`set_epoch`); a video with more questions than fit is split across batches. Under
    ``torch.distributed`` each process takes every ``world``-th batch.
    """

    def __init__(
        self,
        video_ids: Sequence[str],
        batch_size: int,
        shuffle: bool = True,
        seed: int = 0,
        rank: int | None = None,
        world: int | None = None,
    ) -> None:
        self.batch_size, self.shuffle, self.seed, self.epoch = batch_size, shuffle, seed, 0
        self.by_video: dict[str, list[int]] = {}
        for index, video in enumerate(video_ids):
            self.by_video.setdefault(video, []).append(index)
        dist = torch.distributed
        active = dist.is_available() and dist.is_initialized()
        self.world = world if world is not None else (dist.get_world_size() if active else 1)
        self.rank = rank if rank is not None else (dist.get_rank() if active else 0)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _batches(self) -> list[list[int]]:
        videos = list(self.by_video)
        if self.shuffle:
            random.Random(self.seed * 100_003 + self.epoch).shuffle(videos)
        flat = [i for v in videos for i in self.by_video[v]]
        batches = [flat[i : i + self.batch_size] for i in range(0, len(flat), self.batch_size)]
        usable = len(batches) - len(batches) % self.world if self.world > 1 else len(batches)
        return batches[:usable][self.rank :: self.world]

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self._batches())

    def __len__(self) -> int:
        n = sum(len(v) for v in self.by_video.values())
        batches = -(-n // self.batch_size)
        return (batches - batches % self.world) // self.world if self.world > 1 else batches
