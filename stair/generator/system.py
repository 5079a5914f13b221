"""Training the program generator with Lightning: losses, metrics, optimiser, checkpoints.

:class:`GeneratorLit` owns a :class:`~stair.generator.model.ProgramGenerator`, built in
``setup`` from the datamodule's training split (tokenizer and phrase inventory) unless a checkpoint
brought one. The loss is **grammar-masked** cross-entropy: at each target position the softmax
runs over the tokens the grammar allows there only
(:class:`~stair.generator.constraint.AllowedSets`), which is also the distribution constrained
decoding samples from, so the model spends nothing on learning the syntax; where a phrase can be
copied from several places of the question, the probabilities of them all are summed
(:func:`copy_marginal_nll`). Question words are randomly replaced by ``<unk>``
(``word_dropout``) so that words never seen in training are copied like any other.

Validation logs teacher-forced loss, token accuracy and sequence accuracy; ``test`` decodes each
evaluation split with the grammar, logs exact match (tree equality with the gold), the share of
outputs that compile (always 1 by construction, measured anyway) and programs per second, and
keeps the error analysis of :mod:`stair.generator.report` (:meth:`GeneratorLit.test_report`).
Checkpoints hold the model config, tokenizer and inventory next to the weights, so
:func:`load_generator` rebuilds a generator from the file alone.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import torch
from lightning import LightningModule

from stair.checkpoints import load_lightning
from stair.errors import CheckpointError
from stair.generator.constraint import AllowedSets
from stair.generator.model import ProgramGenerator, build_seq2seq, t5_config
from stair.generator.report import SplitReport, report_lines
from stair.programs.errors import ProgramError
from stair.programs.serialize import from_tokens

log = logging.getLogger(__name__)


class GeneratorLit(LightningModule):
    """The program generator as a LightningModule.

    Args:
        d_model: width of the default T5 (ignored with ``pretrained``).
        layers: encoder layers of the default T5.
        decoder_layers: decoder layers of the default T5.
        heads: attention heads of the default T5.
        d_ff: feed-forward width of the default T5.
        dropout: dropout of the default T5.
        pretrained: a local seq2seq checkpoint folder (``from_pretrained``) to start from instead.
        lr: peak learning rate (one-cycle schedule over the whole run).
        weight_decay: AdamW weight decay.
        warmup: share of the steps spent warming up.
        word_dropout: chance that a training question word is replaced by ``<unk>``.
        masked_loss: softmax over the grammar's allowed tokens only (else over all tokens).
        max_new_tokens: longest program the decoder may produce (EOS included).
        num_beams: beam width of test decoding (1: greedy).
        scopes: the decoder also reads how many time windows each token is inside the anchor of
            (:meth:`~stair.generator.grammar.ProgramGrammar.context`).
    """

    #: kept from the command line over a checkpoint's (``stair generator test --ckpt_path``)
    EVALUATION_HPARAMS = ("num_beams",)

    def __init__(
        self,
        d_model: int = 128,
        layers: int = 2,
        decoder_layers: int = 2,
        heads: int = 4,
        d_ff: int = 256,
        dropout: float = 0.0,
        pretrained: str | None = None,
        lr: float = 2e-3,
        weight_decay: float = 0.01,
        warmup: float = 0.1,
        word_dropout: float = 0.05,
        masked_loss: bool = True,
        max_new_tokens: int = 192,
        num_beams: int = 1,
        scopes: bool = True,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.generator: ProgramGenerator | None = None
        self._allowed: AllowedSets | None = None
        self._reports: dict[str, SplitReport] = {}  # split -> the last test's tallies

    # -- building ---------------------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        """Build a new generator for ``fit`` (vocabulary from the datamodule's training split);
        other stages use the one a checkpoint brings (:meth:`on_load_checkpoint`)."""
        datamodule = self.trainer.datamodule if self._trainer is not None else None
        if self.generator is None and stage == "fit":
            if datamodule is None:
                raise RuntimeError("a new generator needs a datamodule to build its vocabulary")
            tokenizer, inventory = datamodule.vocabulary()
            h = self.hparams
            config = t5_config(len(tokenizer), h.d_model, h.layers, h.decoder_layers, h.heads,
                               h.d_ff, h.dropout)  # fmt: skip
            model = build_seq2seq(tokenizer, h.pretrained, config)
            self.generator = ProgramGenerator(model, tokenizer, inventory, h.max_new_tokens,
                                              h.get("scopes", True))  # fmt: skip
            log.info("generator: %d parameters, vocabulary %d",
                     sum(p.numel() for p in self.parameters()), len(tokenizer))  # fmt: skip
        self._attach_tokenizer()

    def _attach_tokenizer(self) -> None:
        """Make the datamodule encode with this generator's tokenizer."""
        datamodule = self.trainer.datamodule if self._trainer is not None else None
        if datamodule is not None and self.generator is not None:
            datamodule.use_tokenizer(self.generator.tokenizer)

    @property
    def allowed(self) -> AllowedSets:
        if self._allowed is None:
            self._allowed = AllowedSets(self.generator.grammar, len(self.generator.tokenizer))
        return self._allowed

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        gen = self.generator
        checkpoint["generator"] = {
            "model_config": gen.model.config.to_dict(),
            "tokenizer": gen.tokenizer.to_str(),
            "settings": gen.settings(),
        }

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        saved = checkpoint["generator"]
        self.generator = ProgramGenerator.from_parts(
            saved["model_config"], saved["tokenizer"], saved["settings"]
        )
        self._allowed = None
        self._attach_tokenizer()

    def transfer_batch_to_device(self, batch: dict, device: torch.device, dataloader_idx: int):
        """Only the tensors move: the batch's question texts and gold token lists stay (walking
        them as Lightning's generic transfer does costs seconds an epoch)."""
        return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}

    # -- losses -----------------------------------------------------------------------------------
    def _loss(self, batch: dict, drop: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
        """Loss and logits ``(B, L, V)`` (``-inf`` outside the allowed tokens if masked)."""
        ids, labels = batch["input_ids"], batch["labels"]
        if drop > 0:
            tok = self.generator.tokenizer
            word = (ids != tok.pad_id) & (ids != tok.eos_id)
            ids = ids.masked_fill(word & (torch.rand(ids.shape, device=ids.device) < drop),
                                  tok.unk_id)  # fmt: skip
        rows = torch.zeros_like(labels)
        contexts = torch.zeros(*labels.shape, 4, dtype=torch.long)
        for r, (target, qlen) in enumerate(zip(labels.tolist(), batch["qlens"].tolist())):
            target = [t for t in target if t >= 0]
            row, context = self.allowed.rows(target, qlen)
            rows[r, : len(target)] = torch.tensor(row)
            contexts[r, : len(target)] = torch.tensor(context)
        out = self.generator(ids, batch["attention_mask"], labels, contexts.to(ids.device))
        logits = out.logits.float()
        if self.hparams.masked_loss:
            allowed = self.allowed.table().to(logits.device)[rows]
            logits = logits.masked_fill(~allowed, float("-inf"))
        return copy_marginal_nll(logits, batch["alternatives"]), logits

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss, _ = self._loss(batch, self.hparams.word_dropout)
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch["qids"]))
        return loss

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        loss, logits = self._loss(batch)
        labels, alternatives = batch["labels"], batch["alternatives"]
        live = labels != -100
        right = (logits.argmax(-1, keepdim=True) == alternatives).any(-1) | ~live
        n = len(batch["qids"])
        self.log("val/loss", loss, prog_bar=True, batch_size=n)
        self.log("val/token_acc", right[live].float().mean(), batch_size=n)
        self.log("val/seq_acc", right.all(-1).float().mean(), prog_bar=True, batch_size=n)

    def on_test_epoch_start(self) -> None:
        self._reports = {}

    def test_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> None:
        """Decode with the grammar; tally exact matches, compiled outputs, decoding time and
        where each miss first goes wrong (:class:`~stair.generator.report.SplitReport`)."""
        start = time.perf_counter()
        programs = self.generator.generate(batch["questions"], num_beams=self.hparams.num_beams,
                                           batch_size=len(batch["questions"]))  # fmt: skip
        split = self.trainer.datamodule.eval_splits[dataloader_idx]
        report = self._reports.setdefault(split, SplitReport())
        report.seconds += time.perf_counter() - start
        grammar = self.generator.grammar
        targets, qlens = batch["labels"].tolist(), batch["qlens"].tolist()
        for best, gold, target, qlen in zip(programs, batch["gold"], targets, qlens):
            _, contexts = self.allowed.rows([t for t in target if t >= 0], qlen)
            try:
                compiled = from_tokens(best[0].tokens) == best[0].tree
            except ProgramError:
                compiled = False
            gold_tree = from_tokens(gold)
            report.add(gold, best[0].tokens, gold_tree.depth(), compiled and best[0].tree ==
                       gold_tree, compiled, [grammar.slot_name(c) for c in contexts])  # fmt: skip

    def on_test_epoch_end(self) -> None:
        for split, report in self._reports.items():
            figures = {"exact_match": report.exact_match,
                       "compiles": report.compiled / max(report.questions, 1),
                       "programs_per_s": report.questions / max(report.seconds, 1e-9)}  # fmt: skip
            for name, value in figures.items():
                self.log(f"test/{split}/{name}", value)

    def test_report(self) -> list[str]:
        """The last test's error analysis as text lines, ending with the summary line
        (:func:`~stair.generator.report.report_lines`); ``stair generator test`` prints it."""
        return report_lines(self._reports, self.hparams.num_beams)

    def configure_optimizers(self):
        h = self.hparams
        optimizer = torch.optim.AdamW(self.parameters(), lr=h.lr, weight_decay=h.weight_decay)
        total = max(1, int(self.trainer.estimated_stepping_batches))
        schedule = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=h.lr, total_steps=total, pct_start=h.warmup
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}


def copy_marginal_nll(logits: torch.Tensor, alternatives: torch.Tensor) -> torch.Tensor:
    """Mean over target positions of ``-log`` the summed probability of the position's
    ``alternatives`` (``(B, L, K)`` token ids, -100 padding; column 0 the target itself, -100 on
    padding positions): cross-entropy where every alternative counts as right."""
    logp = logits.float().log_softmax(-1)  # (B, L, V)
    picked = logp.gather(-1, alternatives.clamp(min=0))  # (B, L, K)
    picked = picked.masked_fill(alternatives < 0, float("-inf"))
    live = alternatives[..., 0] >= 0
    return -picked.logsumexp(-1)[live].mean()


def load_generator(path: str | Path) -> ProgramGenerator:
    """A trained generator from a Lightning checkpoint file or a :meth:`ProgramGenerator.save`
    folder, in eval mode on the CPU."""
    path = Path(path)
    if path.is_dir():
        try:
            generator = ProgramGenerator.load(path)
        except (OSError, KeyError, ValueError, TypeError) as err:
            raise CheckpointError(path, f"not a saved program generator ({err})") from None
    else:
        lit = load_lightning(GeneratorLit.load_from_checkpoint, path, map_location="cpu")
        if lit.generator is None:
            raise CheckpointError(path, "holds no trained program generator")
        generator = lit.generator
    return generator.eval()
