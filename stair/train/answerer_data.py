"""The pretrained-LM answerer's data: a dataset folder's questions as text, with prompts or not.

:class:`AnswererDataModule` reads ``questions/<split>.jsonl`` of a dataset folder
(:func:`stair.data.dataset.iter_questions`; a ``<split>:synonyms`` name asks the synthetic
questions with synonyms, :mod:`stair.data.synth.synonyms`) and turns each question into an
:class:`~stair.train.answerer.AnswerExample`. Its options follow the folder's answer mode
(``meta.json`` "answers", as :class:`~stair.data.datamodule.QADataModule`):

- ``vocabulary`` (the synthetic benchmark): every answer of ``vocab.json``;
- ``multiple_choice`` (NExT-QA, STAR, ``stair synth --choices N``): the question's own
  ``metadata.options`` (a question without options is refused, naming the file and the qid);
- ``open`` (MSRVTT-QA): the ``answer_top_k`` first answers of ``vocab.json`` (the most frequent
  training answers). A gold answer outside them has no right option: it counts as wrong and
  does not train.

Prompts (``prompts``: split -> a JSONL file written by ``stair prompt``, one
``{"qid", "question", "prompt", ...}`` line per question) are joined by qid. A question without
a prompt line reads an empty prompt (the question alone); how many there are is logged as a
warning per split and kept in :attr:`AnswererDataModule.missing`. A prompts file naming a qid
that is not in its split, or asking another question under a qid (a file of another dataset),
is refused (:class:`PromptsError`, naming the file). Without ``prompts`` every question is
read alone, and nothing is warned.
"""

from __future__ import annotations

import json
import logging
from functools import cached_property
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader

from stair.data.dataset import DatasetFormatError, QuestionRecord, iter_questions
from stair.data.synth import synonyms as synonym_split
from stair.engine.options import ANSWER_MODES
from stair.files import TextFileError, read_lines
from stair.train.answerer import AnswerExample, collate

log = logging.getLogger(__name__)
TEST_SPLITS = ("test", "test_novel", "test_more_steps")


class PromptsError(DatasetFormatError):
    """A prompts file (from ``stair prompt``) that is unreadable or not of the dataset's split."""


def read_prompts(path: str | Path) -> dict[str, tuple[int, str, str | None]]:
    """qid -> (line number, prompt, question or None) of a prompts file."""
    out: dict[str, tuple[int, str, str | None]] = {}
    try:
        for number, line in read_lines(path):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise PromptsError(path, f"line {number}", f"invalid JSON ({err.msg})") from None
            if not (isinstance(row, dict) and isinstance(row.get("qid"), str)
                    and isinstance(row.get("prompt"), str)):  # fmt: skip
                raise PromptsError(path, f"line {number}", 'not a {"qid", "prompt"} object')
            if row["qid"] in out:
                first = out[row["qid"]][0]
                raise PromptsError(path, f"line {number}", f"qid {row['qid']!r} again "
                                   f"(first on line {first})")  # fmt: skip
            question = row.get("question")
            question = question if isinstance(question, str) else None
            out[row["qid"]] = (number, row["prompt"], question)
    except TextFileError as err:
        raise PromptsError(path, "", err.reason) from None
    return out


class AnswererDataModule(L.LightningDataModule):
    """Questions (and prompts) of a dataset folder for :class:`~stair.train.answerer.AnswererLit`.

    Args:
        data_dir: the dataset folder.
        prompts: split -> a prompts file from ``stair prompt`` (None: no prompts at all).
        batch_size: questions per training batch.
        eval_batch_size: questions per validation / test / predict batch.
        limit: read only the first N questions of each split.
        answer_top_k: an open-ended dataset's options: the K most frequent training answers.
        train_split: the split ``fit`` trains on.
        val_split: the split ``fit`` validates on.
        test_splits: the splits ``test`` evaluates, one table row each (default: those of
            ``test``, ``test_novel``, ``test_more_steps`` the folder has).
        predict_split: the split ``predict`` answers.
        seed: shuffling seed.
    """

    def __init__(
        self,
        data_dir: str = "datasets/synth",
        prompts: dict[str, str] | None = None,
        batch_size: int = 64,
        eval_batch_size: int = 128,
        limit: int | None = None,
        answer_top_k: int = 1000,
        train_split: str = "train",
        val_split: str = "val",
        test_splits: list[str] | None = None,
        predict_split: str = "test",
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.root = Path(data_dir)
        self.prompts = {str(k): str(v) for k, v in (prompts or {}).items()}
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
        self.limit, self.answer_top_k, self.seed = limit, answer_top_k, seed
        self.train_split, self.val_split, self.predict_split = train_split, val_split, predict_split
        self._test_splits = list(test_splits) if test_splits else None
        #: split -> how many of its questions have no prompt line (splits read so far)
        self.missing: dict[str, int] = {}
        self._examples: dict[str, list[AnswerExample]] = {}

    # -- the folder -----------------------------------------------------------------------------
    def _json(self, name: str) -> Any:
        path = self.root / name
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise DatasetFormatError(path, "", f"cannot read ({err})") from None

    @cached_property
    def answer_mode(self) -> str:
        """``meta.json`` "answers" (``multiple_choice``, ``open``), else ``vocabulary``."""
        mode = self._json("meta.json").get("answers", "vocabulary")
        if mode not in ANSWER_MODES:
            raise DatasetFormatError(self.root / "meta.json", "answers",
                                     f"unknown answer mode {mode!r}")  # fmt: skip
        return mode

    @cached_property
    def answers(self) -> tuple[str, ...]:
        """The options of the ``vocabulary`` and ``open`` modes (from ``vocab.json``)."""
        answers = tuple(str(a) for a in self._json("vocab.json").get("answers", []))
        return answers[: self.answer_top_k] if self.answer_mode == "open" else answers

    @property
    def test_splits(self) -> list[str]:
        if self._test_splits is not None:
            return self._test_splits
        return [s for s in TEST_SPLITS if (self.root / "questions" / f"{s}.jsonl").exists()]

    @property
    def splits(self) -> list[str]:
        """Every split this module may read."""
        named = [self.train_split, self.val_split, *self.test_splits, self.predict_split]
        return list(dict.fromkeys(named))

    def path(self, split: str) -> Path:
        return self.root / "questions" / f"{split.removesuffix(synonym_split.SUFFIX)}.jsonl"

    def records(self, split: str) -> list[QuestionRecord]:
        """Every question of ``split`` (``<split>:synonyms``: asked with synonyms)."""
        path = self.path(split)
        if not path.exists():
            raise DatasetFormatError(path, "", f"no {split!r} split in {self.root}")
        records = list(iter_questions(path))
        if split.endswith(synonym_split.SUFFIX):
            records = [synonym_split.with_synonyms(r) for r in records]
        return records

    def example(self, split: str, record: QuestionRecord, prompt: str) -> AnswerExample:
        if self.answer_mode == "multiple_choice":
            options = tuple(record.metadata.options)
            if not options:
                raise DatasetFormatError(self.path(split), f"qid {record.qid}",
                                         "a multiple-choice question without options")  # fmt: skip
        else:
            options = self.answers
        right = options.index(record.answer) if record.answer in options else -1
        return AnswerExample(record.qid, prompt, record.question, options, right)

    def examples(self, split: str) -> list[AnswerExample]:
        """The questions of ``split`` (its first ``limit``) with their prompts, read once."""
        if split in self._examples:
            return self._examples[split]
        unknown = sorted(set(self.prompts) - set(self.splits))
        if unknown:
            raise PromptsError(self.prompts[unknown[0]], "", f"prompts for split {unknown[0]!r}, "
                               f"which is not read (splits: {', '.join(self.splits)})")  # fmt: skip
        records = self.records(split)
        prompts = self._prompts(split, records)
        kept = records[: self.limit] if self.limit is not None else records
        missing = sum(r.qid not in prompts for r in kept)
        self.missing[split] = missing if self.prompts else 0
        if self.prompts and split not in self.prompts:
            given = ", ".join(self.prompts)
            log.warning("%s: no prompts file (prompts are given for %s): its %d questions are "
                        "read without a prompt", split, given, len(kept))  # fmt: skip
        elif self.prompts and missing:
            log.warning("%s: %d of %d questions have no prompt in %s; they are read without one",
                        split, missing, len(kept), self.prompts[split])  # fmt: skip
        self._examples[split] = [self.example(split, r, prompts.get(r.qid, "")) for r in kept]
        log.info("%s: %d questions (%s options)", split, len(kept), self.answer_mode)
        return self._examples[split]

    def _prompts(self, split: str, records: list[QuestionRecord]) -> dict[str, str]:
        """qid -> prompt of ``split``, checked against its questions."""
        if split not in self.prompts:
            return {}
        path = self.prompts[split]
        rows = read_prompts(path)
        questions = {r.qid: r.question for r in records}
        foreign = sorted(q for q in rows if q not in questions)
        if foreign:
            raise PromptsError(path, "", f"{len(foreign)} qid(s) are not questions of the "
                               f"{split!r} split of {self.root}, e.g. {foreign[:3]}")  # fmt: skip
        for qid, (number, _, question) in rows.items():
            if question is not None and question != questions[qid]:
                raise PromptsError(path, f"line {number}", f"qid {qid!r} asks {question!r}, the "
                                   f"{split!r} split {questions[qid]!r}: prompts of another "
                                   "dataset?")  # fmt: skip
        return {qid: prompt for qid, (_, prompt, _) in rows.items()}

    # -- Lightning hooks ------------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        wanted = {"fit": [self.train_split, self.val_split], "validate": [self.val_split],
                  "test": self.test_splits, "predict": [self.predict_split]}  # fmt: skip
        for split in wanted.get(stage or "", self.splits):
            self.examples(split)

    def loader(self, split: str, train: bool = False) -> DataLoader:
        generator = torch.Generator().manual_seed(self.seed)
        size = self.batch_size if train else self.eval_batch_size
        return DataLoader(self.examples(split), batch_size=size, shuffle=train,
                          collate_fn=collate, generator=generator if train else None)  # fmt: skip

    def train_dataloader(self) -> DataLoader:
        return self.loader(self.train_split, train=True)

    def val_dataloader(self) -> DataLoader:
        return self.loader(self.val_split)

    def test_dataloader(self) -> list[DataLoader]:
        return [self.loader(s) for s in self.test_splits]

    def predict_dataloader(self) -> DataLoader:
        return self.loader(self.predict_split)
