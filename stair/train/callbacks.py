"""Lightning callbacks: write ``stair predict``'s answers to a JSONL file."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import BasePredictionWriter

log = logging.getLogger(__name__)


class PredictionWriter(BasePredictionWriter):
    """Writes one JSON object per question (qid, answer, probability, gold) after ``predict``.

    Args:
        output: the JSONL file (default: ``predictions.jsonl`` in the trainer's log folder);
            each process of a distributed run writes its own ``.rank<k>`` file.
    """

    def __init__(self, output: str | None = None) -> None:
        super().__init__(write_interval="epoch")
        self.output = output

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
        path.parent.mkdir(parents=True, exist_ok=True)
        loaders = predictions if predictions and isinstance(predictions[0], list) else []
        if loaders and loaders[0] and isinstance(loaders[0][0], dict):
            loaders = [predictions]  # one dataloader: a list of batches
        tmp = path.with_name(f".{path.name}.tmp")
        count = 0
        with open(tmp, "w", encoding="utf-8") as handle:
            for batches in loaders:
                for batch in batches:
                    for row in batch:
                        handle.write(json.dumps(row) + "\n")
                        count += 1
        os.replace(tmp, path)
        log.info("wrote %d predictions to %s", count, path)
