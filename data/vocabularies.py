"""What a model must know of its data (:class:`Vocabularies`), and how it is read off a folder."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from stair.engine.heads import AnswerVocabulary
from stair.engine.options import OpenVocabulary


@dataclass(frozen=True)
class Vocabularies:
    """Everything a model must know of its data, stored in checkpoints as plain lists.

    ``extra["features"]``: how the features were made (the feature store's settings: backbone,
    weights, frames, size), so a checkpoint can featurise a new video file the same way.
    ``answer_mode``: ``vocabulary``, ``multiple_choice`` or ``open`` (:mod:`stair.engine.options`;
    ``answers`` are then the open answers, without ``<unk>``).
    """

    words: list[str]
    concepts: list[str]
    categories: list[str]
    answers: list[str]
    max_count: int
    feature_dim: int
    num_frames: int
    answer_mode: str = "vocabulary"
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Vocabularies:
        return cls(**data)

    def concept_index(self) -> dict[str, int]:
        return {c: i for i, c in enumerate(self.concepts)}

    def answer_vocabulary(self) -> AnswerVocabulary | OpenVocabulary | None:
        """The answers the model scores (None: each question's options, multiple choice)."""
        if self.answer_mode == "vocabulary":
            return AnswerVocabulary(self.answers, self.max_count)
        return OpenVocabulary(self.answers) if self.answer_mode == "open" else None


def plain(value: Any) -> Any:
    """A feature-store attribute as plain JSON (numpy scalars and arrays become Python)."""
    return value.tolist() if hasattr(value, "tolist") else value


def concepts_of(vocab: dict[str, Any]) -> tuple[list[str], list[str]]:
    names: dict[str, str] = {}
    for category, key in (
        ("objects", "objects"),
        ("relations", "relations"),
        ("actions", "actions"),
    ):
        for item in vocab.get(key, []):
            names.setdefault(item["phrase"] if isinstance(item, dict) else str(item), category)
    return list(names), list(names.values())
