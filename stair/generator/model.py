"""The program generator: a seq2seq transformer that turns a question into a module tree.

:class:`ProgramGenerator` bundles the pieces a generator is made of -- the ``transformers``
seq2seq model (by default a small ``T5ForConditionalGeneration`` trained from scratch, or any local
pretrained checkpoint), the word-level :class:`GeneratorTokenizer`, the :class:`PhraseInventory`
(concepts and the kinds each phrase slot takes), the :class:`ProgramGrammar` built from them, the
copy head (:mod:`.generator_copy`) and the grammar-context embeddings -- and decodes with the
grammar (:mod:`.generator_decode`), so every program it returns compiles. It knows nothing of
Lightning (:mod:`.generator_lit` trains it).

Inputs: question word ``i`` is embedded as ``E[word] + E[<qi>]`` (its copy marker). Decoder
inputs: the previous token's embedding plus embeddings of the grammar context of the token to
write (mode, slot, parent slot), so the decoder always knows which argument of which module it is
filling, however deep the tree. It saves to a folder (``save``/``load``): the model's
``save_pretrained`` files, ``tokenizer.json``, ``generator.json`` (inventory, settings) and
``generator_head.pt`` (copy head and context embeddings).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm
from transformers import AutoConfig, AutoModelForSeq2SeqLM, PreTrainedModel, T5Config
from transformers import T5ForConditionalGeneration as T5
from transformers.modeling_outputs import Seq2SeqLMOutput

from stair.files import replacing, write_json
from stair.generator.decode import decode
from stair.generator.grammar import MAX_SCOPES, ProgramGrammar
from stair.generator.pointer import CopyHead
from stair.generator.target import PhraseInventory, from_target
from stair.generator.tokenizer import GeneratorTokenizer
from stair.programs.serialize import from_tokens
from stair.programs.tree import ModuleTree

log = logging.getLogger(__name__)


def t5_config(
    vocab_size: int,
    d_model: int = 128,
    layers: int = 2,
    decoder_layers: int | None = None,
    heads: int = 4,
    d_ff: int = 256,
    dropout: float = 0.0,
) -> T5Config:
    """A small T5 for our tokenizer (pad 0 also starts the decoder, EOS 1)."""
    return T5Config(
        vocab_size=vocab_size, d_model=d_model, d_kv=d_model // heads, d_ff=d_ff,
        num_layers=layers, num_decoder_layers=decoder_layers or layers, num_heads=heads,
        dropout_rate=dropout, feed_forward_proj="relu", pad_token_id=0, eos_token_id=1,
        decoder_start_token_id=0,
    )  # fmt: skip


def build_seq2seq(
    tokenizer: GeneratorTokenizer, pretrained: str | None = None, config: T5Config | None = None
) -> PreTrainedModel:
    """A seq2seq model sized for ``tokenizer``: ``from_pretrained(pretrained)`` (a local folder;
    its embeddings are resized to our vocabulary) or a fresh T5 from ``config``."""
    if pretrained is not None:
        model = AutoModelForSeq2SeqLM.from_pretrained(pretrained)
        model.resize_token_embeddings(len(tokenizer))
        return model
    return T5(config or t5_config(len(tokenizer)))


@dataclass(frozen=True)
class GeneratedProgram:
    """One decoded program: prefix ``tokens`` (markers replaced by question words), the raw
    ``target`` tokens, the checked ``tree`` and ``score``, its constrained log-probability."""

    tokens: list[str]
    target: list[str]
    tree: ModuleTree
    score: float


class ContextEmbedding(nn.Module):
    """Embeds a grammar context ``(mode, slot, parent slot, scopes)`` as a sum of vectors; with
    ``scopes=False`` (generators saved before scopes were read) the fourth part is ignored."""

    def __init__(self, num_slots: int, width: int, scopes: bool = True) -> None:
        super().__init__()
        self.mode = nn.Embedding(4, width)
        self.slot = nn.Embedding(num_slots + 1, width)
        self.parent = nn.Embedding(num_slots + 1, width)
        tables = [self.mode, self.slot, self.parent]
        if scopes:
            self.scopes = nn.Embedding(MAX_SCOPES + 1, width)
            tables.append(self.scopes)
        for table in tables:
            nn.init.zeros_(table.weight)  # start as a plain seq2seq model

    def forward(self, contexts: torch.Tensor) -> torch.Tensor:
        """``(..., 4)`` int contexts -> ``(..., width)``; slot ids -1 (none) use row 0."""
        mode, slot, parent, scopes = contexts.unbind(-1)
        out = self.mode(mode) + self.slot(slot + 1) + self.parent(parent + 1)
        if hasattr(self, "scopes"):
            out = out + self.scopes(scopes)
        return out


class ProgramGenerator(nn.Module):
    """Question -> well-typed module tree (see the module docstring).

    ``max_new_tokens``: longest target the decoder may produce (EOS included); the grammar makes
    every program fit in it.
    """

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: GeneratorTokenizer,
        inventory: PhraseInventory,
        max_new_tokens: int = 192,
        scopes: bool = True,
    ) -> None:
        super().__init__()
        self.model, self.tokenizer, self.inventory = model, tokenizer, inventory
        self.max_new_tokens, self.scopes = max_new_tokens, scopes
        for cfg in (model.config, model.generation_config):
            cfg.pad_token_id, cfg.eos_token_id = tokenizer.pad_id, tokenizer.eos_id
            cfg.decoder_start_token_id = tokenizer.pad_id
        self.grammar = ProgramGrammar(
            inventory, tokenizer.vocab, tokenizer.eos_id, tokenizer.pad_id, tokenizer.max_words
        )
        width = model.get_input_embeddings().embedding_dim
        self.copy = CopyHead(width, tokenizer.first_marker, tokenizer.max_words)
        self.copy.attach(model)
        self.contexts = ContextEmbedding(self.grammar.num_slots, width, scopes)

    # -- embeddings and the teacher-forced pass ---------------------------------------------------
    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Source embeddings ``(B, S, D)``: word ``i`` plus its copy marker ``<qi>``."""
        table, tok = self.model.get_input_embeddings(), self.tokenizer
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        markers = table(positions.clamp(max=tok.max_words - 1) + tok.first_marker)  # (S, D)
        is_word = (input_ids != tok.pad_id) & (input_ids != tok.eos_id)
        return table(input_ids) + markers * is_word.unsqueeze(-1)

    def decoder_embed(self, tokens: torch.Tensor, contexts: torch.Tensor) -> torch.Tensor:
        """Decoder inputs ``(B, L, D)``: previous tokens ``(B, L)`` plus contexts ``(B, L, 4)``."""
        return self.model.get_input_embeddings()(tokens) + self.contexts(contexts)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        labels: torch.Tensor,
        contexts: torch.Tensor,
    ) -> Seq2SeqLMOutput:
        """Teacher-forced pass: ``labels`` ``(B, L)`` (padding -100) and the grammar context of
        each label position ``(B, L, 3)``; ``.logits`` is ``(B, L, V)``."""
        start = torch.full_like(labels[:, :1], self.tokenizer.pad_id)
        previous = torch.cat([start, labels[:, :-1].clamp(min=0)], dim=1)
        return self.model(
            inputs_embeds=self.embed(input_ids), attention_mask=attention_mask,
            decoder_inputs_embeds=self.decoder_embed(previous, contexts),
        )  # fmt: skip

    # -- generation -------------------------------------------------------------------------------
    def encode(self, questions: list[str]) -> tuple[torch.Tensor, torch.Tensor, list[list[str]]]:
        """Padded source ids, attention mask and each question's words."""
        words = [self.tokenizer.words(q) for q in questions]
        ids = [self.tokenizer.encode_source(w) for w in words]
        batch = torch.full((len(ids), max(map(len, ids))), self.tokenizer.pad_id)
        for row, seq in enumerate(ids):
            batch[row, : len(seq)] = torch.tensor(seq)
        return batch, (batch != self.tokenizer.pad_id).long(), words

    @torch.no_grad()
    def generate(
        self,
        questions: list[str],
        num_beams: int = 1,
        n_best: int = 1,
        sample: bool = False,
        batch_size: int = 64,
        seed: int = 0,
        progress: bool = False,
    ) -> list[list[GeneratedProgram]]:
        """The ``n_best`` best programs of each question, best first: greedy (``num_beams=1``),
        beam search, or ``n_best`` samples (``sample=True``, seeded); ``progress``: a progress
        bar over the questions."""
        was_training = self.training
        self.eval()
        device = next(self.parameters()).device
        out: list[list[GeneratedProgram]] = []
        bar = tqdm(total=len(questions), desc="generating programs", unit="q", disable=not progress)
        for start in range(0, len(questions), batch_size):
            ids, mask, words = self.encode(questions[start : start + batch_size])
            qlens = [len(w) for w in words]
            hypotheses = decode(
                self, ids.to(device), mask.to(device), qlens, self.max_new_tokens, num_beams,
                n_best, sample, seed + start,
            )  # fmt: skip
            for question_words, found in zip(words, hypotheses):
                out.append([self._program(h.ids, question_words, h.score) for h in found])
            bar.update(len(words))
        bar.close()
        self.train(was_training)
        return out

    def _program(self, ids: list[int], words: list[str], score: float) -> GeneratedProgram:
        target = self.tokenizer.decode(ids)
        tokens = from_target(target, words)
        return GeneratedProgram(tokens, target, from_tokens(tokens), float(score))

    # -- persistence ------------------------------------------------------------------------------
    def settings(self) -> dict:
        """What, next to the model and tokenizer, a saved generator holds."""
        return {"inventory": self.inventory.to_json(), "max_new_tokens": self.max_new_tokens,
                "scopes": self.scopes}  # fmt: skip

    def save(self, folder: str | Path) -> None:
        """Write ``save_pretrained`` files, ``tokenizer.json``, the head and, last (so that a save
        cut short never loads), ``generator.json``; each file atomically where STAIR writes it."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(folder)
        self.tokenizer.save(str(folder / "tokenizer.json"))
        head = {k: v for k, v in self.state_dict().items() if not k.startswith("model.")}
        with replacing(folder / "generator_head.pt") as tmp:
            torch.save(head, tmp)
        write_json(folder / "generator.json", self.settings())

    @classmethod
    def load(cls, folder: str | Path) -> ProgramGenerator:
        """Inverse of :meth:`save`."""
        folder = Path(folder)
        settings = json.loads((folder / "generator.json").read_text())
        tokenizer = GeneratorTokenizer.load(str(folder / "tokenizer.json"))
        model = AutoModelForSeq2SeqLM.from_pretrained(folder)
        generator = cls(model, tokenizer, PhraseInventory.from_json(settings["inventory"]),
                        settings["max_new_tokens"], settings.get("scopes", False))  # fmt: skip
        head = torch.load(folder / "generator_head.pt", weights_only=True)
        own = [k for k in generator.state_dict() if not k.startswith("model.")]
        missing = [k for k in own if k not in head]
        if missing:
            raise KeyError(f"{folder / 'generator_head.pt'} lacks {missing}")
        generator.load_state_dict(head, strict=False)
        return generator

    @classmethod
    def from_parts(cls, config: dict, tokenizer_json: str, settings: dict) -> ProgramGenerator:
        """An untrained generator of this shape (weights follow by ``load_state_dict``)."""
        model_config = AutoConfig.for_model(**config)
        model = AutoModelForSeq2SeqLM.from_config(model_config)
        inventory = PhraseInventory.from_json(settings["inventory"])
        tokenizer = GeneratorTokenizer.from_str(tokenizer_json)
        return cls(model, tokenizer, inventory, settings["max_new_tokens"],
                   settings.get("scopes", False))  # fmt: skip
