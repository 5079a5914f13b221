"""Benchmark dataset folders for tests: NExT-QA's fixture rows prepared as train and val, with
random features for their videos, and a tiny untrained program generator saved as a folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import torch

from stair.data.nextqa.prepare import prepare_nextqa
from stair.data.video.store import FeatureStoreWriter
from stair.programs import load_scene_graphs

FIXTURE = Path(__file__).parent / "data" / "nextqa_val_head.csv"
TINY = {"d_model": 32, "layers": 1, "heads": 2, "d_ff": 64}


def add_features(folder: Path, video_ids: list[str], frames: int = 4, dim: int = 8) -> None:
    """Random ``[frames, dim]`` features for each video, one per second (or on the scene graph's
    own times, where the folder has one, so golds map onto frames)."""
    graphs_path = folder / "scene_graphs.json"
    graphs = load_scene_graphs(graphs_path) if graphs_path.exists() else {}
    rng = np.random.default_rng(0)
    with FeatureStoreWriter(folder / "features.h5", {"backbone": "toy", "dim": dim}) as store:
        for video in video_ids:
            graph = graphs.get(video)
            times = (np.asarray([graph.time_of(i) for i in range(graph.num_frames)])
                     if graph else np.arange(frames, dtype=np.float64))  # fmt: skip
            store.add(video, rng.standard_normal((len(times), dim)), times, 1.0)


def nextqa_folder(tmp: Path) -> Path:
    """The fixture rows as splits ``train`` and ``val``, with features."""
    for split in ("train", "val"):
        shutil.copy(FIXTURE, tmp / f"{split}.csv")
    out = tmp / "nextqa"
    prepare_nextqa(out, [tmp / "train.csv", tmp / "val.csv"])
    videos = sorted({line.split(",", 1)[0] for line in FIXTURE.read_text().splitlines()[1:]})
    add_features(out, videos)
    return out


def tiny_generator(synth: Path, out: Path) -> Path:
    """An untrained tiny generator over the synthetic folder ``synth``'s vocabulary, saved."""
    from stair.generator.data import GeneratorDataModule
    from stair.generator.model import ProgramGenerator, build_seq2seq, t5_config

    torch.manual_seed(0)
    data = GeneratorDataModule(str(synth), batch_size=8, eval_splits=["test"])
    tokenizer, inventory = data.vocabulary()
    model = build_seq2seq(tokenizer, config=t5_config(len(tokenizer), **TINY))
    ProgramGenerator(model, tokenizer, inventory, 48).save(out)
    return out
