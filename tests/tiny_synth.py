"""A tiny synthetic benchmark shared by the training tests (built once per pytest session)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stair.data.synth.build import SynthConfig, build_synth_dataset
from stair.demo.run import DemoSettings


def tiny_root(factory: pytest.TempPathFactory) -> Path:
    """A data root holding ``synth_quick``: the dataset ``stair demo --quick`` would generate.

    Built once per session (under pytest's base temporary folder), shared by every test file.
    """
    root = factory.getbasetemp() / "stair-data"
    quick = DemoSettings.quick()
    folder = root / quick.dataset
    if not (folder / "meta.json").exists():
        config = SynthConfig(
            videos=quick.videos, questions_per_video=quick.questions_per_video,
            seed=quick.seed, workers=min(2, os.cpu_count() or 1),
        )  # fmt: skip
        build_synth_dataset(folder, config)
    return root


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Small models: one thread is as fast, and does not fight other processes for the cores."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_trained(
    root: Path, *, videos: int = 24, questions: int = 6, seed: int = 5, steps: int = 4
):
    """A small synthetic dataset under ``root/synth`` and a module network trained on it for
    ``steps`` steps (hidden 32), saved as ``root/tiny.ckpt``: ``(data, ckpt, lit)``."""
    import lightning as L

    from stair.data.datamodule import QADataModule
    from stair.engine.network import Network
    from stair.train.system import LitSTAIR

    data = root / "synth"
    build_synth_dataset(data, SynthConfig(videos=videos, questions_per_video=questions,
                                          seed=seed, workers=1))  # fmt: skip
    dm = QADataModule(str(data), batch_size=32)
    L.seed_everything(0)
    lit = LitSTAIR(dm.vocabularies, network=Network(hidden=32, word_dim=32))
    trainer = L.Trainer(max_steps=steps, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)  # fmt: skip
    trainer.fit(lit, dm)
    ckpt = root / "tiny.ckpt"
    trainer.save_checkpoint(ckpt)
    return data, ckpt, lit
