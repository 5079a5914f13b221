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
