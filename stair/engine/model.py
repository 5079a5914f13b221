"""The STAIR module network: encoders, concept bank, neural modules, batched executor, answer head.

:class:`STAIRModel` turns a :class:`~stair.engine.batch.QABatch` into answer logits and the full
:class:`~stair.engine.executor.Trace` (every step's typed value), in one pass:

1. each distinct video of the batch is encoded once (``[V, T, F] -> [V, T, H]``);
2. the questions are encoded, and every phrase argument of the module trees is embedded from
   its span in the question (or from its own words: :func:`~stair.engine.encoders.phrase_vectors`);
3. the batched executor runs all trees at once (one call per group of nodes);
4. the typed answer head reads the answer off each root value (faithful by construction): over
   the global answer vocabulary, or, for a multiple-choice or open-ended dataset, over each
   question's candidates (:class:`~stair.engine.options.CandidateHead`).

``vocabularies`` is the plain-dict form of the data module's vocabularies: ``words``,
``concepts`` with their ``categories``, ``answers``, ``max_count``, ``feature_dim`` and
``answer_mode`` (:data:`~stair.engine.options.ANSWER_MODES`; default ``vocabulary``). A pure
``nn.Module``: training, losses and metrics live in :mod:`stair.train.system`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from stair.engine.batch import QABatch
from stair.engine.encoders import QuestionEncoder, phrase_vectors
from stair.engine.executor import Trace, execute
from stair.engine.heads import AnswerVocabulary, TypedAnswerHead
from stair.engine.network import (
    DEFAULT_NETWORK,
    Network,
    build_concept_bank,
    build_question_encoder,
    build_video_encoder,
)
from stair.engine.options import (
    CandidateHead,
    Candidates,
    OpenVocabulary,
    candidate_mode,
    encode_candidates,
)
from stair.modules import build_modules
from stair.programs.text import WordVocabulary
from stair.values import ExecutionError, Video


@dataclass
class ModelOutput:
    """What a model gives for a batch: answer logits, the valid answers, and the trace."""

    logits: Tensor  # [B, A]
    valid: Tensor  # [B, A] bool: the answers each question's root type can give
    trace: Trace | None = None  # None for black-box models
    text: Tensor | None = None  # [P, H] the phrase vectors (rows of the batch's TextIndex)
    #: per question, the answer each column of ``logits`` stands for, for a multiple-choice
    #: batch (its candidates); None: the columns are the model's answer vocabulary
    candidates: list[list[str]] | None = None

    def words(self, b: int, answers: Sequence[str] | None) -> Sequence[str]:
        """The answer of each column of question ``b``'s logits (``answers``: the model's
        answer vocabulary, for a batch without candidates)."""
        if self.candidates is not None:
            return self.candidates[b]
        if answers is None:
            raise ExecutionError("a multiple-choice model's output without its candidates")
        return answers


class STAIRModel(nn.Module):
    """Video + module trees + question -> answer logits and every step's value.

    ``network``: the hyper-parameters (:class:`~stair.engine.network.Network`; ``hidden`` is
    the modules' ``dim``). ``share_localizer``: ``Superlative`` localises its candidates with
    ``Localize``'s own parameters (the same bilinear frame match), so that the supervision of
    every localised action phrase also trains the durations it compares.
    """

    def __init__(
        self,
        vocabularies: Mapping[str, Any],
        network: Network = DEFAULT_NETWORK,
        share_localizer: bool = True,
    ) -> None:
        super().__init__()
        concepts = list(vocabularies["concepts"])
        self.hidden = hidden = network.hidden
        self.video_encoder = build_video_encoder(vocabularies, network)
        self.question_encoder = build_question_encoder(vocabularies, network)
        self.text_proj = nn.Linear(hidden, hidden)
        self.bank = build_concept_bank(vocabularies, network, self.question_encoder)
        names = Candidates.build([concepts], WordVocabulary(vocabularies["words"]))
        self.register_buffer("concept_words", names.words, persistent=False)
        max_count = int(vocabularies["max_count"])
        self.nmn = build_modules(dim=hidden, max_count=max_count, share=share_localizer)
        self.answer_mode = vocabularies.get("answer_mode", "vocabulary")
        if self.answer_mode == "vocabulary":
            self.answer_vocabulary: AnswerVocabulary | OpenVocabulary | None = AnswerVocabulary(
                list(vocabularies["answers"]), max_count
            )
            self.head: TypedAnswerHead | CandidateHead = TypedAnswerHead(
                self.answer_vocabulary, concepts
            )
            self.open: Candidates | None = None
        else:
            self.answer_vocabulary, self.open = candidate_mode(self.answer_mode, vocabularies)
            self.head = CandidateHead(hidden, max_count, concepts)

    def encode_videos(self, features: Tensor, mask: Tensor) -> Video:
        """The distinct videos ``[V, T, F]`` as a raw :class:`Video` of frame states."""
        return Video.from_features(self.video_encoder(features, mask), mask)

    def encode_text(self, batch: QABatch) -> tuple[Tensor, Tensor]:
        """Phrase vectors ``[P, H]`` (rows of ``batch.text_index``) and sentences ``[B, H]``."""
        words = batch.questions
        tree_of = torch.as_tensor(batch.text_index.tree_of, device=words.device, dtype=torch.long)
        phrases, sentence = phrase_vectors(
            self.question_encoder, words, tree_of, batch.phrase_spans, batch.phrase_words
        )
        return self.text_proj(phrases), sentence

    def encode_concepts(self) -> Tensor | None:
        """Every bank concept's name encoded as a phrase, ``[V, H]`` (the question encoder's
        learned words; None with a pretrained encoder, whose words are not ids)."""
        if not isinstance(self.question_encoder, QuestionEncoder):
            return None
        return self.text_proj(encode_candidates(self.question_encoder, self.concept_words))

    def forward(self, batch: QABatch) -> ModelOutput:
        video = self.encode_videos(batch.features, batch.frame_mask)
        text, sentence = self.encode_text(batch)
        concepts = self.encode_concepts()
        plan = batch.plan.to(video.mask.device)
        trace = execute(plan, self.nmn, text, video, self.bank, concepts)
        if isinstance(self.head, TypedAnswerHead):
            with torch.autocast(video.features.device.type, enabled=False):  # answers in fp32
                logits, valid = self.head(trace, self.bank.embeddings)
            return ModelOutput(logits, valid, trace, text)
        candidates = self.candidates(batch)
        vectors = self.text_proj(encode_candidates(self.question_encoder, candidates.words))
        with torch.autocast(video.features.device.type, enabled=False):  # answers in fp32
            logits, valid = self.head(
                trace, self.bank.embeddings, candidates, vectors.float(), sentence.float()
            )
        texts = batch.candidates.texts if batch.candidates is not None else None
        return ModelOutput(logits, valid, trace, text, texts)

    def candidates(self, batch: QABatch) -> Candidates:
        """The batch's own candidates (multiple choice) or the open vocabulary's, on the
        batch's device."""
        device = batch.questions.device
        if self.open is not None:
            return self.open.expand(len(batch)).to(device)
        if batch.candidates is None:
            raise ExecutionError("a multiple-choice model needs each question's options")
        return batch.candidates.to(device)
