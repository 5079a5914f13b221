"""The LightningDataModule that serves :class:`~stair.engine.batch.QABatch` es from a dataset
folder.

A dataset folder is the synthetic benchmark's format (:mod:`stair.data.dataset`) — also what
:mod:`stair.data.agqa.prepare` writes for AGQA: ``questions/<split>.jsonl``, ``vocab.json``,
``meta.json``, ``features.h5`` and optionally ``scene_graphs.json``.

Programs (``meta.json`` "programs", :mod:`stair.data.programs_source`): in an ``annotated``
folder they are the gold ones (compiled from each record's AGQA program); with ``programs`` (a
file of generated ones, e.g. from ``stair generator predict --out FILE``) every evaluation split
``<split>`` is also served as ``<split>:generated``, the same questions on the generated
programs, so validation and test report answer accuracy with gold and generated programs side by
side, and training uses gold programs. A folder without annotations (``none`` or
``generator:<id>``: NExT-QA, STAR, MSRVTT-QA) trains and evaluates on its generated programs
(``programs``, else the folder's ``programs.jsonl``) with their step golds; a question without a
usable one is answered by the declared fallback program (metadata ``fallback``: true), never
silently.

The answer mode (:mod:`stair.engine.options`) comes from ``meta.json`` "answers":
``multiple_choice`` (each question answers one of its ``metadata.options``), ``open`` (the
``answer_top_k`` most frequent training answers of ``vocab.json``, the rest ``<unk>``), else
``vocabulary`` (every answer of ``vocab.json``: the synthetic benchmark).

Questions are read lazily, in bounded memory: each split's question file has a memory-mapped
index (:mod:`stair.data.question_index`, built on first use by one checking pass, shared by the
processes of a node), :meth:`QADataModule.records` and :meth:`QADataModule.examples` are
sequences over it, and a question is parsed, compiled and turned into its example when the
loader asks for it (:class:`~stair.data.qa_dataset.LazyExamples`), in the loader's workers. A
malformed record fails when the index is built; a program that does not compile, or a
multiple-choice question without options, when it is read; both name the file and the line.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from functools import cached_property
from pathlib import Path
from typing import Any

import lightning as L
from torch.utils.data import DataLoader

from stair.data.dataset import DatasetFormatError
from stair.data.programs_source import (
    ANNOTATED,
    PROGRAMS_FILE,
    ProgramLine,
    program_source,
    read_programs,
)
from stair.data.qa_dataset import (
    Collate,
    ExampleBuilder,
    LazyExamples,
    QADataset,
    VideoBatchSampler,
)
from stair.data.question_index import QuestionRecords, open_index
from stair.data.synth import synonyms as synonym_split
from stair.data.video.store import FeatureStore
from stair.data.vocabularies import Vocabularies, concepts_of, plain
from stair.engine.options import ANSWER_MODES, OpenVocabulary
from stair.errors import CheckpointError
from stair.programs.text import WordVocabulary, tokenize

log = logging.getLogger(__name__)
TEST_SPLITS = ("test", "test_novel", "test_more_steps")
#: suffix of a split served on the generated programs (``test:generated``)
GENERATED = ":generated"


class QADataModule(L.LightningDataModule):
    """Question-answering batches for training and evaluation.

    Args:
        data_dir: the dataset folder.
        batch_size: questions per training batch.
        eval_batch_size: questions per validation / test batch.
        num_workers: DataLoader worker processes.
        group_by_video: fill batches video by video, so each video is encoded once per batch.
        programs: a JSONL file of generated programs (``{"qid", "tokens"}`` prefix tokens or
            ``{"qid", "program"}`` AGQA strings): in an annotated folder validation and test
            also run each split on them, as ``<split>:generated``; in a folder without
            annotations they are its programs (default: the folder's ``programs.jsonl``).
        features: a feature store to use instead of ``<data_dir>/features.h5``.
        max_count: the largest count a Count answer can give.
        answer_top_k: an open-ended dataset's answers: the K most frequent training answers
            (the rest are ``<unk>``, counted wrong at evaluation).
        synthesize: generate the default synthetic benchmark into ``data_dir`` if it is missing.
        synth_choices: with ``synthesize``, its multiple-choice variant with this many options
            per question (``stair synth --choices``; 0: open answers).
        synonyms: also test on ``test:synonyms`` (the synthetic test questions asked with
            synonyms never seen in training, :mod:`stair.data.synth.synonyms`); the word
            vocabulary then holds the synonyms too.
        seed: shuffling seed.
        keep_examples: hold each question's example once built, so later epochs parse and
            compile nothing, in splits of at most this many questions (0: never; larger splits
            are built anew each time, in bounded memory).
        vocabularies_from: a model checkpoint whose vocabularies (words, concepts, answers) the
            data are read with instead of the folder's own, so that a trained model sees the
            ids it learned (a word it never saw reads as ``<unk>``). ``stair validate | test |
            predict --ckpt_path F`` sets it to ``F``.
    """

    def __init__(
        self,
        data_dir: str = "datasets/synth",
        batch_size: int = 64,
        eval_batch_size: int = 256,
        num_workers: int = 0,
        group_by_video: bool = True,
        programs: str | None = None,
        features: str | None = None,
        max_count: int = 10,
        answer_top_k: int = 1000,
        synthesize: bool = False,
        synth_choices: int = 0,
        synonyms: bool = False,
        seed: int = 0,
        keep_examples: int = 100_000,
        vocabularies_from: str | None = None,
    ) -> None:
        super().__init__()
        self.root = Path(data_dir)
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
        self.num_workers, self.group_by_video, self.seed = num_workers, group_by_video, seed
        self.programs_path = Path(programs) if programs else None
        self.features_path = Path(features) if features else self.root / "features.h5"
        self.max_count, self.synthesize = max_count, synthesize
        self.answer_top_k, self.synth_choices = answer_top_k, synth_choices
        self.synonyms, self.keep_examples = synonyms, keep_examples
        self.vocabularies_from = vocabularies_from
        self.datasets: dict[str, QADataset] = {}

    # -- reading the folder ---------------------------------------------------------------------
    def _ensure(self) -> None:
        if (self.root / "meta.json").exists():
            return
        if not self.synthesize:
            raise DatasetFormatError(self.root, "", "no dataset here (run `stair synth --out DIR`)")
        from stair.data.synth.build import SynthConfig, build_synth_dataset

        log.info("generating the synthetic benchmark into %s", self.root)
        build_synth_dataset(self.root, SynthConfig(choices=self.synth_choices), progress=True)

    def _json(self, name: str) -> Any:
        path = self.root / name
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise DatasetFormatError(path, "", f"cannot read ({err})") from err

    def records(self, split: str) -> QuestionRecords:
        """The records of ``split`` (``<split>:synonyms``: asked with synonyms), read one at a
        time through the split's question index (built on first use, which checks every line:
        a bad record raises :class:`DatasetFormatError` naming the file and the line)."""
        synonyms = split.endswith(synonym_split.SUFFIX)
        split = split.removesuffix(synonym_split.SUFFIX).removesuffix(GENERATED)
        path = self.root / "questions" / f"{split}.jsonl"
        if not path.exists():
            raise DatasetFormatError(path, "", f"no {split!r} split in {self.root}")
        return QuestionRecords(open_index(path), synonym_split.with_synonyms if synonyms else None)

    def _with_generated(self, splits: list[str]) -> list[str]:
        """``splits``, each followed by its ``:generated`` twin if there are generated programs
        besides the annotated ones."""
        if self.programs_path is None or not self.annotated:
            return list(splits)
        return [name for s in splits for name in (s, s + GENERATED)]

    @property
    def test_splits(self) -> list[str]:
        found = [s for s in TEST_SPLITS if (self.root / "questions" / f"{s}.jsonl").exists()]
        extra = ["test" + synonym_split.SUFFIX] if self.synonyms and "test" in found else []
        return self._with_generated(found) + extra

    @property
    def val_splits(self) -> list[str]:
        return self._with_generated(["val"])

    @cached_property
    def store(self) -> FeatureStore:
        self._ensure()
        return FeatureStore(self.features_path)

    @cached_property
    def vocabularies(self) -> Vocabularies:
        """Words, concepts and answers (from ``vocab.json`` and the training questions, or
        those of the ``vocabularies_from`` checkpoint)."""
        self._ensure()
        if self.vocabularies_from is not None:
            return self._checkpoint_vocabularies(self.vocabularies_from)
        vocab = self._json("vocab.json")
        mode = self.answer_mode
        concepts, categories = concepts_of(vocab)
        answers = [str(a) for a in vocab.get("answers", [])]
        if mode == "open":
            answers = answers[: self.answer_top_k]
        train = self.records("train").index  # its word counts: no question is read
        counts = Counter(train.question_words)
        texts = concepts + (synonym_split.synonym_words() if self.synonyms else [])
        texts += answers if mode == "open" else []
        counts.update(w for text in texts for w in tokenize(text))
        counts.update(train.option_words if mode == "multiple_choice" else {})
        ordered = sorted(counts, key=lambda w: (-counts[w], w))  # as WordVocabulary.build
        words = WordVocabulary(ordered).words[2:]
        first = self.store.get(self.store.ids()[0])[0]
        settings = {k: plain(v) for k, v in self.store.attrs.items()}
        return Vocabularies(
            words=words,
            concepts=concepts,
            categories=categories,
            answers=answers,
            max_count=self.max_count,
            feature_dim=int(first.shape[1]),
            num_frames=int(first.shape[0]),
            answer_mode=mode,
            extra={"features": settings},
        )

    def _checkpoint_vocabularies(self, path: str) -> Vocabularies:
        """The vocabularies a model checkpoint was trained with, checked against this folder."""
        from stair.checkpoints import SafeCheckpointIO

        saved = (SafeCheckpointIO().load_checkpoint(path).get("hyper_parameters") or {}).get(
            "vocabularies"
        )
        if not isinstance(saved, dict):
            raise CheckpointError(path, "it holds no vocabularies (not a STAIR model checkpoint)")
        return self._checked(Vocabularies.from_dict(dict(saved)), path)

    def read_with(self, vocabularies: dict | Vocabularies, source: object) -> None:
        """Read the data from now on with a trained model's vocabularies (``source``: where they
        come from, for errors), so that words and concepts have the ids it learned: what
        ``vocabularies_from`` does for a checkpoint file, for a model already loaded."""
        if isinstance(vocabularies, dict):
            vocabularies = Vocabularies.from_dict(dict(vocabularies))
        self.__dict__["vocabularies"] = self._checked(vocabularies, source)

    def _checked(self, voc: Vocabularies, source: object) -> Vocabularies:
        """``voc``, if it can read this folder (feature size, answer mode); else CheckpointError."""
        dim = int(self.store.get(self.store.ids()[0])[0].shape[1])
        if voc.feature_dim != dim:
            raise CheckpointError(
                source, f"it was trained on {voc.feature_dim}-d features; {self.features_path} "
                f"holds {dim}-d ones",
            )  # fmt: skip
        if voc.answer_mode != self.answer_mode:
            raise CheckpointError(
                source,
                f"it answers in {voc.answer_mode!r} mode; {self.root} is {self.answer_mode!r}",
            )
        return voc

    @cached_property
    def answer_mode(self) -> str:
        """``meta.json`` "answers" (``multiple_choice``, ``open``), else ``vocabulary``."""
        self._ensure()
        mode = self._json("meta.json").get("answers", "vocabulary")
        if mode not in ANSWER_MODES:
            known = ", ".join(ANSWER_MODES)
            raise DatasetFormatError(
                self.root / "meta.json", "answers", f"unknown answer mode {mode!r} ({known})"
            )
        return mode

    @cached_property
    def program_source(self) -> str:
        """``meta.json`` "programs": ``annotated``, ``none`` or ``generator:<id>``."""
        self._ensure()
        return program_source(self._json("meta.json"))

    @cached_property
    def benchmark(self) -> str | None:
        """``meta.json`` "benchmark" (nextqa, star, msrvtt, ...; None: the synthetic one)."""
        self._ensure()
        return self._json("meta.json").get("benchmark")

    @property
    def annotated(self) -> bool:
        """Whether the records' programs are gold ones."""
        return self.program_source == ANNOTATED

    @cached_property
    def generated(self) -> dict[str, ProgramLine] | None:
        """qid -> generated program: ``programs``, else (a folder without annotations) its
        ``programs.jsonl`` if there is one."""
        path = self.programs_path
        if path is None and not self.annotated and (self.root / PROGRAMS_FILE).exists():
            path = self.root / PROGRAMS_FILE
        return None if path is None else read_programs(path)

    def examples(self, split: str) -> LazyExamples:
        """The questions of ``split``, each built when it is read (:class:`LazyExamples`);
        ``<split>:generated`` puts the generated programs in place of the gold ones (a question
        without one keeps its gold program) and keeps the step golds only where the generated
        program is the gold one. Checked now: the programs file and every video's features."""
        generated = self.generated if split.endswith(GENERATED) else None
        if split.endswith(GENERATED) and generated is None:
            raise DatasetFormatError(self.root, "", f"split {split!r} needs generated programs "
                                     "(QADataModule(programs=...), --data.programs)")  # fmt: skip
        records = self.records(split)
        missing = [v for v in records.videos if v not in self.store]
        if missing:
            raise DatasetFormatError(
                self.features_path, "", f"no features for {len(missing)} video(s) of the "
                f"{split!r} split, e.g. {sorted(missing)[:3]}",
            )  # fmt: skip
        voc, unknown = self.vocabularies, -1
        vocabulary = None if voc.answer_mode == "multiple_choice" else voc.answer_vocabulary()
        if isinstance(vocabulary, OpenVocabulary) and split == "train":
            unknown = vocabulary.unknown  # a training answer outside the open vocabulary
        build = ExampleBuilder(
            path=records.index.jsonl, split=split, annotated=self.annotated,
            generated=generated if self.annotated else (self.generated or {}),
            answers=None if vocabulary is None else vocabulary.index, missing=unknown,
        )  # fmt: skip
        return LazyExamples(records, build, keep=len(records) <= self.keep_examples)

    # -- Lightning hooks ------------------------------------------------------------------------
    def prepare_data(self) -> None:
        self._ensure()

    def setup(self, stage: str | None = None) -> None:
        wanted = {
            "fit": ["train", *self.val_splits], "validate": self.val_splits,
            "test": self.test_splits, "predict": [self.predict_split],
            None: ["train", *self.val_splits, *self.test_splits],
        }[stage]  # fmt: skip
        for split in wanted:
            if split not in self.datasets:
                self.datasets[split] = QADataset(self.examples(split))

    @cached_property
    def collate(self) -> Collate:
        voc = self.vocabularies
        graph_times = None
        if (
            self.store.attrs.get("backbone") != "symbolic"
            and (self.root / "scene_graphs.json").exists()
        ):
            from stair.programs import load_scene_graphs

            graphs = load_scene_graphs(self.root / "scene_graphs.json")
            graph_times = {
                v: [g.time_of(i) for i in range(g.num_frames)] for v, g in graphs.items()
            }
        return Collate(self.store, WordVocabulary(voc.words), voc.concept_index(), graph_times)

    def loader(self, split: str, train: bool = False) -> DataLoader:
        if split not in self.datasets:
            self.datasets[split] = QADataset(self.examples(split))
        dataset = self.datasets[split]
        size = self.batch_size if train else self.eval_batch_size
        common = dict(collate_fn=self.collate, num_workers=self.num_workers,
                      persistent_workers=self.num_workers > 0)  # fmt: skip
        if self.group_by_video:
            sampler = VideoBatchSampler(dataset.video_ids(), size, shuffle=train, seed=self.seed)
            return DataLoader(dataset, batch_sampler=sampler, **common)
        return DataLoader(dataset, batch_size=size, shuffle=train, **common)

    def train_dataloader(self) -> DataLoader:
        return self.loader("train", train=True)

    def val_dataloader(self) -> DataLoader | list[DataLoader]:
        loaders = [self.loader(s) for s in self.val_splits]
        return loaders[0] if len(loaders) == 1 else loaders

    def test_dataloader(self) -> list[DataLoader]:
        return [self.loader(s) for s in self.test_splits]

    @property
    def predict_split(self) -> str:
        """``test``, on the generated programs when there are some."""
        return "test" + GENERATED if self.programs_path and self.annotated else "test"

    def predict_dataloader(self) -> DataLoader:
        return self.loader(self.predict_split)
