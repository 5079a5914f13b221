"""Words: the question tokenizer, the word vocabulary and where phrases sit in questions.

The question encoder reads word ids; a phrase argument of the module tree ("opening a closet") is
embedded by pooling its span in the question when the question contains it, or by encoding the
phrase's own words when it does not (an indirect reference, a synonym, AGQA's ``objects`` for
"interacting with"). :func:`find_span` finds that span; :class:`WordVocabulary` maps words to ids
and is saved inside checkpoints as a plain list of words.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
PAD, UNK = "<pad>", "<unk>"


def tokenize(text: str) -> list[str]:
    """Lower-cased words; punctuation is dropped, ``in_front_of`` and ``phone/camera`` split."""
    return _WORD.findall(text.lower().replace("_", " "))


class WordVocabulary:
    """Word -> id with ``0`` = padding and ``1`` = unknown word."""

    def __init__(self, words: Sequence[str]) -> None:
        self.words = [PAD, UNK, *(w for w in dict.fromkeys(words) if w not in (PAD, UNK))]
        self.index = {w: i for i, w in enumerate(self.words)}

    @classmethod
    def build(cls, texts: Iterable[str], min_count: int = 1) -> WordVocabulary:
        """The words of ``texts`` seen at least ``min_count`` times, most frequent first."""
        counts = Counter(w for t in texts for w in tokenize(t))
        ordered = sorted(
            (w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w)
        )
        return cls(ordered)

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, text: str | Sequence[str]) -> list[int]:
        words = tokenize(text) if isinstance(text, str) else text
        return [self.index.get(w, 1) for w in words]

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.words[i] for i in ids if i != 0]


def find_span(phrase: str | Sequence[str], words: Sequence[str]) -> tuple[int, int] | None:
    """The first ``[start, end)`` word span of ``phrase`` in ``words``, or ``None``."""
    target = tokenize(phrase) if isinstance(phrase, str) else list(phrase)
    n = len(target)
    if not n:
        return None
    for start in range(len(words) - n + 1):
        if list(words[start : start + n]) == target:
            return start, start + n
    return None
