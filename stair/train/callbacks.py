"""Lightning callbacks: write ``stair predict``'s answers to a JSONL file (and, for STAR, the
evaluation server's JSON); progress bars without the logger's version number."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import BasePredictionWriter, RichProgressBar, TQDMProgressBar
from lightning.pytorch.callbacks.progress.progress_bar import ProgressBar

from stair.data.star.submission import star_submission
from stair.files import write_json, write_lines

log = logging.getLogger(__name__)


class PredictionWriter(BasePredictionWriter):
    """Writes one JSON object per question (qid, answer, probability, gold) after ``predict``.

    Args:
        output: the JSONL file (default: ``predictions.jsonl`` in the trainer's log folder);
            each process of a distributed run writes its own ``.rank<k>`` file.
        star_submission: also write the predictions as STAR's evaluation-server JSON to this
            file (:func:`~stair.data.star.submission.star_submission`; ``.rank<k>`` likewise).
    """

    def __init__(self, output: str | None = None, star_submission: str | None = None) -> None:
        super().__init__(write_interval="epoch")
        self.output, self.star_submission = output, star_submission

    def write_on_epoch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        predictions: Sequence[Any],
        batch_indices: Sequence[Any] | None,
    ) -> None:
        root = trainer.log_dir or trainer.default_root_dir
        path = Path(self.output or os.path.join(root, "predictions.jsonl"))
        if trainer.world_size > 1:
            path = path.with_name(f"{path.name}.rank{trainer.global_rank}")
        loaders = predictions if predictions and isinstance(predictions[0], list) else []
        if loaders and loaders[0] and isinstance(loaders[0][0], dict):
            loaders = [predictions]  # one dataloader: a list of batches
        rows = [row for batches in loaders for batch in batches for row in batch]
        count = write_lines(path, (json.dumps(row) for row in rows))
        log.info("wrote %d predictions to %s", count, path)
        if self.star_submission:
            server = Path(self.star_submission)
            if trainer.world_size > 1:
                server = server.with_name(f"{server.name}.rank{trainer.global_rank}")
            write_json(server, star_submission(rows), indent=None)
            log.info("wrote STAR's evaluation-server file %s", server)


class _WithoutVersion:
    """A progress bar that does not show the logger's version (``v_num``), which is not a
    metric."""

    def get_metrics(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
        items = super().get_metrics(trainer, pl_module)
        items.pop("v_num", None)
        return items


class QuietTQDMProgressBar(_WithoutVersion, TQDMProgressBar):
    """Lightning's tqdm progress bar without ``v_num``."""


class QuietRichProgressBar(_WithoutVersion, RichProgressBar):
    """Lightning's rich progress bar without ``v_num``."""


_QUIET = {TQDMProgressBar: QuietTQDMProgressBar, RichProgressBar: QuietRichProgressBar}


def hide_version(trainer: L.Trainer) -> None:
    """Make the trainer's progress bar, if it is one of Lightning's two (with their settings),
    leave out ``v_num``."""
    bar = trainer.progress_bar_callback
    quiet = _QUIET.get(type(bar))
    if isinstance(bar, ProgressBar) and quiet is not None:
        bar.__class__ = quiet  # the same settings and state; only get_metrics differs
