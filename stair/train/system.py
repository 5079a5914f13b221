"""The LightningModule: losses, metrics, optimiser and logging around a pure model.

The only place that knows Lightning. :class:`LitSTAIR` wraps :class:`~stair.engine.model.STAIRModel`
(``architecture="stair"``) or :class:`~stair.engine.baseline.BlackBoxBaseline` (``"baseline"``):

- loss = answer cross-entropy (over the answers valid for each root's type, or over each
  question's candidates, padding masked: :mod:`stair.engine.options`) + ``lambda`` x the
  per-question sum of intermediate losses (each step's value type's ``.loss`` against its gold,
  computed per group of the trace; ``intermediate_weight=0`` is the no-supervision ablation);
- metrics (:mod:`stair.engine.metrics`) per evaluated split: answer accuracy overall and per family,
  template, semantic, structural, steps and split, the fallback share and accuracy (a folder
  without annotations), and every module's intermediate quality. They are logged as
  ``<stage>/<split>/<name>`` (and ``val/acc`` for checkpoint monitoring) and kept in
  :attr:`LitSTAIR.results` for programs (the demo) to print; a benchmark's data module
  (``benchmark``: nextqa, star, msrvtt) also gets them printed in that benchmark's terms.

Checkpoints hold the hyper-parameters with the vocabularies as plain lists and the network's
hyper-parameters as a plain dict, so ``LitSTAIR.load_from_checkpoint(path)`` needs no other
file.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any, Literal

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor

from stair.checkpoints import load_lightning
from stair.engine.baseline import BlackBoxBaseline
from stair.engine.batch import QABatch
from stair.engine.losses import grounding_loss, intermediate_losses
from stair.engine.metrics import (
    Tally,
    add_answers,
    add_intermediate,
    benchmark_table,
    concept_categories,
    gold_vs_generated,
    results_table,
)
from stair.engine.model import ModelOutput, STAIRModel
from stair.engine.network import DEFAULT_NETWORK, Network
from stair.errors import CheckpointError

Architecture = Literal["stair", "baseline"]
log = logging.getLogger(__name__)


def plain_vocabularies(vocabularies: Any) -> dict[str, Any]:
    """The vocabularies as a plain dict (from the data module's dataclass or a mapping)."""
    if vocabularies is None:
        raise ValueError(
            "LitSTAIR needs the vocabularies (the CLI links them from the data module; "
            "in Python pass QADataModule(...).vocabularies)"
        )
    if hasattr(vocabularies, "to_dict"):
        vocabularies = vocabularies.to_dict()
    if not isinstance(vocabularies, Mapping):
        raise TypeError(f"vocabularies must be a mapping, got {type(vocabularies).__name__}")
    return {k: list(v) if isinstance(v, (list, tuple)) else v for k, v in vocabularies.items()}


class LitSTAIR(L.LightningModule):
    """Trains and evaluates the STAIR module network (or the black-box baseline).

    Args:
        vocabularies: words, concepts, categories, answers, max_count, feature_dim (linked from
            the data module by the CLI; stored in checkpoints as plain lists).
        architecture: ``stair`` (the module network) or ``baseline`` (black box, no program).
        network: the network's hyper-parameters (hidden size, encoders, word size, dropout).
        baseline_hops: attention hops of the black-box baseline.
        intermediate_weight: lambda, the weight of the intermediate losses (0: answers only).
        grounding_weight: weight of the phrase grounding loss (each phrase naming a concept
            against the concept bank; needs no gold); 0 disables it.
        lr: peak learning rate of AdamW.
        weight_decay: AdamW weight decay (matrices only; not biases, norms, embeddings).
        warmup: share of the training steps with a linear learning-rate warm-up.
        schedule: ``cosine`` decay to 0 after the warm-up, or ``constant``.
    """

    def __init__(
        self,
        vocabularies: dict[str, Any] | None = None,
        architecture: Architecture = "stair",
        network: Network = DEFAULT_NETWORK,
        baseline_hops: int = 2,
        intermediate_weight: float = 1.0,
        grounding_weight: float = 0.5,
        lr: float = 1e-3,
        weight_decay: float = 0.01,
        warmup: float = 0.05,
        schedule: Literal["cosine", "constant"] = "cosine",
    ) -> None:
        super().__init__()
        vocab = plain_vocabularies(vocabularies)
        if isinstance(network, Mapping):  # a checkpoint's plain dict
            network = Network(**network)
        self.save_hyperparameters(ignore=["vocabularies", "network"])
        self.hparams["vocabularies"] = vocab
        self.hparams["network"] = asdict(network)
        if architecture == "stair":
            self.model: STAIRModel | BlackBoxBaseline = STAIRModel(vocab, network)
            self.register_buffer("categories", concept_categories(self.model.bank), False)
        elif architecture == "baseline":
            self.model = BlackBoxBaseline(vocab, network, hops=baseline_hops)
        else:
            raise ValueError(f"unknown architecture {architecture!r} (stair or baseline)")
        self.answer_vocabulary = self.model.answer_vocabulary
        #: stage -> split -> metric name -> value, filled at the end of each evaluation
        self.results: dict[str, dict[str, dict[str, float]]] = {}
        #: stage -> split -> metric name -> number of items it averages
        self.sizes: dict[str, dict[str, dict[str, int]]] = {}
        self._tallies: dict[str, Tally] = {}

    @classmethod
    def load_from_checkpoint(cls, checkpoint_path: Any, map_location: Any = None,
                             **kwargs: Any) -> LitSTAIR:  # fmt: skip
        """The module saved at ``checkpoint_path``, read without running code from the file
        (:func:`~stair.checkpoints.load_lightning`); a bad file raises ``CheckpointError``."""
        return load_lightning(super().load_from_checkpoint, checkpoint_path, map_location, **kwargs)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Refuse weights trained on other vocabularies than this module's: their rows would
        mean other words, concepts or answers, or not fit at all. (``stair test --ckpt_path``
        reads the data with the checkpoint's vocabularies, so this guards the Python API.)"""
        saved = (checkpoint.get("hyper_parameters") or {}).get("vocabularies") or {}
        mine = self.hparams["vocabularies"]
        for key in ("words", "concepts", "answers"):
            if key in saved and key in mine and list(saved[key]) != list(mine[key]):
                trainer = self._trainer
                path = getattr(trainer, "ckpt_path", None) if trainer is not None else None
                raise CheckpointError(
                    path or "the checkpoint",
                    f"it was trained with other {key} ({len(saved[key])}) than these data give "
                    f"({len(mine[key])}); read the data with its vocabularies "
                    "(QADataModule(vocabularies_from=...), as `stair test --ckpt_path` and "
                    "`stair audit` do)",
                )

    def forward(self, batch: QABatch) -> ModelOutput:
        return self.model(batch)

    def transfer_batch_to_device(self, batch: Any, device: torch.device, idx: int) -> Any:
        if isinstance(batch, QABatch):
            return batch.to(device)
        return super().transfer_batch_to_device(batch, device, idx)

    # -- losses ------------------------------------------------------------------------------
    def losses(self, batch: QABatch, out: ModelOutput) -> dict[str, Tensor]:
        """The minimised ``loss`` and its parts ``answer``, ``intermediate``, ``grounding``."""
        logits = out.logits.masked_fill(~out.valid, -1e4)
        known = batch.answers >= 0
        answer = (
            F.cross_entropy(logits[known], batch.answers[known])
            if bool(known.any())
            else logits.sum() * 0
        )
        parts = {"loss": answer, "answer": answer.detach()}
        weight = self.hparams.intermediate_weight
        if weight > 0 and out.trace is not None and any(batch.golds):
            inter = intermediate_losses(
                out.trace, batch.golds, batch.options, self.model.bank, self.categories
            )
            per_question = inter.total / len(batch)
            parts["loss"] = answer + weight * per_question
            parts["intermediate"] = per_question.detach()
        grounding = self.hparams.grounding_weight
        if grounding > 0 and out.text is not None:
            summed, count = grounding_loss(out.text, batch.text_index.texts, self.model.bank)
            if count:
                parts["loss"] = parts["loss"] + grounding * summed / len(batch)
                parts["grounding"] = summed.detach() / len(batch)
        return parts

    def training_step(self, batch: QABatch, batch_idx: int) -> Tensor:
        out = self.model(batch)
        parts = self.losses(batch, out)
        acc = (out.logits.argmax(-1) == batch.answers).float().mean()
        B = len(batch)
        self.log("train/loss", parts["loss"], prog_bar=True, batch_size=B)
        self.log("train/acc", acc, prog_bar=True, batch_size=B)
        for name in ("answer", "intermediate", "grounding"):
            if name in parts:
                self.log(f"train/{name}_loss", parts[name], batch_size=B)
        return parts["loss"]

    # -- evaluation --------------------------------------------------------------------------
    def _split_name(self, batch: QABatch, stage: str, dataloader_idx: int) -> str:
        if batch.metadata and "split" in batch.metadata[0]:
            return str(batch.metadata[0]["split"])
        splits = getattr(getattr(self.trainer, "datamodule", None), "test_splits", None)
        if stage == "test" and splits and dataloader_idx < len(splits):
            return splits[dataloader_idx]
        return stage

    def _evaluate(self, batch: QABatch, stage: str, dataloader_idx: int) -> None:
        out = self.model(batch)
        split = self._split_name(batch, stage, dataloader_idx)
        tally = self._tallies.setdefault(split, Tally())
        add_answers(tally, out.logits.argmax(-1) == batch.answers, batch.metadata)
        if out.trace is not None and any(batch.golds):
            add_intermediate(tally, out.trace, batch.golds, self.model.bank, self.categories)
        if stage == "val" and dataloader_idx == 0:  # the gold-program split
            parts = self.losses(batch, out)
            self.log("val/loss", parts["loss"], batch_size=len(batch), add_dataloader_idx=False)

    def validation_step(self, batch: QABatch, batch_idx: int, dataloader_idx: int = 0) -> None:
        self._evaluate(batch, "val", dataloader_idx)

    def test_step(self, batch: QABatch, batch_idx: int, dataloader_idx: int = 0) -> None:
        self._evaluate(batch, "test", dataloader_idx)

    def on_validation_epoch_start(self) -> None:
        self._tallies = {}

    def on_test_epoch_start(self) -> None:
        self._tallies = {}

    def on_validation_epoch_end(self) -> None:
        self._publish("val")

    def on_test_epoch_end(self) -> None:
        self._publish("test")

    def _publish(self, stage: str) -> None:
        results, sizes = {}, {}
        for split, tally in sorted(self._tallies.items()):
            synced = tally.synced()
            results[split], sizes[split] = synced.compute(), synced.sizes()
        self._tallies = {}
        if self.trainer.sanity_checking:
            return
        self.results[stage], self.sizes[stage] = results, sizes
        logged = {}
        for split, metrics in results.items():
            for name, value in metrics.items():
                logged[f"{stage}/{split}/{name}"] = value
        if stage == "val" and "val" in results:
            logged["val/acc"] = results["val"]["acc"]
        self.log_dict(logged, add_dataloader_idx=False, rank_zero_only=True)
        if not self.trainer.is_global_zero:
            return
        if stage == "test" or self.trainer.state.fn == "validate":  # not every epoch of a fit
            log.info("%s results:\n%s", stage, results_table(results))
            benchmark = getattr(getattr(self.trainer, "datamodule", None), "benchmark", None)
            table = benchmark_table(results, benchmark) if benchmark else ""
            if table:
                log.info("%s results in %s's terms:\n%s", stage, benchmark, table)
        table = gold_vs_generated(results)
        if table:
            log.info("answer accuracy (%s), gold vs generated programs:\n%s", stage, table)

    # -- prediction --------------------------------------------------------------------------
    def predict_step(self, batch: QABatch, batch_idx: int, dataloader_idx: int = 0) -> list[dict]:
        """Per question: its id, the predicted answer with its probability, the gold answer."""
        out = self.model(batch)
        probs = out.logits.masked_fill(~out.valid, -1e4).softmax(-1)
        best = probs.argmax(-1)
        vocabulary = self.answer_vocabulary
        answers = None if vocabulary is None else vocabulary.answers
        rows = []
        for b, (qid, i, g) in enumerate(zip(batch.qids, best, batch.answers)):
            words = out.words(b, answers)  # the vocabulary, or this question's options
            row = {"qid": qid, "answer": words[int(i)],
                   "probability": round(float(probs[b, i]), 4),
                   "gold": words[int(g)] if int(g) >= 0 else None}  # fmt: skip
            if out.candidates is not None:
                row["choice"] = int(i)
            rows.append(row)
        return rows

    # -- optimisation ------------------------------------------------------------------------
    def optimizer(self) -> torch.optim.AdamW:
        """AdamW, without weight decay on biases, norms, embeddings and the concept bank.

        The fused kernel (one pass over every parameter) where the parameters' device has one.
        """
        hp = self.hparams
        decay, no_decay = [], []
        for name, param in self.model.named_parameters():
            flat = param.dim() < 2 or "embed" in name or name.startswith("bank.")
            (no_decay if flat else decay).append(param)
        fused = all(p.device.type in ("cpu", "cuda") for p in (*decay, *no_decay))
        return torch.optim.AdamW(
            [{"params": decay, "weight_decay": hp.weight_decay},
             {"params": no_decay, "weight_decay": 0.0}],
            lr=hp.lr, fused=fused or None,
        )  # fmt: skip

    def configure_optimizers(self) -> Any:
        hp = self.hparams
        optimizer = self.optimizer()
        total = max(1, int(self.trainer.estimated_stepping_batches))
        warm = max(1, int(hp.warmup * total))

        def factor(step: int) -> float:
            if step < warm:
                return (step + 1) / warm
            if hp.schedule == "constant":
                return 1.0
            return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / max(1, total - warm))))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        schedule = {"scheduler": scheduler, "interval": "step"}
        return {"optimizer": optimizer, "lr_scheduler": schedule}
