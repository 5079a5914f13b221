"""What the module network and the black-box baseline share: hyper-parameters and encoders.

:class:`Network` is the one declaration of the network's hyper-parameters: the models take it
(:class:`~stair.engine.model.STAIRModel`, :class:`~stair.engine.baseline.BlackBoxBaseline`),
and :class:`~stair.train.system.LitSTAIR` exposes it to the Lightning CLI (``--model.network.*``,
one ``--help`` line per field). Both models encode the videos and the questions alike:
:func:`build_video_encoder`, :func:`build_question_encoder`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from torch import nn

from stair.engine.encoders import QuestionEncoder, VideoEncoder, VideoKind
from stair.programs.text import WordVocab

QuestionKind = Literal["lstm", "pretrained"]


@dataclass(frozen=True)
class Network:
    """The network's hyper-parameters (checkpoints store them as a plain dict).

    Args:
        hidden: size of frame states, phrase vectors and concepts (the modules' ``dim``).
        video_encoder: ``lstm`` (BiLSTM, as in the paper) or ``transformer``.
        question_encoder: ``lstm`` (BiLSTM over learned word embeddings) or ``pretrained``.
        pretrained_path: folder of a local ``transformers`` model (``question_encoder=pretrained``).
        word_dim: word embedding size of the BiLSTM question encoder.
        dropout: dropout of the encoders (and the baseline's layers).
    """

    hidden: int = 256
    video_encoder: VideoKind = "lstm"
    question_encoder: QuestionKind = "lstm"
    pretrained_path: str | None = None
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
    words = WordVocab(vocabularies["words"]).words
    if network.question_encoder == "pretrained":
        from stair.engine.pretrained import PretrainedQuestionEncoder

        if network.pretrained_path is None:
            raise ValueError("question_encoder='pretrained' needs pretrained_path")
        return PretrainedQuestionEncoder(network.pretrained_path, words, network.hidden)
    if network.question_encoder != "lstm":
        raise ValueError(
            f"unknown question encoder {network.question_encoder!r} (lstm or pretrained)"
        )
    return QuestionEncoder(
        len(words), network.hidden, word_dim=network.word_dim, dropout=network.dropout
    )
