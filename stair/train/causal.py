"""A local causal language model (GPT-2 and the like) scoring each option by its likelihood.

:class:`CausalScorer` reads one question as the context ``"{prompt} Question: {question}
Answer:"`` (:func:`context_text`; without a prompt it starts at ``Question:``) and scores each
option by the **sum** of the log-probabilities of its tokens after that context (``" " +
option``, tokenized apart from the context, so every option is scored on the same context
tokens). The sum is the option's log-likelihood, the quantity a language model defines; it
favours short options, so ``length_norm=True`` divides it by the option's number of tokens (the
mean log-probability per token), which is fairer when options differ in length (NExT-QA's
sentences). The synthetic benchmark's options are one to four words, and the default is the sum.

The context of a question runs once (``share_context``): its key/value cache is repeated for
its options, which then run together as one short batch (at most ``max_pairs`` options per
forward; more re-run the context). ``share_context=False`` runs every (context, option) pair
as one sequence instead, ``max_pairs`` at a time; both give the same scores. A context longer
than ``max_length`` tokens (less the longest option) loses its first tokens, so the question and
``Answer:`` are always read and the prompt's start is what goes.

The scores train end to end (``trainable``: every weight of the model, at a small learning rate,
no adapters) with a cross-entropy over each question's options, or are used as they are
(zero-shot). Nothing is downloaded: the folder is one written by ``save_pretrained`` (or
``package:NAME/SUB``, :func:`stair.engine.pretrained.model_folder`).
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from stair.engine.pretrained import model_folder
from stair.errors import StairError

#: architecture names (``config.architectures``) of a model with a causal language-model head
CAUSAL_SUFFIXES = ("ForCausalLM", "LMHeadModel")


class AnswererError(StairError):
    """A model folder the answerer cannot use, or a run it cannot do (named in the message)."""


def context_text(prompt: str, question: str) -> str:
    """What the language model reads before an option."""
    return f"{prompt} Question: {question} Answer:".strip()


def is_causal_lm(path: str | os.PathLike) -> bool:
    """Whether the model folder holds a causal language model (by its saved architecture, else
    by its model type: one that has a causal-LM class and no masked-LM one, as GPT-2)."""
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    )

    folder = model_folder(path)
    if not os.path.isdir(folder):
        raise AnswererError(f"answerer model: no such folder {folder!r}")
    try:
        config = AutoConfig.from_pretrained(folder)
    except (OSError, ValueError) as err:
        raise AnswererError(f"answerer model {folder}: not a transformers model ({err})") from None
    architectures = list(getattr(config, "architectures", None) or [])
    if architectures:
        return any(a.endswith(CAUSAL_SUFFIXES) for a in architectures)
    kind = config.model_type
    masked = kind in MODEL_FOR_MASKED_LM_MAPPING_NAMES
    return kind in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and not masked


class CausalScorer(nn.Module):
    """``AutoModelForCausalLM`` + its tokenizer, scoring options (see the module docstring).

    Args:
        path: the model folder.
        max_length: the most tokens of context and option read together.
        trainable: train the model's weights; else it is frozen (eval mode, no gradients).
        length_norm: score by the mean log-probability of the option's tokens, not their sum.
        max_pairs: the most (question, option) sequences in one forward.
        share_context: run each context once and reuse its cache for the options.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        max_length: int = 256,
        trainable: bool = True,
        length_norm: bool = False,
        max_pairs: int = 256,
        share_context: bool = True,
    ) -> None:
        super().__init__()
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.path = model_folder(path)
        try:
            self.model = AutoModelForCausalLM.from_pretrained(self.path)
            self.tokenizer = AutoTokenizer.from_pretrained(self.path)
        except (OSError, ValueError) as err:
            raise AnswererError(f"causal LM {self.path}: cannot load it ({err})") from None
        limit = getattr(self.model.config, "max_position_embeddings", None) or getattr(
            self.model.config, "n_positions", max_length
        )
        self.max_length = min(max_length, int(limit))
        self.trainable, self.length_norm = trainable, length_norm
        self.max_pairs, self.share_context = max(1, max_pairs), share_context
        pad = self.tokenizer.pad_token_id
        self.pad = int(pad if pad is not None else (self.tokenizer.eos_token_id or 0))
        self._option_ids: dict[str, list[int]] = {}
        # the cache's argument: ``cache`` in recent transformers, ``past_key_values`` before
        names = inspect.signature(self.model.forward).parameters
        self._cache_arg = "cache" if "cache" in names else "past_key_values"
        if not trainable:
            self.model.eval().requires_grad_(False)

    def train(self, mode: bool = True) -> CausalScorer:
        super().train(mode)
        if not self.trainable:
            self.model.eval()
        return self

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def option_ids(self, option: str) -> list[int]:
        """The tokens of ``" " + option`` (no special tokens), at least one."""
        if option not in self._option_ids:
            ids = self.tokenizer(" " + option, add_special_tokens=False)["input_ids"]
            self._option_ids[option] = list(ids) or [self.pad]
        return self._option_ids[option]

    def context_ids(self, prompt: str, question: str, room: int) -> list[int]:
        """The context's tokens (the tokenizer's own special tokens included), its first ones
        dropped past ``max_length - room``."""
        ids = list(self.tokenizer(context_text(prompt, question))["input_ids"])
        keep = max(1, self.max_length - room)
        return ids[-keep:]

    def forward(self, examples: Sequence[Any]) -> Tensor:
        """Scores ``[B, K]``: each option's log-likelihood (or its mean per token), ``-inf``
        past the question's own options. ``examples``: objects with ``prompt``, ``question``
        and ``options`` (:class:`~stair.train.answerer.AnswerExample`)."""
        K = max(len(e.options) for e in examples)
        rows = []
        for e in examples:
            options = [self.option_ids(o) for o in e.options]
            context = self.context_ids(e.prompt, e.question, max(len(o) for o in options))
            rows.append((context, options))
        scores = self._shared(rows) if self.share_context else self._pairs(rows)
        out = torch.full((len(examples), K), float("-inf"), device=self.device)
        for b, row in enumerate(scores):
            out[b, : len(row)] = row
        return out

    def _reduce(self, logprobs: Tensor, mask: Tensor) -> Tensor:
        """Per sequence, the sum (or mean) of its option tokens' log-probabilities."""
        total = (logprobs * mask).sum(-1)
        return total / mask.sum(-1).clamp_min(1) if self.length_norm else total

    def _padded(self, options: list[list[int]]) -> tuple[Tensor, Tensor]:
        width = max(len(o) for o in options)
        ids = torch.tensor([o + [self.pad] * (width - len(o)) for o in options])
        mask = torch.tensor([[1] * len(o) + [0] * (width - len(o)) for o in options])
        return ids.to(self.device), mask.to(self.device)

    def _shared(self, rows: list[tuple[list[int], list[list[int]]]]) -> list[Tensor]:
        """The context once per question (per ``max_pairs`` options), its cache repeated."""
        out = []
        for context, options in rows:
            parts = []
            for start in range(0, len(options), self.max_pairs):
                chunk = options[start : start + self.max_pairs]
                ids, mask = self._padded(chunk)
                first = self.model(torch.tensor([context], device=self.device), use_cache=True)
                cache = getattr(first, "cache", None) or first.past_key_values
                cache.batch_repeat_interleave(len(chunk))
                attention = torch.cat([mask.new_ones(len(chunk), len(context)), mask], dim=1)
                given = {self._cache_arg: cache}
                logits = self.model(ids, attention_mask=attention, **given).logits
                # the first option token is predicted by the context's last position
                logits = torch.cat([first.logits[:, -1:].expand(len(chunk), -1, -1),
                                    logits[:, :-1]], dim=1)  # fmt: skip
                token = logits.log_softmax(-1).gather(-1, ids[..., None])[..., 0]
                parts.append(self._reduce(token, mask))
            out.append(torch.cat(parts))
        return out

    def _pairs(self, rows: list[tuple[list[int], list[list[int]]]]) -> list[Tensor]:
        """Every (context, option) pair as one right-padded sequence, ``max_pairs`` at a time."""
        pairs = [(b, c, o) for b, (c, options) in enumerate(rows) for o in options]
        scores: list[Tensor] = []
        for start in range(0, len(pairs), self.max_pairs):
            chunk = pairs[start : start + self.max_pairs]
            seqs = [c + o for _, c, o in chunk]
            ids, mask = self._padded(seqs)
            logprobs = self.model(ids, attention_mask=mask).logits[:, :-1].log_softmax(-1)
            token = logprobs.gather(-1, ids[:, 1:, None])[..., 0]  # position t predicts t + 1
            target = torch.zeros_like(token)
            for n, (_, c, o) in enumerate(chunk):
                target[n, len(c) - 1 : len(c) - 1 + len(o)] = 1
            scores.append(self._reduce(token, target))
        flat = torch.cat(scores)
        out, at = [], 0
        for _, options in rows:
            out.append(flat[at : at + len(options)])
            at += len(options)
        return out
