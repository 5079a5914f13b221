"""The ``test:synonyms`` split: test questions asked with words the training data never uses.

Each object word of the synthetic vocabulary and the verbs of its actions have one synonym
(:data:`SYNONYMS`: cup -> mug, sofa -> couch, drinking -> sipping, ...), none of them a word of
the benchmark. :func:`with_synonyms` rewrites a question record: its text and the phrases of its
program word by word (the program is parsed and printed back, never edited as a string); its
answer, its golds and its options stay the dataset's, since they name the concepts of the model's
vocabulary (a question about a "mug" still has the concept ``cup`` as its answer). A model with
learned word embeddings has never trained the synonyms; a pretrained encoder knows them: the
split measures what it buys.
"""

from __future__ import annotations

import re
from dataclasses import replace

from stair.data.dataset import QuestionRecord
from stair.programs.ast import Atom, Expr, ListArg, to_agqa
from stair.programs.parser import parse

#: word -> its synonym (objects, then action verbs in their -ing and base forms)
SYNONYMS: dict[str, str] = {
    "bag": "backpack", "bed": "bunk", "blanket": "quilt", "book": "novel", "box": "carton",
    "broom": "brush", "chair": "seat", "cup": "mug", "dish": "plate", "door": "doorway",
    "laptop": "notebook", "mirror": "reflection", "phone": "cellphone", "pillow": "cushion",
    "refrigerator": "fridge", "sandwich": "sub", "shoe": "sneaker", "sofa": "couch",
    "table": "desk", "television": "tv", "towel": "cloth", "window": "windowpane",
    "closing": "shutting", "close": "shut", "drinking": "sipping", "drink": "sip",
    "washing": "rinsing", "wash": "rinse", "eating": "munching", "eat": "munch",
    "throwing": "tossing", "throw": "toss", "tidying": "sweeping", "tidy": "sweep",
    "watching": "viewing", "watch": "view", "snuggling": "cuddling", "snuggle": "cuddle",
    "wiping": "cleaning", "wipe": "clean", "taking": "grabbing", "take": "grab",
}  # fmt: skip
#: suffix of the split served with synonyms (``test:synonyms``)
SUFFIX = ":synonyms"
_WORD = re.compile(r"[A-Za-z]+")


def swap_words(text: str) -> str:
    """``text`` with every word of :data:`SYNONYMS` replaced (a capital first letter kept)."""

    def swap(match: re.Match[str]) -> str:
        word = match.group(0)
        new = SYNONYMS.get(word.lower())
        if new is None:
            return word
        return new.capitalize() if word[0].isupper() else new

    return _WORD.sub(swap, text)


def _swap_phrases(expr: Expr) -> Expr:
    if isinstance(expr, Atom):
        return expr if expr.is_keyword else replace(expr, text=swap_words(expr.text))
    if isinstance(expr, ListArg):
        return replace(expr, items=tuple(_swap_phrases(e) for e in expr.items))
    return replace(expr, args=tuple(_swap_phrases(e) for e in expr.args))


def swap_program(program: str) -> str:
    """An AGQA program with the synonyms in its phrases (keywords untouched)."""
    return to_agqa(_swap_phrases(parse(program)))


def with_synonyms(record: QuestionRecord) -> QuestionRecord:
    """The question asked with synonyms (see the module docstring); same qid, answer, golds."""
    return replace(record, question=swap_words(record.question),
                   program=swap_program(record.program))  # fmt: skip


def synonym_words() -> list[str]:
    """Every synonym, as words (for a word vocabulary that must hold them)."""
    return sorted(SYNONYMS.values())
