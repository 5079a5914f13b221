"""The end-to-end demo: synthetic benchmark -> the whole pipeline -> results -> explanations.

:func:`run_demo` generates the synthetic benchmark if it is missing, trains the STAIR module
network (gold programs, intermediate supervision), the black-box baseline and the program
generator on the CPU, saves their checkpoints under ``<data root>/models/<dataset>/``
(:func:`model_paths`), evaluates both answering models on every test split and walks through a
few test answers step by step, on the programs the generator wrote for them (:func:`walkthrough`).
It returns a :class:`DemoReport` holding the ``stair ask`` / ``stair audit`` commands that use
what it left; :mod:`stair.demo.summary` renders it.

The module network trains alongside the other two, which train one after the other in a second
process, each process on one thread: their many small operations gain little from a second
thread, and two single-threaded processes keep both cores busy without fighting over them
(which matters on a shared machine). When the module network is done, the second process takes
the free core too (:class:`TakeFreeThreads`): the generator's larger matrix products do gain
from it. The generator trains from its config
(``configs/generator_synth.yaml``), as ``stair generator fit --config`` would.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shlex
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import torch

from stair.api import GeneratedPrograms
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
    videos: int = 4000  #: videos of the synthetic benchmark, if it must be generated
    questions_per_video: int = 5
    hidden: int = 256
    word_dim: int = 128
    batch_size: int = 128
    epochs: int = 14  #: module network
    lr: float = 2e-3
    dropout: float = 0.0
    intermediate_weight: float = 1.0
    baseline_epochs: int = 4
    baseline_lr: float = 2e-3
    baseline_dropout: float = 0.1
    #: the program generator's config (a ``stair generator fit`` YAML; relative paths are
    #: looked up in the working folder, then in the source tree)
    generator_config: str = "configs/generator_synth.yaml"
    #: None: the config's (7); the demo trains it for 5 (README, "The demo": its time budget)
    generator_epochs: int | None = 5
    walkthroughs: int = 3
    seed: int = 0
    threads: int = 1  #: torch threads of each training process
    parallel: bool = True  #: train the baseline in a second process, alongside the NMN

    @classmethod
    def quick(cls) -> DemoSettings:
        return cls(
            dataset="synth_quick", videos=40, questions_per_video=6, hidden=32, word_dim=16,
            epochs=1, baseline_epochs=1, generator_epochs=4, batch_size=32, parallel=False,
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
    generator_seconds: float = 0.0  #: the program generator's training time
    #: the generator's validation metrics (``val/seq_acc``: share of exactly right programs)
    generator: dict[str, float] = field(default_factory=dict)
    load: dict[str, float] = field(default_factory=dict)  #: 1-minute load average per stage
    checkpoints: dict[str, str] = field(default_factory=dict)  #: model -> checkpoint file
    commands: list[str] = field(default_factory=list)  #: what to run next (ask, audit)


def model_paths(root: Path, dataset: str) -> dict[str, Path]:
    """Where the demo saves its checkpoints: ``<root>/models/<dataset>/<model>.ckpt``."""
    folder = root / "models" / dataset
    return {name: folder / f"{name}.ckpt" for name in ("nmn", "baseline", "generator")}


def quiet(level: int = logging.WARNING) -> None:
    """Lightning at ``level`` (:func:`~stair.train.cli.quiet_lightning`), and the demo's own
    training logs too: its tables are printed once, by :mod:`stair.demo.summary`."""
    quiet_lightning(level)
    for name in ("stair.train", "stair.generator"):
        logging.getLogger(name).setLevel(level)
    logging.getLogger("matplotlib").setLevel(max(level, logging.WARNING))


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
    dm: QADataModule,
    architecture: str,
    settings: DemoSettings,
    progress: bool,
    checkpoint: Path,
    callbacks: list[L.Callback] | None = None,
) -> LitSTAIR:
    """Fit one model on ``train`` (validated at the end), save it to ``checkpoint`` and test it
    on every test split."""
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
        callbacks=callbacks,
    )
    trainer.fit(model, datamodule=dm)
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    trainer.save_checkpoint(checkpoint)
    trainer.test(model, datamodule=dm, verbose=False)
    return model


def _config_path(name: str) -> Path:
    path = Path(name)
    if path.is_absolute() or path.exists():
        return path
    return Path(__file__).resolve().parents[2] / path


def train_generator(
    data_dir: str,
    settings: DemoSettings,
    checkpoint: Path,
    progress: bool,
    callbacks: list[L.Callback] | None = None,
) -> dict[str, float]:
    """Fit the program generator as its config says (epochs from the settings if given), save
    it to ``checkpoint``; its last validation metrics."""
    import yaml

    from stair.generator.data import GeneratorDataModule
    from stair.generator.system import GeneratorLit

    config = yaml.safe_load(_config_path(settings.generator_config).read_text(encoding="utf-8"))
    L.seed_everything(config.get("seed_everything", settings.seed), verbose=False)
    options = {
        k: v for k, v in config.get("trainer", {}).items() if k not in ("logger", "callbacks")
    }
    if settings.generator_epochs is not None:
        options["max_epochs"] = settings.generator_epochs
    # the demo reports the last validation only (the NMN's trainer does the same)
    options["check_val_every_n_epoch"] = options.get("max_epochs", 1)
    options.update(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                   enable_model_summary=False, enable_progress_bar=progress)  # fmt: skip
    data = GeneratorDataModule(**{**config.get("data", {}), "data_dir": data_dir})
    model = GeneratorLit(**config.get("model", {}))
    trainer = L.Trainer(**options, callbacks=callbacks)
    trainer.fit(model, datamodule=data)
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    trainer.save_checkpoint(checkpoint)
    return {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}


class TakeFreeThreads(L.Callback):
    """Raise this process's torch threads to ``threads`` once ``freed`` is set (checked before
    each training batch): the other training process has finished and left its core free."""

    def __init__(self, freed: Any, threads: int) -> None:
        self.freed, self.threads = freed, threads

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self.freed is None or torch.get_num_threads() >= self.threads:
            return
        if self.freed.is_set():
            torch.set_num_threads(self.threads)


#: set in the second process by :func:`_start_worker`: the "module network done" event
_FREED: Any = None


def _start_worker(level: int, freed: Any) -> None:
    global _FREED
    quiet(level)
    _FREED = freed


def _second_job(data_dir: str, settings: DemoSettings, paths: dict[str, Path]) -> dict:
    """Train and test the baseline, then train the program generator (in a worker process):
    the baseline's results, the generator's validation metrics and their wall seconds."""
    start = time.perf_counter()
    dm = QADataModule(data_dir, batch_size=settings.batch_size, seed=settings.seed)
    more = [TakeFreeThreads(_FREED, 2 * settings.threads)]
    model = train_and_test(dm, "baseline", settings, False, paths["baseline"], more)
    middle = time.perf_counter()
    generator = train_generator(data_dir, settings, paths["generator"], False, more)
    return {
        "results": {**model.results["test"], **model.results["val"]},
        "generator": generator,
        "seconds": (middle - start, time.perf_counter() - middle),
    }


def next_commands(report: DemoReport, root: Path) -> list[str]:
    """The ``stair ask`` and ``stair audit`` commands that use what the demo left, on the video
    and question of its first walk-through."""
    paths = {k: shlex.quote(v) for k, v in report.checkpoints.items()}
    data = shlex.quote(report.data_dir)
    first = report.walkthroughs[0]
    name = Path(report.data_dir).name
    html = shlex.quote(str(root / "dumps" / f"ask-{first['video_id']}.html"))
    return [
        f"stair ask --ckpt {paths['nmn']} --generator {paths['generator']} --data {data} "
        f"--video {shlex.quote(first['video_id'])} --question {shlex.quote(first['question'])} "
        f"--html {html}",
        f"stair audit --ckpt {paths['nmn']} --data {data} --split test "
        f"--out {shlex.quote(str(root / 'dumps' / name))} --html",
    ]


def run_demo(
    data_root: str | os.PathLike = "datasets",
    settings: DemoSettings | None = None,
    progress: bool = True,
) -> DemoReport:
    """Generate (if needed), train the three models, evaluate every split, walk through answers
    on generated programs (see the module docstring)."""
    settings = settings or DemoSettings()
    report = DemoReport("", settings)
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        report.seconds[stage] = round(now - clock, 1)
        report.load[stage] = round(os.getloadavg()[0], 2)
        clock = now

    root = Path(data_root)
    folder = ensure_dataset(root, settings, progress)
    report.data_dir = str(folder)
    paths = model_paths(root, settings.dataset)
    report.checkpoints = {k: str(v) for k, v in paths.items()}
    dm = QADataModule(str(folder), batch_size=settings.batch_size, seed=settings.seed)
    dm.setup()
    report.sizes = {split: len(ds) for split, ds in dm.datasets.items()}
    lap("data")
    threads = torch.get_num_threads()
    try:
        if settings.parallel:
            context = multiprocessing.get_context("spawn")
            # the worker is as quiet as this process (the same log levels and filters)
            level = logging.getLogger("lightning").getEffectiveLevel()
            freed = context.Event()  # set when the module network leaves its core free
            with ProcessPoolExecutor(
                1, mp_context=context, initializer=_start_worker, initargs=(level, freed)
            ) as pool:
                log.info("training the black-box baseline, then the program generator, in a "
                         "second process")  # fmt: skip
                second = pool.submit(_second_job, str(folder), settings, paths)
                log.info("training the module network")
                nmn = train_and_test(dm, "stair", settings, progress, paths["nmn"])
                freed.set()
                lap("NMN")
                done = second.result()
            lap("rest of baseline and generator")
        else:
            log.info("training the module network")
            nmn = train_and_test(dm, "stair", settings, progress, paths["nmn"])
            lap("NMN")
            log.info("training the black-box baseline, then the program generator")
            done = _second_job(str(folder), settings, paths)
            lap("baseline and generator")
        report.baseline_seconds, report.generator_seconds = (round(t, 1) for t in done["seconds"])
        report.generator = done["generator"]
        report.results = {"NMN": {**nmn.results["test"], **nmn.results["val"]},
                          "baseline": done["results"]}  # fmt: skip
        programs = GeneratedPrograms(paths["generator"])
        report.walkthroughs = walkthrough(nmn, dm, settings.walkthroughs, programs=programs)
        lap("walkthrough")
    finally:
        torch.set_num_threads(threads)
    report.commands = next_commands(report, root)
    return report
