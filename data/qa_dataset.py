"""Questions as training examples, and their collation into :class:`~stair.engine.batch.QABatch`.

A :class:`QAExample` is everything about one question that does not depend on the batch: its
compiled tree, word ids, answer index, gold values (the symbolic executor's JSON, as stored),
metadata and, for a multiple-choice question, its candidate answers (the answer index is then the
right candidate's). :class:`Collate` gathers the videos of a batch once each, pads them, finds
the phrases in the questions and reads each gold once into its tensor, by the value class of its
node, on the video's own frames (:func:`stair.values.tree_golds`).

A split is served lazily: :class:`LazyExamples` holds the split's question index
(:mod:`stair.data.question_index`) and an :class:`ExampleBuilder`, and builds example ``i`` when
the loader asks for it: its line is read and parsed, its program compiled (through a
:class:`ProgramCache`), its answer looked up. :class:`VideoBatchSampler` fills batches video by
video, so questions about the same video share one encoded video; it reads each question's video
from the index's column, not from the examples.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from stair.data.dataset import QuestionRecord
from stair.data.programs_source import ProgramLine, fallback_tree
from stair.data.question_index import QuestionRecords
from stair.data.video.store import FeatureStore
from stair.engine.batch import QABatch
from stair.engine.options import Candidates
from stair.engine.plan import Plan, TextIndex
from stair.errors import DatasetFormatError
from stair.programs import ModuleTree, ProgramError
from stair.programs.shapes import compile_by_shape
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
    #: what :class:`Collate` read from ``golds`` for this example, kept for the next epoch (it
    #: lives as long as the example: a held example reads its golds once)
    read: dict = field(default_factory=dict, compare=False, repr=False)


class ProgramCache:
    """Compiled programs by program text, the ``size`` most recently used kept (AGQA's 2.3 M
    questions repeat far fewer program texts; a tree takes about 2 KB); ``hits`` and ``misses``
    count the lookups. A miss compiles by shape (:mod:`stair.programs.shapes`: the tree
    ``compile_program`` gives, the shape's compilation reused). A pickled cache arrives empty
    (each loader worker fills its own)."""

    def __init__(self, size: int = 8192) -> None:
        self.size, self.hits, self.misses = size, 0, 0
        self._trees: OrderedDict[str, ModuleTree] = OrderedDict()

    def __call__(self, program: str) -> ModuleTree:
        tree = self._trees.get(program)
        if tree is not None:
            self.hits += 1
            self._trees.move_to_end(program)
            return tree
        self.misses += 1
        tree = self._trees[program] = compile_by_shape(program)
        if len(self._trees) > self.size:
            self._trees.popitem(last=False)
        return tree

    def __len__(self) -> int:
        return len(self._trees)

    def __reduce__(self):
        return (ProgramCache, (self.size,))


@dataclass
class ExampleBuilder:
    """Turns a question record of ``split`` into its :class:`QAExample` (in a loader worker).

    ``annotated``: the records' programs are gold ones; ``generated`` (qid -> generated
    program): an annotated folder's ``:generated`` split puts them in place of the gold ones
    (keeping the step golds only where they are the gold program); a folder without annotations
    answers on them, or on the declared fallback program. ``answers``: answer -> index (None:
    multiple choice, the right option's index); ``missing``: the index of an answer outside it.
    Errors name ``path`` (the question file) and the record's line.
    """

    path: Path
    split: str
    annotated: bool
    generated: Mapping[str, ProgramLine] | None
    answers: Mapping[str, int] | None
    missing: int = -1
    programs: ProgramCache = field(default_factory=ProgramCache)

    def _fail(self, record: QuestionRecord, line: int | None, reason: str) -> DatasetFormatError:
        where = f"question {record.qid}"
        return DatasetFormatError(self.path, f"line {line} ({where})" if line else where, reason)

    def __call__(self, record: QuestionRecord, line: int | None = None) -> QAExample:
        if self.answers is not None:
            answer, options = self.answers.get(record.answer, self.missing), ()
        else:
            options = record.metadata.options
            if not options:
                raise self._fail(record, line, "a multiple-choice question without options")
            answer = options.index(record.answer) if record.answer in options else -1
        words = tuple(tokenize(record.question))
        meta = {**record.metadata.to_json(), "split": self.split}
        if not self.annotated:
            program = (self.generated or {}).get(record.qid)
            fallback = program is None or program.tree is None
            tree = fallback_tree(record.question) if fallback else program.tree
            meta.update(fallback=fallback, steps=len(tree))
            golds = {} if fallback else program.golds
            return QAExample(record.qid, record.video_id, tree, words, answer, golds, meta, options)
        try:
            gold = self.programs(record.program)
        except ProgramError as err:
            raise self._fail(record, line, str(err)) from err
        tree, golds = gold, record.golds
        if self.generated is not None:
            program = self.generated.get(record.qid)
            tree = program.tree if program is not None and program.tree is not None else gold
            meta["program_match"] = tree == gold
            golds = golds if tree == gold else {}
        return QAExample(record.qid, record.video_id, tree, words, answer, golds, meta, options)


class LazyExamples(Sequence[QAExample]):
    """The examples of a split, each built from its record when asked for.

    ``keep``: hold each example once built (in this process), so that later epochs read, parse
    and compile nothing: for splits small enough to hold (about 10 KB a question); otherwise
    nothing is held. Pickling (to loader workers) leaves the held examples behind.
    """

    def __init__(self, records: QuestionRecords, build: ExampleBuilder, keep: bool = False) -> None:
        self.records, self.build, self.keep = records, build, keep
        self._kept: dict[int, QAExample] = {}

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_kept": {}}

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        i = int(i)
        example = self._kept.get(i)
        if example is None:
            example = self.build(self.records[i], int(self.records.index.line[i]))
            if self.keep:
                self._kept[i] = example
        return example

    def __iter__(self) -> Iterator[QAExample]:
        for i in range(len(self)):
            yield self[i]

    def video_codes(self) -> np.ndarray:
        """Each question's video, as a position in ``records.videos`` (memory-mapped)."""
        return self.records.video_codes()


class QADataset(Dataset):
    """The examples of a split: a list, or :class:`LazyExamples` that read, parse and compile
    each question in ``__getitem__`` (no randomness; the only I/O is the record's line)."""

    def __init__(self, examples: Sequence[QAExample]) -> None:
        self.examples = examples if isinstance(examples, LazyExamples) else list(examples)

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> QAExample:
        return self.examples[index]

    def video_ids(self) -> Sequence[str] | np.ndarray:
        """Each example's video: ids, or (lazy examples) integer codes, one per video."""
        if isinstance(self.examples, LazyExamples):
            return self.examples.video_codes()
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
        self._token = object()  # this collation's key in the examples' ``read`` caches

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
            key = (self._token, n, t_max)  # what the gold tensors depend on besides the example
            read = e.read.get(key)
            if read is None:
                context = GoldContext(n, self.concepts, maps[e.video_id], length=t_max)
                read = e.read[key] = (
                    tree_golds(e.tree, e.golds, context),
                    choose_options(e.tree, e.golds),
                )
            golds.append(read[0])
            options.append(read[1])

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
    ``torch.distributed`` each process takes every ``world``-th batch. ``video_ids``: each
    question's video, as ids or as integer codes (a question index's ``video`` column); the
    batches are kept as numpy arrays, a few bytes per question.
    """

    def __init__(
        self,
        video_ids: Sequence[str] | np.ndarray,
        batch_size: int,
        shuffle: bool = True,
        seed: int = 0,
        rank: int | None = None,
        world: int | None = None,
    ) -> None:
        self.batch_size, self.shuffle, self.seed, self.epoch = batch_size, shuffle, seed, 0
        codes = np.asarray(video_ids)
        if codes.dtype.kind not in "iu":  # video ids: numbered in order of appearance
            numbers: dict[str, int] = {}
            codes = np.asarray([numbers.setdefault(v, len(numbers)) for v in video_ids], np.int64)
        self.size = len(codes)
        _, first, counts = np.unique(codes, return_index=True, return_counts=True)
        #: question indices grouped by video (each group in question order), and the groups
        self.order = np.argsort(codes, kind="stable")
        self.starts, self.counts = np.cumsum(counts) - counts, counts
        #: the groups in order of the videos' first question
        self.videos = np.argsort(first, kind="stable").tolist()
        dist = torch.distributed
        active = dist.is_available() and dist.is_initialized()
        self.world = world if world is not None else (dist.get_world_size() if active else 1)
        self.rank = rank if rank is not None else (dist.get_rank() if active else 0)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _flat(self) -> np.ndarray:
        videos = list(self.videos)
        if self.shuffle:
            random.Random(self.seed * 100_003 + self.epoch).shuffle(videos)
        groups = [self.order[self.starts[v] : self.starts[v] + self.counts[v]] for v in videos]
        return np.concatenate(groups) if groups else np.zeros(0, np.int64)

    def _batches(self) -> list[list[int]]:
        flat, size = self._flat(), self.batch_size
        total = -(-len(flat) // size)
        usable = total - total % self.world if self.world > 1 else total
        return [
            flat[b * size : (b + 1) * size].tolist() for b in range(self.rank, usable, self.world)
        ]

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self._batches())

    def __len__(self) -> int:
        batches = -(-self.size // self.batch_size)
        return (batches - batches % self.world) // self.world if self.world > 1 else batches
