"""Data for the program generator: questions and their compiled trees, per split, in batches.

:class:`GeneratorDataModule` reads ``questions/<split>.jsonl`` of a dataset folder
(:mod:`stair.data.dataset`), compiles each ``program`` to its module tree once, and serves batches
of source ids, target ids (:func:`~stair.generator.target.to_target` then EOS), the
tokens that would do as well at each target position (``alternatives``, ``(B, L, K)``, padded
with -100: a phrase copied from one of its several occurrences in the question,
:func:`~stair.generator.target.copy_alternatives`) and, for evaluation, the questions
and gold prefix tokens. Ids come from the generator's tokenizer: built
from the training split by :meth:`GeneratorDataModule.vocabulary` for a new model, or the one a
checkpoint brings, attached with :meth:`GeneratorDataModule.use_tokenizer`.

An evaluation split named ``<split>:unseen`` is ``<split>`` with one object word per question
replaced by a made-up word (:func:`with_unseen_words`): the gold tree names the made-up word, so
exact match there measures copying words never seen in training.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from lightning import LightningDataModule
from torch.utils.data import DataLoader, Sampler

from stair.data.dataset import iter_questions
from stair.generator.anchors import AnchorLexicon, recombine_anchors
from stair.generator.augment import recombine
from stair.generator.references import ReferenceLexicon, recombine_references
from stair.generator.target import PhraseInventory, copy_alternatives, to_target
from stair.generator.tokenizer import GeneratorTokenizer
from stair.programs.serialize import from_tokens, to_tokens
from stair.programs.shapes import compile_by_shape
from stair.programs.text import tokenize
from stair.programs.tree import ModuleTree

log = logging.getLogger(__name__)

#: made-up words (none is English, none is in the synthetic vocabulary)
NONCE_WORDS = ("dax", "wug", "blicket", "fep", "zorp", "toma", "kiki", "glorp", "snib", "vork")


@dataclass(frozen=True)
class Example:
    """One question with its gold module tree (``tokens``: its prefix tokens)."""

    qid: str
    question: str
    tree: ModuleTree
    tokens: tuple[str, ...]


def read_examples(root: str | Path, split: str) -> list[Example]:
    """The questions of ``split`` (``name:unseen`` for the made-up-word variant of ``name``)."""
    name, _, variant = split.partition(":")
    out = []
    for record in iter_questions(Path(root) / "questions" / f"{name}.jsonl"):
        tree = compile_by_shape(record.program)
        out.append(Example(record.qid, record.question, tree, tuple(to_tokens(tree))))
    if variant == "unseen":
        vocab_path = Path(root) / "vocab.json"
        objects = json.loads(vocab_path.read_text())["objects"] if vocab_path.exists() else []
        out = with_unseen_words(out, objects)
    elif variant:
        raise ValueError(f"unknown split variant {variant!r} in {split!r} (known: unseen)")
    return out


def with_unseen_words(examples: list[Example], objects: list[str], seed: int = 0) -> list[Example]:
    """Examples whose question names an object (a phrase of the tree) that every phrase holding
    it copies verbatim, with that word replaced by a made-up one in question and tree alike."""
    rng, out = random.Random(seed), []
    for ex in examples:
        words = tokenize(ex.question)
        phrases = [p.text for p in ex.tree.phrases()]
        for word in (p for p in phrases if p in objects and p in words):
            holding = [p for p in phrases if word in p.split()]
            if all(_contains(words, p.split()) for p in holding):
                nonce = rng.choice(NONCE_WORDS)
                question = " ".join(nonce if w == word else w for w in words) + "?"
                tokens = [nonce if t == word else t for t in ex.tokens]
                out.append(replace(ex, qid=f"{ex.qid}:unseen", question=question,
                                   tree=from_tokens(tokens), tokens=tuple(tokens)))  # fmt: skip
                break
    return out


def _contains(words: list[str], phrase: list[str]) -> bool:
    n = len(phrase)
    return any(words[i : i + n] == phrase for i in range(len(words) - n + 1))


class LengthBatchSampler(Sampler[list[int]]):
    """Shuffled batches of similar length (less padding), in a new seeded order each epoch."""

    def __init__(self, lengths: list[int], batch_size: int, seed: int = 0, epoch: int = 0) -> None:
        self.lengths, self.batch_size, self.seed, self.epoch = lengths, batch_size, seed, epoch

    def __len__(self) -> int:
        chunk = self.batch_size * 16
        full, rest = divmod(len(self.lengths), chunk)
        return full * 16 + -(-rest // self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        rng = random.Random(self.seed * 100003 + self.epoch)
        self.epoch += 1
        order = list(range(len(self.lengths)))
        rng.shuffle(order)
        size, chunk, batches = self.batch_size, self.batch_size * 16, []
        for start in range(0, len(order), chunk):
            group = sorted(order[start : start + chunk], key=self.lengths.__getitem__)
            batches.extend(group[i : i + size] for i in range(0, len(group), size))
        rng.shuffle(batches)
        return iter(batches)


class GeneratorDataModule(LightningDataModule):
    """Batches of questions and target programs from a dataset folder.

    Args:
        data_dir: the dataset folder (``questions/<split>.jsonl``, optional ``vocab.json``).
        batch_size: questions per training batch (evaluation batches are twice as large).
        max_words: question words the generator reads and can copy (longer questions are cut).
        min_word_count: training-question words seen fewer times are ``<unk>``.
        eval_splits: splits ``test`` evaluates, one dataloader each (``name:unseen`` allowed).
        recombine: share of the training questions with a plain time expression ("after opening
            a door", "between A and B") trained on with another training question's time
            expression instead (:mod:`stair.generator.augment`; 0: off).
        recombine_anchors: share of the training questions with a known time-window anchor
            ("opening a door", "the longest action", "opening the thing they were holding
            last") trained on with other training questions' anchors in their place
            (:mod:`stair.generator.anchors`; 0: off); these are not also recombined as above.
        indirect_anchors: share of those anchor recombinations that make every anchor of the
            question an indirect reference (both ends of a ``between`` window).
        recombine_references: share of the training questions (recombined as above or not)
            with an object said "the <phrase>" replaced by an indirect reference ("the thing
            they were holding last"; :mod:`stair.generator.references`; 0: off).
            All are drawn afresh for each epoch when the trainer reloads its dataloaders every
            epoch (:meth:`train_dataloader`).
        num_workers: dataloader worker processes.
        seed: seed of the batch order and of the recombination.
    """

    def __init__(
        self,
        data_dir: str = "datasets/synth",
        batch_size: int = 64,
        max_words: int = 64,
        min_word_count: int = 1,
        eval_splits: list[str] | None = None,
        recombine: float = 0.0,
        recombine_anchors: float = 0.0,
        indirect_anchors: float = 0.0,
        recombine_references: float = 0.0,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.data_dir = Path(data_dir)
        self.batch_size, self.max_words, self.min_word_count = batch_size, max_words, min_word_count
        self.eval_splits = list(eval_splits or ["test"])
        self.num_workers, self.seed, self.recombine = num_workers, seed, recombine
        self.recombine_anchors, self.indirect_anchors = recombine_anchors, indirect_anchors
        self.recombine_references = recombine_references
        self.tokenizer: GeneratorTokenizer | None = None
        self._examples: dict[str, list[Example]] = {}
        self._training: tuple[int, list[Example]] | None = None  # (epoch, train recombined)
        #: the training questions' (words, tree) pairs and the lexicons learned from them
        self._lexicons: tuple[list, AnchorLexicon, ReferenceLexicon] | None = None

    def examples(self, split: str) -> list[Example]:
        """The examples of ``split`` (read and compiled once)."""
        if split not in self._examples:
            self._examples[split] = read_examples(self.data_dir, split)
            log.info("read %d questions of %s", len(self._examples[split]), split)
        return self._examples[split]

    def training_examples(self, epoch: int = 0) -> list[Example]:
        """The ``train`` examples, a ``recombine_anchors`` share of them with recombined anchors
        and a ``recombine`` share of the others with recombined time expressions, then a
        ``recombine_references`` share of all with an object turned into an indirect reference,
        drawn for ``epoch`` (seeded by the data seed and the epoch)."""
        train = self.examples("train")
        rates = (self.recombine, self.recombine_anchors, self.recombine_references)
        if max(rates) <= 0:
            return train
        if self._lexicons is None:  # learned once, from the training questions as they are
            pairs = [(tokenize(ex.question), ex.tree) for ex in train]
            anchors = AnchorLexicon.learn(pairs)
            self._lexicons = (pairs, anchors, ReferenceLexicon.learn(pairs, anchors))
        pairs, lexicon, references = self._lexicons
        seed = self.seed + 7919 * epoch
        anchored = recombine_anchors(pairs, self.recombine_anchors, lexicon, seed,
                                     self.indirect_anchors)  # fmt: skip
        timed = recombine(pairs, self.recombine, seed, lexicon)
        counts = {"anchors": 0, "time expressions": 0, "object references": 0}
        base = []  # each question with its anchors or time expression recombined, or None
        for by_anchor, by_time in zip(anchored, timed):
            new, what = (by_anchor, "anchors") if by_anchor else (by_time, "time expressions")
            counts[what] += new is not None
            base.append(new)
        mixed = [new or pair for new, pair in zip(base, pairs)]
        referenced = recombine_references(mixed, self.recombine_references, references, seed)
        out = []
        for ex, new, by_reference in zip(train, base, referenced):
            counts["object references"] += by_reference is not None
            new = by_reference or new
            if new is None:
                out.append(ex)
                continue
            words, tree = new
            out.append(Example(f"{ex.qid}:recombined", " ".join(words) + "?", tree,
                               tuple(to_tokens(tree))))  # fmt: skip
        log.info("recombined training questions: %s",
                 ", ".join(f"the {k} of {v}" for k, v in counts.items()))  # fmt: skip
        return out

    def vocabulary(self) -> tuple[GeneratorTokenizer, PhraseInventory]:
        """A tokenizer and phrase inventory built from the training split (and ``vocab.json``)."""
        train = self.examples("train")
        vocab_path = self.data_dir / "vocab.json"
        vocab = json.loads(vocab_path.read_text()) if vocab_path.exists() else {}
        inventory = PhraseInventory.from_vocab(vocab).fit(ex.tree for ex in train)
        tokenizer = GeneratorTokenizer.build(
            (ex.question for ex in train), inventory, self.max_words, self.min_word_count
        )
        return tokenizer, inventory

    def use_tokenizer(self, tokenizer: GeneratorTokenizer) -> None:
        """Encode with ``tokenizer`` (the model's)."""
        self.tokenizer = tokenizer

    def _encoded(self, examples: list[Example]) -> list[dict]:
        if self.tokenizer is None:
            raise RuntimeError("no tokenizer: train a generator (fit) or load one (--ckpt_path)")
        out = []
        for index, ex in enumerate(examples):
            words = self.tokenizer.words(ex.question)
            target = to_target(ex.tree, words, self.tokenizer.max_words)
            alternatives = {
                pos: [self.tokenizer.vocab[t] for t in tokens]
                for pos, tokens in copy_alternatives(target, words).items()
            }
            out.append({
                "index": index, "source": self.tokenizer.encode_source(words),
                "target": self.tokenizer.encode_target(target), "qlen": len(words),
                "alternatives": alternatives,
            })  # fmt: skip
        return out

    def _collate(self, examples: list[Example]):
        pad = self.tokenizer.pad_id

        def collate(items: list[dict]) -> dict:
            n, width = len(items), max(len(i["source"]) for i in items)
            length = max(len(i["target"]) for i in items)
            choices = max((len(a) for i in items for a in i["alternatives"].values()), default=1)
            source = torch.full((n, width), pad, dtype=torch.long)
            labels = torch.full((n, length), -100, dtype=torch.long)
            alternatives = torch.full((n, length, choices), -100, dtype=torch.long)
            for row, item in enumerate(items):
                source[row, : len(item["source"])] = torch.tensor(item["source"])
                labels[row, : len(item["target"])] = torch.tensor(item["target"])
                alternatives[row, :, 0] = labels[row]
                for pos, ids in item["alternatives"].items():
                    alternatives[row, pos, : len(ids)] = torch.tensor(ids)
            chosen = [examples[i["index"]] for i in items]
            return {
                "input_ids": source, "attention_mask": (source != pad).long(), "labels": labels,
                "alternatives": alternatives,
                "qlens": torch.tensor([i["qlen"] for i in items]),
                "questions": [ex.question for ex in chosen], "qids": [ex.qid for ex in chosen],
                "gold": [list(ex.tokens) for ex in chosen],
            }  # fmt: skip

        return collate

    def train_dataloader(self) -> DataLoader:
        """Training batches; recombined afresh for every epoch where the trainer reloads its
        dataloaders each epoch (``reload_dataloaders_every_n_epochs: 1``, as the configs do),
        else drawn once."""
        epoch = self.trainer.current_epoch if self.trainer is not None else 0
        if self._training is None or self._training[0] != epoch:
            self._training = (epoch, self.training_examples(epoch))
        examples = self._training[1]
        items = self._encoded(examples)
        lengths = [len(i["target"]) for i in items]
        sampler = LengthBatchSampler(lengths, self.batch_size, self.seed, epoch)
        return DataLoader(items, batch_sampler=sampler, num_workers=self.num_workers,
                          collate_fn=self._collate(examples))  # fmt: skip

    def _eval_loader(self, split: str) -> DataLoader:
        examples = self.examples(split)
        return DataLoader(
            self._encoded(examples), batch_size=self.batch_size * 2,
            num_workers=self.num_workers, collate_fn=self._collate(examples),
        )  # fmt: skip

    def val_dataloader(self) -> DataLoader:
        return self._eval_loader("val")

    def test_dataloader(self) -> list[DataLoader]:
        return [self._eval_loader(split) for split in self.eval_splits]
