"""Recombined training questions for the program generator: time expressions swapped.

A sequence-to-sequence generator learns which program parts go with which question parts only
from the combinations it is shown: trained on "what did they hold first *after* X" and "was it
A or B *between* X and Y", it does not by itself write "what did they hold first *between* X
and Y". Recombination shows it more combinations, built from the training questions alone: a
question's **time expression** -- the words ``after opening a door`` and, in its program, the
subtree ``Temporal[after](video, Localize(video, "opening a door"))`` -- is replaced by another
training question's, in the words and in every place of the tree that holds it.

Only plain time expressions take part: one ``Temporal`` subtree (however often it is used)
over the raw video whose anchors are phrases said right after the switch word ("before P",
"after P", "while P", "between P and Q"), found once in the question. A recombined question
keeps every other phrase its program copies from the question. Torch-free.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, replace

from stair.generator.target import occurrences
from stair.programs.tree import VIDEO, ModuleTree, Node, Phrase


@dataclass(frozen=True)
class TimeExpression:
    """A plain time expression: its subtree, and where its words are in the question."""

    node: Node
    words: tuple[str, ...]
    start: int


def _anchor(arg: object) -> str | None:
    """The phrase of an anchor ``Localize(video, "P")``, or ``None``."""
    if not isinstance(arg, Node) or arg.module != "Localize" or arg.args[0] != VIDEO:
        return None
    return arg.args[1].text if isinstance(arg.args[1], Phrase) else None


def time_expression(words: Sequence[str], tree: ModuleTree) -> TimeExpression | None:
    """The question's plain time expression (see the module docstring), or ``None``."""
    temporal = [n for n in tree.nodes if n.module == "Temporal"]
    if not temporal or any(n != temporal[0] for n in temporal):
        return None
    node = temporal[0]
    if node.args[0] != VIDEO:
        return None
    anchors = [_anchor(a) for a in node.args[1:] if a is not None]
    if not anchors or None in anchors:
        return None
    said = [node.switch.value, *anchors[0].split()]
    if len(anchors) == 2:
        said += ["and", *anchors[1].split()]
    starts = occurrences(said, words)
    if len(starts) != 1:
        return None
    return TimeExpression(node, tuple(said), starts[0])


def _swap(node: Node, old: Node, new: Node) -> Node:
    """``node`` with every subtree equal to ``old`` replaced by ``new``."""
    if node == old:
        return new

    def arg(a: object) -> object:
        if isinstance(a, tuple):
            return tuple(arg(x) for x in a)
        return _swap(a, old, new) if isinstance(a, Node) else a

    return replace(node, args=tuple(arg(a) for a in node.args))


def recombined(
    words: Sequence[str], tree: ModuleTree, own: TimeExpression, donor: TimeExpression
) -> tuple[list[str], ModuleTree] | None:
    """The question and tree with ``own`` time expression replaced by ``donor``'s, or ``None``
    when a phrase the rest of the program copies from the question is said only inside ``own``."""
    end = own.start + len(own.words)
    rest = [*words[: own.start], *words[end:]]
    new_words = [*words[: own.start], *donor.words, *words[end:]]
    new_tree = ModuleTree(_swap(tree.root, own.node, donor.node))
    for phrase in _phrases_outside(tree.root, own.node):
        if occurrences(phrase.split(), words) and not occurrences(phrase.split(), rest):
            return None
    return new_words, new_tree


def _phrases_outside(node: Node, old: Node) -> set[str]:
    """The phrases of ``node``'s tree outside every subtree equal to ``old``."""
    if node == old:
        return set()
    own = {leaf.text for leaf in node.leaves() if isinstance(leaf, Phrase)}
    return own.union(*(_phrases_outside(child, old) for child in node.children()))


def recombine(
    pairs: Sequence[tuple[Sequence[str], ModuleTree]], rate: float, seed: int = 0
) -> list[tuple[list[str], ModuleTree] | None]:
    """For each ``(words, tree)``: a recombined version (with probability ``rate``, when the
    question has a plain time expression; the donor drawn from the others), else ``None``."""
    rng = random.Random(seed)
    found = [time_expression(words, tree) for words, tree in pairs]
    donors = [t for t in found if t is not None]
    out: list[tuple[list[str], ModuleTree] | None] = []
    for (words, tree), own in zip(pairs, found):
        if own is None or not donors or rng.random() >= rate:
            out.append(None)
            continue
        donor = rng.choice(donors)
        out.append(None if donor.words == own.words else recombined(words, tree, own, donor))
    return out
