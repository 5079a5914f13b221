"""A pretrained language model as a question answerer, reading STAIR's prompts or not.

:class:`AnswererLit` answers ``[prompt; question]`` by scoring each option (the answer
vocabulary, or a multiple-choice question's own options) with a local ``transformers`` encoder
(e.g. all-MiniLM-L6-v2). The encoder is frozen: every text is encoded once (its token states are
cached), and a small head learns to score an option against the tokens it reads — a
late-interaction score (the best match of the option's vector among the projected token states)
plus a bilinear score with the mean token. It is a bi-encoder: question and option are encoded
apart, which keeps the ~80 answers of the synthetic benchmark affordable on a CPU; it reads the
prompt's words, so an option the prompt names ("Exists "cup": yes.") is easy to find.

:class:`AnswerExample` is one question as text; :func:`collate` batches them. Without prompts the
answerer sees the question alone: the comparison of ``bench/prompting.py``.
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


class FrozenTextEncoder(nn.Module):
    """A local ``transformers`` encoder, frozen, with every text's token states cached."""

    def __init__(self, path: str, max_length: int = 256) -> None:
        super().__init__()
        from transformers import AutoModel, AutoTokenizer

        self.path = model_folder(path)
        self.model = AutoModel.from_pretrained(self.path).eval().requires_grad_(False)
        self.tokenizer = AutoTokenizer.from_pretrained(self.path)
        self.max_length = max_length
        self.dim = int(self.model.config.hidden_size)
        self._cache: dict[str, Tensor] = {}

    def train(self, mode: bool = True) -> FrozenTextEncoder:
        super().train(mode)
        self.model.eval()  # frozen: no dropout, the cached states stay right
        return self

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> None:
        """Encode (and cache) the texts not seen yet."""
        todo = sorted({t for t in texts if t not in self._cache})
        for i in range(0, len(todo), batch_size):
            chunk = todo[i : i + batch_size]
            enc = self.tokenizer(chunk, padding=True, truncation=True,
                                 max_length=self.max_length, return_tensors="pt")  # fmt: skip
            with torch.no_grad():
                out = self.model(**enc).last_hidden_state  # (N, S, E)
            for n, text in enumerate(chunk):
                self._cache[text] = out[n, : int(enc["attention_mask"][n].sum())].clone()

    def states(self, texts: Sequence[str]) -> tuple[Tensor, Tensor]:
        """Token states ``[N, S, E]`` (zero-padded) and their mask ``[N, S]``."""
        self.encode(texts)
        rows = [self._cache[t] for t in texts]
        S = max(r.shape[0] for r in rows)
        out = torch.zeros(len(rows), S, self.dim)
        mask = torch.zeros(len(rows), S, dtype=torch.bool)
        for n, r in enumerate(rows):
            out[n, : r.shape[0]], mask[n, : r.shape[0]] = r, True
        return out, mask

    def vectors(self, texts: Sequence[str]) -> Tensor:
        """Each text's mean token state, ``[N, E]``."""
        states, mask = self.states(texts)
        return (states * mask[..., None]).sum(1) / mask.sum(-1, keepdim=True).clamp_min(1)


class AnswererLit(L.LightningModule):
    """Option scoring over a frozen pretrained encoder (see the module docstring).

    Args:
        encoder: a local ``transformers`` model folder (or ``package:NAME/SUB``).
        hidden: size of the head's projections.
        lr: AdamW learning rate of the head.
        max_length: the most tokens read of ``[prompt; question]``.
    """

    def __init__(
        self, encoder: str, hidden: int = 256, lr: float = 2e-3, max_length: int = 256
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.encoder = FrozenTextEncoder(encoder, max_length)
        E = self.encoder.dim
        self.tokens = nn.Sequential(nn.Linear(E, hidden), nn.GELU(), nn.Linear(hidden, hidden))
        self.options = nn.Sequential(nn.Linear(E, hidden), nn.GELU(), nn.Linear(hidden, hidden))
        self.pooled = nn.Bilinear(E, hidden, 1)
        self.scale = nn.Parameter(torch.tensor(5.0))

    def forward(self, batch: Sequence[AnswerExample]) -> tuple[Tensor, Tensor]:
        """Scores ``[B, K]`` of each question's options (``-inf`` past its own), and the
        right option ``[B]``."""
        states, mask = self.encoder.states([e.text for e in batch])  # (B, S, E)
        states, mask = states.to(self.device), mask.to(self.device)
        K = max(len(e.options) for e in batch)
        names = sorted({o for e in batch for o in e.options})
        index = {o: i for i, o in enumerate(names)}
        vectors = self.encoder.vectors(names).to(self.device)  # (O, E)
        rows = torch.tensor([[index[o] for o in e.options] + [0] * (K - len(e.options))
                             for e in batch], device=self.device)  # fmt: skip
        valid = (
            torch.arange(K, device=self.device)[None]
            < torch.tensor([len(e.options) for e in batch], device=self.device)[:, None]
        )
        opts = F.normalize(self.options(vectors), dim=-1)[rows]  # (B, K, H)
        toks = F.normalize(self.tokens(states), dim=-1)  # (B, S, H)
        match = torch.einsum("bkh,bsh->bks", opts, toks).masked_fill(~mask[:, None], -2.0)
        mean = (states * mask[..., None]).sum(1) / mask.sum(-1, keepdim=True).clamp_min(1)
        B, H = len(batch), opts.shape[-1]
        pooled = self.pooled(mean[:, None].expand(B, K, -1).reshape(B * K, -1),
                             opts.reshape(B * K, H)).view(B, K)  # fmt: skip
        scores = self.scale * match.max(-1).values + pooled
        answers = torch.tensor([e.answer for e in batch], device=self.device)
        return scores.masked_fill(~valid, float("-inf")), answers

    def transfer_batch_to_device(
        self, batch: Any, device: torch.device, dataloader_idx: int
    ) -> Any:
        return batch  # texts: encoded (and moved) in forward

    def _step(self, batch: Sequence[AnswerExample], stage: str) -> Tensor:
        scores, answers = self(batch)
        known = answers >= 0
        loss = F.cross_entropy(scores[known], answers[known]) if known.any() else scores.sum() * 0
        acc = (scores.argmax(-1) == answers).float().mean()
        self.log(f"{stage}/loss", loss, batch_size=len(batch), prog_bar=stage == "train")
        self.log(f"{stage}/acc", acc, batch_size=len(batch), add_dataloader_idx=False)
        return loss

    def training_step(self, batch: Sequence[AnswerExample], batch_idx: int) -> Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: Sequence[AnswerExample], batch_idx: int) -> None:
        self._step(batch, "val")

    def predict_step(self, batch: Sequence[AnswerExample], batch_idx: int) -> Any:
        scores, answers = self(batch)
        return scores.argmax(-1) == answers

    def configure_optimizers(self) -> torch.optim.Optimizer:
        trained = [p for p in self.parameters() if p.requires_grad]
        return torch.optim.AdamW(trained, lr=self.hparams.lr, weight_decay=0.01)
