"""The end-to-end demo: synthetic benchmark -> module network and baseline -> results -> audit.

:func:`run_demo` generates the synthetic benchmark if it is missing, trains the STAIR module
network (gold programs, intermediate supervision) and the black-box baseline on the CPU,
evaluates both on every test split and walks through a few test answers step by step
(:func:`walkthrough`). It returns a :class:`DemoReport`; :mod:`stair.demo.summary` renders it.

The two models train at the same time, the baseline in a second process, each on one thread:
their many small operations gain little from a second thread, and two single-threaded
processes keep both cores busy without fighting over them (which matters on a shared machine).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import torch

from stair.audit.walkthrough import walkthrough
from stair.data.datamodule import QADataModule
from stair.data.synth.build import SynthConfig, build_synth_dataset
from stair.engine.network import Network
from stair.train.cli import quiet_lightning
from stair.train.system import LitSTAIR

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoSettings:
    """How big a demo to run; :meth:`quick` is the smoke-test size."""

    dataset: str = "synth"  #: folder name under the data root
    videos: int = 1000  #: videos of the synthetic benchmark, if it must be generated
    questions_per_video: int = 20
    hidden: int = 256
    word_dim: int = 128
    batch_size: int = 128
    epochs: int = 10  #: module network
    lr: float = 3e-3
    dropout: float = 0.0
    intermediate_weight: float = 1.0
    baseline_epochs: int = 8
    baseline_lr: float = 2e-3
    baseline_dropout: float = 0.1
    walkthroughs: int = 3
    seed: int = 0
    threads: int = 1  #: torch threads of each training process
    parallel: bool = True  #: train the baseline in a second process, alongside the NMN

    @classmethod
    def quick(cls) -> DemoSettings:
        return cls(
            dataset="synth_quick", videos=40, questions_per_video=6, hidden=32, word_dim=16,
            epochs=1, baseline_epochs=1, batch_size=32, parallel=False,
        )  # fmt: skip


@dataclass
class DemoReport:
    """Everything the demo measured, for printing."""

    data_dir: str
    settings: DemoSettings
    #: model name -> split -> metric name -> value (see :mod:`stair.engine.metrics` for the names)
    results: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    sizes: dict[str, dict[str, int]] = field(default_factory=dict)  #: split -> questions
    walkthroughs: list[dict[str, Any]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)  #: stage -> wall seconds (in turn)
    baseline_seconds: float = 0.0  #: the baseline's own training and testing time
    load: dict[str, float] = field(default_factory=dict)  #: 1-minute load average per stage


def ensure_dataset(root: Path, settings: DemoSettings, progress: bool) -> Path:
    """The synthetic benchmark under ``root`` (generated first if it is missing)."""
    folder = root / settings.dataset
    if not (folder / "meta.json").exists():
        log.info("generating the synthetic benchmark into %s", folder)
        config = SynthConfig(
            videos=settings.videos,
            questions_per_video=settings.questions_per_video,
            seed=settings.seed,
            workers=min(2, os.cpu_count() or 1),
        )
        build_synth_dataset(folder, config, progress=progress)
    return folder


def train_and_test(
    dm: QADataModule, architecture: str, settings: DemoSettings, progress: bool
) -> LitSTAIR:
    """Fit one model on ``train`` (validated at the end) and test it on every test split."""
    torch.set_num_threads(settings.threads)
    L.seed_everything(settings.seed, verbose=False)
    baseline = architecture == "baseline"
    network = Network(
        hidden=settings.hidden,
        word_dim=settings.word_dim,
        dropout=settings.baseline_dropout if baseline else settings.dropout,
    )
    model = LitSTAIR(
        dm.vocabularies,
        architecture=architecture,
        network=network,
        lr=settings.baseline_lr if baseline else settings.lr,
        intermediate_weight=settings.intermediate_weight,
    )
    epochs = settings.baseline_epochs if baseline else settings.epochs
    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=epochs,
        check_val_every_n_epoch=epochs,
        num_sanity_val_steps=0,
        gradient_clip_val=1.0,
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=progress,
    )
    trainer.fit(model, datamodule=dm)
    trainer.test(model, datamodule=dm, verbose=False)
    return model


def _baseline_job(data_dir: str, settings: DemoSettings) -> tuple[dict, float]:
    """Train and test the baseline (in a worker process): its results and wall seconds."""
    start = time.perf_counter()
    dm = QADataModule(data_dir, batch_size=settings.batch_size, seed=settings.seed)
    model = train_and_test(dm, "baseline", settings, progress=False)
    return {**model.results["test"], **model.results["val"]}, time.perf_counter() - start


def run_demo(
    data_root: str | os.PathLike = "datasets",
    settings: DemoSettings | None = None,
    progress: bool = True,
) -> DemoReport:
    """Generate (if needed), train both models, evaluate every split, walk through answers."""
    settings = settings or DemoSettings()
    report = DemoReport("", settings)
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        report.seconds[stage] = round(now - clock, 1)
        report.load[stage] = round(os.getloadavg()[0], 2)
        clock = now

    folder = ensure_dataset(Path(data_root), settings, progress)
    report.data_dir = str(folder)
    dm = QADataModule(str(folder), batch_size=settings.batch_size, seed=settings.seed)
    dm.setup()
    report.sizes = {split: len(ds) for split, ds in dm.datasets.items()}
    lap("data")
    threads = torch.get_num_threads()
    try:
        if settings.parallel:
            context = multiprocessing.get_context("spawn")
            # the worker is as quiet as this process (the same Lightning log level and filters)
            level = logging.getLogger("lightning").getEffectiveLevel()
            with ProcessPoolExecutor(
                1, mp_context=context, initializer=quiet_lightning, initargs=(level,)
            ) as pool:
                log.info("training the black-box baseline in a second process")
                baseline = pool.submit(_baseline_job, str(folder), settings)
                log.info("training the module network")
                nmn = train_and_test(dm, "stair", settings, progress)
                lap("NMN")
                report.results["baseline"], seconds = baseline.result()
            lap("rest of baseline")
        else:
            log.info("training the module network")
            nmn = train_and_test(dm, "stair", settings, progress)
            lap("NMN")
            log.info("training the black-box baseline")
            report.results["baseline"], seconds = _baseline_job(str(folder), settings)
            lap("baseline")
        report.baseline_seconds = round(seconds, 1)
        report.results = {"NMN": {**nmn.results["test"], **nmn.results["val"]}, **report.results}
        report.walkthroughs = walkthrough(nmn, dm, settings.walkthroughs)
        lap("walkthrough")
    finally:
        torch.set_num_threads(threads)
    return report
