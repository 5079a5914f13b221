"""What the module network and the black-box baseline share: hyper-parameters and encoders.

:class:`Network` is the one declaration of the network's hyper-parameters: the models take it
(:class:`~stair.engine.model.STAIRModel`, :class:`~stair.engine.baseline.BlackBoxBaseline`),
and :class:`~stair.train.system.LitSTAIR` exposes it to the Lightning CLI (``--model.network.*``,
one ``--help`` line per field). Both models encode the videos and the questions alike:
:func:`build_video_encoder`, :func:`build_question_encoder`; :func:`build_concept_bank` makes
the module network's concept bank, learned or read off the pretrained question encoder.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from torch import nn

from stair.engine.encoders import QuestionEncoder, VideoEncoder, VideoKind
from stair.modules import ConceptBank
from stair.modules.bank import PretrainedConceptBank
from stair.programs.text import WordVocabulary

QuestionKind = Literal["lstm", "pretrained"]
BankKind = Literal["learned", "pretrained"]


@dataclass(frozen=True)
class Network:
    """The network's hyper-parameters (checkpoints store them as a plain dict).

    Args:
        hidden: size of frame states, phrase vectors and concepts (the modules' ``dim``).
        video_encoder: ``lstm`` (BiLSTM, as in the paper) or ``transformer``.
        question_encoder: ``lstm`` (BiLSTM over learned word embeddings) or ``pretrained``.
        pretrained_path: folder of a local ``transformers`` model (``question_encoder=pretrained``).
        freeze_pretrained: keep the pretrained encoder's weights fixed (its states are then
            cached per word sequence; only its projection learns); else it is fine-tuned.
        concept_bank: ``learned`` embeddings of the concept names, or ``pretrained``: the
            names embedded by the pretrained question encoder, fixed, and a learned projection.
        word_dim: word embedding size of the BiLSTM question encoder.
        dropout: dropout of the encoders (and the baseline's layers).
    """

    hidden: int = 256
    video_encoder: VideoKind = "lstm"
    question_encoder: QuestionKind = "lstm"
    pretrained_path: str | None = None
    freeze_pretrained: bool = False
    concept_bank: BankKind = "learned"
    word_dim: int = 300
    dropout: float = 0.1


DEFAULT_NETWORK = Network()


def build_video_encoder(vocabularies: Mapping[str, Any], network: Network) -> VideoEncoder:
    """Frame features (``vocabularies["feature_dim"]``) -> frame states of ``network.hidden``."""
    return VideoEncoder(
        int(vocabularies["feature_dim"]), network.hidden, network.video_encoder,
        dropout=network.dropout,
    )  # fmt: skip


def build_question_encoder(vocabularies: Mapping[str, Any], network: Network) -> nn.Module:
    """The BiLSTM question encoder, or a local ``transformers`` model (``pretrained_path``)."""
    words = WordVocabulary(vocabularies["words"]).words
    if network.question_encoder == "pretrained":
        from stair.engine.pretrained import PretrainedQuestionEncoder

        if network.pretrained_path is None:
            raise ValueError("question_encoder='pretrained' needs pretrained_path")
        return PretrainedQuestionEncoder(
            network.pretrained_path, words, network.hidden, freeze=network.freeze_pretrained
        )
    if network.question_encoder != "lstm":
        raise ValueError(
            f"unknown question encoder {network.question_encoder!r} (lstm or pretrained)"
        )
    return QuestionEncoder(
        len(words), network.hidden, word_dim=network.word_dim, dropout=network.dropout
    )


def build_concept_bank(
    vocabularies: Mapping[str, Any], network: Network, question_encoder: nn.Module
) -> ConceptBank:
    """The bank of the concept names: learned, or (``concept_bank="pretrained"``) their vectors
    from the pretrained ``question_encoder``, fixed, projected to ``network.hidden``."""
    concepts = list(vocabularies["concepts"])
    categories = dict(zip(concepts, vocabularies["categories"]))
    if network.concept_bank == "learned":
        return ConceptBank(concepts, network.hidden, categories)
    if network.concept_bank != "pretrained" or not hasattr(question_encoder, "embed_texts"):
        raise ValueError(
            f"concept_bank={network.concept_bank!r}: learned, or pretrained with "
            "question_encoder=pretrained"
        )
    vectors = question_encoder.embed_texts(concepts)
    return PretrainedConceptBank(concepts, vectors, network.hidden, categories)
