"""Build a synthetic dataset folder: worlds, questions, splits, renderings (format: dataset.py).

One seed fixes everything. Per video ``i`` the world is drawn from
``numpy.random.default_rng([seed, 1, i])``, its questions from ``random.Random(f"{seed}/q/{i}")``
and its feature noise from ``default_rng([seed, 4, i])``; the video split comes from
``default_rng([seed, 0])`` and the entity embeddings from ``default_rng([seed, 3])``.

Videos are generated in fixed shards of :data:`SHARD_VIDEOS` consecutive videos, each with its own
question generator (one answer balancer per split), and the shards' outputs are concatenated in
order. The shards run in ``workers`` processes, but their boundaries do not depend on the number
of workers: the same seed and sizes give byte-identical question files with 1 worker or 8.

Memory does not grow with the number of videos: a worker hands back its shard ready to write
(question lines encoded as :class:`~stair.data.dataset.QuestionWriter` writes them, the scene
graphs' JSON, the features), at most :data:`AHEAD` shards per worker are under way or waiting,
and every file is written as the shards arrive (``scene_graphs.json`` too, entry by entry, with
the bytes of ``stair.programs.save_scene_graphs``). The workers import no torch.

Writing into a folder that already holds a dataset replaces the files listed in
:mod:`stair.data.dataset` one by one (each atomically); ``meta.json`` is written last, so a
folder with a ``meta.json`` is complete.
"""

from __future__ import annotations

import functools
import gc
import json
import logging
import multiprocessing
import os
import random
import shutil
import time
import uuid
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from stair.data.dataset import FORMAT, QuestionRecord
from stair.data.synth.choices import ChoiceMaker
from stair.data.synth.questions import QuestionGenerator
from stair.data.synth.render import (
    EntityEmbeddings,
    SymbolicRenderConfig,
    render_features,
    timestamps,
)
from stair.data.synth.splits import SPLITS, SplitConfig, assign_videos, held_out_strings
from stair.data.synth.video import Stage, VideoRenderConfig, render_video
from stair.data.synth.vocab import DEFAULT_VOCAB, WorldVocabulary
from stair.data.synth.world import WorldConfig, generate_world
from stair.files import AtomicFile, write_json

log = logging.getLogger(__name__)

RENDERERS = ("symbolic", "video")
SHARD_VIDEOS = 100  #: videos per shard (a unit of work with its own answer balancers)
AHEAD = 2  #: shards per worker under way or waiting to be written, at most


@dataclass(frozen=True)
class SynthConfig:
    """Everything that determines a synthetic dataset."""

    #: number of videos; the default spreads about 20k questions over 4,000 worlds (5 a
    #: video), not 1,000 (20 a video): the module network's gap was new videos (README, "More
    #: videos, fewer questions each")
    videos: int = 4000
    questions_per_video: int = 5  #: K: questions per video (test videos get extra ones)
    seed: int = 0  #: the one seed of the whole dataset
    render: tuple[str, ...] = ("symbolic",)  #: renderers to run: symbolic, video
    indirect_prob: float = 0.15  #: how often a slot gets an indirect reference
    workers: int = 2  #: processes generating shards (1: in this process)
    #: options per multiple-choice question (0: open answers, the default benchmark)
    choices: int = 0
    world: WorldConfig = field(default_factory=WorldConfig)
    splits: SplitConfig = field(default_factory=SplitConfig)
    symbolic: SymbolicRenderConfig = field(default_factory=SymbolicRenderConfig)
    video: VideoRenderConfig = field(default_factory=VideoRenderConfig)

    def __post_init__(self) -> None:
        if self.videos < 1 or self.questions_per_video < 1:
            raise ValueError("need at least one video and one question per video")
        if self.choices < 0 or self.choices == 1:
            raise ValueError(f"choices must be 0 (open answers) or at least 2, not {self.choices}")
        unknown = set(self.render) - set(RENDERERS)
        if unknown:
            raise ValueError(f"unknown renderer(s) {sorted(unknown)}; known: {RENDERERS}")


@dataclass(frozen=True)
class BuildReport:
    """What a build wrote and how long it took."""

    out: Path
    sizes: dict[str, int]  #: questions per split
    seconds: float
    bytes: int  #: size on disk of the folder

    @property
    def questions(self) -> int:
        return sum(self.sizes.values())


def answer_vocabulary(vocab: WorldVocabulary, world: WorldConfig) -> list[str]:
    """Every answer a question can have: yes/no, before/after, counts, objects, relations,
    actions."""
    counts = [str(i) for i in range(world.max_actions + 1)]
    actions = [a.phrase for a in vocab.actions]
    return ["yes", "no", "before", "after", *counts, *vocab.objects, *vocab.relations, *actions]


def _modes(split: str, k: int, cfg: SplitConfig) -> list[tuple[str, str, int]]:
    modes = [("iid", split, k)]
    if split == "test":
        modes.append(("novel", "test_novel", round(k * cfg.novel_per_video)))
        modes.append(("more_steps", "test_more_steps", round(k * cfg.more_steps_per_video)))
    return modes


def _folder_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def _discard_store(store_tmp: Path) -> None:
    """Remove what an unfinished feature store left behind (nothing after a success)."""
    store_tmp.unlink(missing_ok=True)
    store_tmp.with_name(store_tmp.stem + ".skipped.jsonl").unlink(missing_ok=True)
    shutil.rmtree(f"{store_tmp}.parts", ignore_errors=True)


def encode_question(record: QuestionRecord) -> str:
    """The line of ``record`` in a question file, exactly as :class:`QuestionWriter` writes it."""
    return json.dumps(record.to_json(), separators=(",", ":")) + "\n"


@dataclass
class _Shard:
    """What one shard made, ready to write: question lines per split, each scene graph's
    ``"id": {...}`` entry of ``scene_graphs.json``, and the symbolic features of each video."""

    lines: dict[str, list[str]]
    graphs: list[str]
    features: list[tuple[str, np.ndarray, np.ndarray, float]]  # id, [T, D], times, fps


def _gc_paused(make: Callable[..., _Shard]) -> Callable[..., _Shard]:
    """``make`` with the cyclic garbage collector paused meanwhile and run once at the end:
    generation makes few reference cycles but many long-lived objects (the compile caches),
    which it would otherwise scan over and over (about a third of the time)."""

    @functools.wraps(make)
    def run(*args: Any) -> _Shard:
        paused = gc.isenabled()
        gc.disable()
        try:
            return make(*args)
        finally:
            if paused:
                gc.enable()
            gc.collect(1)  # this shard's objects: everything younger than the last collection

    return run


@_gc_paused
def _run_shard(
    config: SynthConfig,
    vocab: WorldVocabulary,
    out: Path,
    first: int,
    ids: list[str],
    splits: list[str],
) -> _Shard:
    """Generate videos ``first, first + 1, ...`` (ids ``ids``, splits ``splits``)."""
    seed, k = config.seed, config.questions_per_video
    generator = QuestionGenerator(
        vocab, max_train_steps=config.splits.max_train_steps, indirect_prob=config.indirect_prob
    )
    choose = None
    if config.choices:
        choose = ChoiceMaker(vocab, config.choices, config.world.max_actions, seed)
    embeddings = None
    if "symbolic" in config.render:
        embeddings = EntityEmbeddings(vocab, config.symbolic.dim, np.random.default_rng([seed, 3]))
    stage = Stage(vocab, config.video.size) if "video" in config.render else None
    shard = _Shard({s: [] for s in SPLITS}, [], [])
    for i, (video_id, split) in enumerate(zip(ids, splits), start=first):
        graph = generate_world(video_id, np.random.default_rng([seed, 1, i]), vocab, config.world)
        shard.graphs.append(f"{json.dumps(video_id)}: {json.dumps(graph.to_json())}")
        modes = _modes(split, k, config.splits)
        for record in generator.generate(graph, modes, random.Random(f"{seed}/q/{i}")):
            line = encode_question(record if choose is None else choose(record))
            shard.lines[record.metadata.split].append(line)
        if embeddings is not None:
            rng = np.random.default_rng([seed, 4, i])
            features = render_features(graph, embeddings, config.symbolic, rng)
            shard.features.append((video_id, features, timestamps(graph), graph.fps))
        if stage is not None:
            render_video(graph, stage, out / "videos" / f"{video_id}.mp4", config.video)
    return shard


def _shards(config: SynthConfig, vocab: WorldVocabulary, out: Path, split_of: dict[str, str]):
    """The shards' outputs, in order, computed in ``config.workers`` processes.

    At most :data:`AHEAD` shards per worker are under way or waiting to be written, so memory
    does not grow with the number of videos even when writing falls behind.
    """
    ids = list(split_of)
    jobs = [
        (config, vocab, out, start, ids[start : start + SHARD_VIDEOS],
         [split_of[v] for v in ids[start : start + SHARD_VIDEOS]])
        for start in range(0, len(ids), SHARD_VIDEOS)
    ]  # fmt: skip
    workers = max(1, min(config.workers, len(jobs)))
    if workers == 1:
        yield from (_run_shard(*job) for job in jobs)
        return
    context = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        pending: deque[Future[_Shard]] = deque()
        for job in jobs:
            pending.append(pool.submit(_run_shard, *job))
            if len(pending) >= AHEAD * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


class _SceneGraphFile:
    """``scene_graphs.json`` written entry by entry: the bytes of
    ``stair.programs.save_scene_graphs`` without holding every graph (atomic, as it is)."""

    def __init__(self, path: Path) -> None:
        self.file = AtomicFile(path)
        self.file.write("{")
        self.first = True

    def add(self, entries: list[str]) -> None:
        if entries:
            self.file.write(("" if self.first else ", ") + ", ".join(entries))
            self.first = False

    def commit(self) -> None:
        self.file.write("}\n")
        self.file.commit()

    def abort(self) -> None:
        self.file.abort()


def build_synth_dataset(
    out: str | os.PathLike, config: SynthConfig, *, vocab: WorldVocabulary = DEFAULT_VOCAB,
    progress: bool = False,
) -> BuildReport:  # fmt: skip
    """Generate the dataset described by ``config`` into the folder ``out``."""
    start = time.perf_counter()
    out = Path(out)
    (out / "questions").mkdir(parents=True, exist_ok=True)
    seed = config.seed
    ids = [f"v{i:05d}" for i in range(config.videos)]
    split_of = assign_videos(ids, np.random.default_rng([seed, 0]), config.splits)
    symbolic = "symbolic" in config.render
    writer, store_tmp = None, out / f".features.{uuid.uuid4().hex[:8]}.h5"
    if symbolic:
        from stair.data.video.store import FeatureStoreWriter

        meta = {"backbone": "symbolic", "dim": config.symbolic.dim, "seed": seed}
        writer = FeatureStoreWriter(store_tmp, meta, commit_every=1 << 30, commit_seconds=1e9)

    bar = tqdm(total=config.videos, desc="synth", unit="video", disable=not progress)
    sizes = dict.fromkeys(SPLITS, 0)
    with ExitStack() as stack:
        files = {s: stack.enter_context(AtomicFile(out / "questions" / f"{s}.jsonl"))
                 for s in SPLITS}  # fmt: skip
        graphs = _SceneGraphFile(out / "scene_graphs.json")
        stack.callback(graphs.abort)  # after a commit: nothing to do
        stack.callback(bar.close)
        stack.callback(_discard_store, store_tmp)
        for shard in _shards(config, vocab, out, split_of):
            for split, lines in shard.lines.items():
                files[split].write("".join(lines))
                sizes[split] += len(lines)
            graphs.add(shard.graphs)
            if writer is not None:
                for video_id, features, times, fps in shard.features:
                    writer.add(video_id, features, times, fps)
            bar.update(len(shard.graphs))
        if writer is not None:
            writer.close()
            os.replace(store_tmp, out / "features.h5")
        graphs.commit()
    vocab_json = {**vocab.to_json(), "answers": answer_vocabulary(vocab, config.world)}
    write_json(out / "vocab.json", vocab_json)
    video_splits = {
        s: sum(1 for v in split_of.values() if v == s) for s in ("train", "val", "test")
    }
    # the default (open) benchmark's meta.json is as it was before multiple choice existed
    settings = {k: v for k, v in asdict(config).items()
                if k != "workers" and (k != "choices" or v)}  # fmt: skip
    meta = {
        "format": FORMAT, "seed": seed, "videos": config.videos,
        "questions_per_video": config.questions_per_video, "sizes": sizes,
        "video_splits": video_splits, "fps": config.world.fps, "frames": config.world.frames,
        "dim": config.symbolic.dim if symbolic else None, "render": list(config.render),
        "max_train_steps": config.splits.max_train_steps, "held_out": held_out_strings(),
        "steps": "modules in the compiled module tree", "config": settings,
    }  # fmt: skip
    if config.choices:
        meta.update(answers="multiple_choice", choices=config.choices)
    write_json(out / "meta.json", meta)
    seconds = time.perf_counter() - start
    report = BuildReport(out, sizes, seconds, _folder_bytes(out))
    log.info("wrote %d questions about %d videos to %s in %.1f s", report.questions,
             config.videos, out, seconds)  # fmt: skip
    return report
