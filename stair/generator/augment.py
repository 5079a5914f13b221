"""Recombined training questions for the program generator: time expressions swapped.

A sequence-to-sequence generator learns which program parts go with which question parts only
from the combinations it is shown: trained on "what did they hold first *after* X" and "was it
A or B *between* X and Y", it does not by itself write "what did they hold first *between* X
and Y". Recombination shows it more combinations, built from the training questions alone: a
question's **time expression** -- the words ``after opening a door`` and, in its program, the
subtree ``Temporal[after](video, Localize(video, "opening a door"))`` -- is replaced by another
training question's, in the words and in every place of the tree that holds it.

Only time expressions over the raw video take part: one ``Temporal`` subtree (however often it
is used) whose anchors are said right after the switch word ("before P", "after P", "while P",
"between P and Q"), found once in the question. An anchor is a phrase or, given an
:class:`~stair.generator.anchors.AnchorLexicon`, a sub-program whose words it has learned ("after
*the longest action*", "while *opening the thing they were holding last*"). A recombined
question keeps every other phrase its program copies from the question. Torch-free.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from stair.generator.anchors import AnchorLexicon, is_anchor, phrases_outside, swap
from stair.generator.target import occurrences
from stair.programs.tree import VIDEO, ModuleTree, Node


@dataclass(frozen=True)
class TimeExpression:
    """A plain time expression: its subtree, and where its words are in the question."""

    node: Node
    words: tuple[str, ...]
    start: int


def time_expression(
    words: Sequence[str], tree: ModuleTree, lexicon: AnchorLexicon | None = None
) -> TimeExpression | None:
    """The question's time expression (see the module docstring), or ``None``; ``lexicon``: the
    words of sub-program anchors too (else phrase anchors only)."""
    temporal = [n for n in tree.nodes if n.module == "Temporal"]
    if not temporal or any(n != temporal[0] for n in temporal):
        return None
    node, lexicon = temporal[0], lexicon or AnchorLexicon()
    if node.args[0] != VIDEO:
        return None
    anchors = [a for a in node.args[1:] if a is not None]
    said_anchors = [lexicon.words(a) if is_anchor(a) else None for a in anchors]
    if not anchors or None in said_anchors:
        return None
    said = [node.switch.value, *said_anchors[0]]
    if len(anchors) == 2:
        said += ["and", *said_anchors[1]]
    starts = occurrences(said, words)
    if len(starts) != 1:
        return None
    return TimeExpression(node, tuple(said), starts[0])


def recombined(
    words: Sequence[str], tree: ModuleTree, own: TimeExpression, donor: TimeExpression
) -> tuple[list[str], ModuleTree] | None:
    """The question and tree with ``own`` time expression replaced by ``donor``'s, or ``None``
    when a phrase the rest of the program copies from the question is said only inside ``own``."""
    end = own.start + len(own.words)
    rest = [*words[: own.start], *words[end:]]
    new_words = [*words[: own.start], *donor.words, *words[end:]]
    new_tree = ModuleTree(swap(tree.root, own.node, donor.node))
    for phrase in phrases_outside(tree.root, own.node):
        if occurrences(phrase.split(), words) and not occurrences(phrase.split(), rest):
            return None
    return new_words, new_tree


def recombine(
    pairs: Sequence[tuple[Sequence[str], ModuleTree]],
    rate: float,
    seed: int = 0,
    lexicon: AnchorLexicon | None = None,
) -> list[tuple[list[str], ModuleTree] | None]:
    """For each ``(words, tree)``: a recombined version (with probability ``rate``, when the
    question has a time expression; the donor drawn from the others), else ``None``."""
    rng = random.Random(seed)
    found = [time_expression(words, tree, lexicon) for words, tree in pairs]
    donors = [t for t in found if t is not None]
    out: list[tuple[list[str], ModuleTree] | None] = []
    for (words, tree), own in zip(pairs, found):
        if own is None or not donors or rng.random() >= rate:
            out.append(None)
            continue
        donor = rng.choice(donors)
        out.append(None if donor.words == own.words else recombined(words, tree, own, donor))
    return out
