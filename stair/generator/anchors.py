"""Recombined event anchors: the events a time window is measured from, swapped between questions.

A time window ``Temporal[after](video, Localize(video, A))`` is anchored at an event ``A``: a
plain phrase ("opening a door"), or a sub-program -- "the longest action"
(``Superlative[max](...)``), or an indirect reference such as "opening the thing they were
holding last" (``ToAction("opening", <the thing they were holding last>)``). The training
questions put indirect anchors under simple questions only ("did they see a cup while opening
the thing they were holding last?"); a question with more steps puts them under a first/last
question, a before-or-after comparison, or both ends of a ``between`` window. Recombination
shows the generator those combinations, built from the training questions alone: an anchor
subtree ``Localize(video, A)`` and its words in the question are replaced by another training
question's anchor, in the words and in every place of the tree that holds it.

The words of a phrase anchor are the phrase. The words of a sub-program anchor are learned
(:class:`AnchorLexicon`): from training questions whose time expression ends the question
("... after *the longest action*?", "... between sitting on a bed and *opening the thing they
were touching last*?"), where they are what follows the switch word (or the ``and`` of a
``between``), provided every phrase the rest of the program copies is said before the time
expression. Torch-free.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from stair.generator.target import occurrences
from stair.programs.tree import VIDEO, ModuleTree, Node, Phrase


@dataclass(frozen=True)
class Anchor:
    """An anchor subtree ``Localize(video, A)`` and where its words are in the question."""

    node: Node
    words: tuple[str, ...]
    start: int

    @property
    def kind(self) -> str:
        """What ``A`` is: ``phrase`` or its module (``ToAction``, ``Superlative``)."""
        event = self.node.args[1]
        return "phrase" if isinstance(event, Phrase) else event.module


def is_anchor(arg: object) -> bool:
    """Whether ``arg`` is an anchor ``Localize(video, A)`` (an argument of a ``Temporal``)."""
    return isinstance(arg, Node) and arg.module == "Localize" and arg.args[0] == VIDEO


def anchors_of(tree: ModuleTree) -> list[Node]:
    """The distinct anchors of the tree's time windows, in order of first appearance."""
    found: list[Node] = []
    for node in tree.nodes:
        if node.module == "Temporal":
            found.extend(a for a in node.args[1:] if is_anchor(a) and a not in found)
    return found


def _phrases(node: Node) -> set[str]:
    own = {leaf.text for leaf in node.leaves() if isinstance(leaf, Phrase)}
    return own.union(*(_phrases(child) for child in node.children()))


def phrases_outside(node: Node, old: Node) -> set[str]:
    """The phrases of ``node``'s tree outside every subtree equal to ``old``."""
    if node == old:
        return set()
    own = {leaf.text for leaf in node.leaves() if isinstance(leaf, Phrase)}
    return own.union(*(phrases_outside(child, old) for child in node.children()))


class AnchorLexicon:
    """The words of each anchor: a phrase anchor's phrase, or those learned for a sub-program."""

    def __init__(self, learned: dict[Node, tuple[str, ...]] | None = None) -> None:
        self.learned = dict(learned or {})

    def words(self, anchor: Node) -> tuple[str, ...] | None:
        """How the questions say ``anchor``, or ``None`` if not known."""
        event = anchor.args[1]
        if isinstance(event, Phrase):
            return tuple(event.text.split())
        return self.learned.get(anchor)

    @classmethod
    def learn(cls, pairs: Iterable[tuple[Sequence[str], ModuleTree]]) -> AnchorLexicon:
        """The most common words of each sub-program anchor said at the end of a question."""
        plain = cls()
        seen: dict[Node, Counter] = defaultdict(Counter)
        for words, tree in pairs:
            for anchor, said in plain._said_last(list(words), tree):
                seen[anchor][said] += 1
        return cls({a: c.most_common(1)[0][0] for a, c in seen.items()})

    def _said_last(self, words: list[str], tree: ModuleTree) -> list[tuple[Node, tuple[str, ...]]]:
        """The unknown anchor of a question's one time window that ends the question, with the
        words following its switch word (or ``and``); empty if there is none."""
        temporal = {n for n in tree.nodes if n.module == "Temporal"}
        if len(temporal) != 1:
            return []
        node = temporal.pop()
        anchors = [a for a in node.args[1:] if a is not None]
        starts = occurrences([node.switch.value], words)
        if not all(is_anchor(a) for a in anchors) or len(starts) != 1:
            return []
        known = [self.words(a) for a in anchors]
        if known.count(None) != 1:
            return []
        s = starts[0] + 1
        if len(anchors) == 1:
            span = (s, len(words))
        elif known[0] is not None:  # between KNOWN and UNKNOWN
            middle = s + len(known[0])
            if tuple(words[s:middle]) != known[0] or words[middle : middle + 1] != ["and"]:
                return []
            span = (middle + 1, len(words))
        else:  # between UNKNOWN and KNOWN
            end = len(words) - len(known[1]) - 1
            if tuple(words[end + 1 :]) != known[1] or words[end : end + 1] != ["and"]:
                return []
            span = (s, end)
        anchor = anchors[known.index(None)]
        said = tuple(words[span[0] : span[1]])
        before = words[: starts[0]]
        if not said or not all(occurrences(p.split(), said) for p in _phrases(anchor)):
            return []
        if not all(occurrences(p.split(), before) for p in phrases_outside(tree.root, node)):
            return []
        return [(anchor, said)]

    def found(self, words: Sequence[str], tree: ModuleTree) -> list[Anchor]:
        """The question's anchors whose words are known and said once, not overlapping."""
        out: list[Anchor] = []
        for node in anchors_of(tree):
            said = self.words(node)
            starts = occurrences(said, words) if said else []
            if len(starts) != 1:
                continue
            start, end = starts[0], starts[0] + len(said)
            if all(end <= a.start or a.start + len(a.words) <= start for a in out):
                out.append(Anchor(node, said, start))
        return sorted(out, key=lambda a: a.start)


def swap(node: Node, old: Node, new: Node) -> Node:
    """``node`` with every subtree equal to ``old`` replaced by ``new``."""
    if node == old:
        return new

    def arg(a: object) -> object:
        if isinstance(a, tuple):
            return tuple(arg(x) for x in a)
        return swap(a, old, new) if isinstance(a, Node) else a

    return replace(node, args=tuple(arg(a) for a in node.args))


def with_anchors(
    words: Sequence[str], tree: ModuleTree, swaps: Sequence[tuple[Anchor, Anchor]]
) -> tuple[list[str], ModuleTree] | None:
    """The question and tree with each ``(own, donor)`` anchor replaced, or ``None`` when a
    phrase the rest of the program copies is said only inside a replaced anchor."""
    root, rest, new_words, last = tree.root, [], [], 0
    for own, donor in sorted(swaps, key=lambda s: s[0].start):
        rest += words[last : own.start]
        new_words += [*words[last : own.start], *donor.words]
        last = own.start + len(own.words)
    rest += words[last:]
    new_words += words[last:]
    outside = root
    for own, _ in swaps:
        outside = swap(outside, own.node, VIDEO)  # the tree without the replaced anchors
    for phrase in _phrases(outside):
        if occurrences(phrase.split(), words) and not occurrences(phrase.split(), rest):
            return None
    for own, donor in swaps:
        root = swap(root, own.node, donor.node)
    return new_words, ModuleTree(root)


def recombine_anchors(
    pairs: Sequence[tuple[Sequence[str], ModuleTree]],
    rate: float,
    lexicon: AnchorLexicon,
    seed: int = 0,
    indirect: float = 0.0,
) -> list[tuple[list[str], ModuleTree] | None]:
    """For each ``(words, tree)``: with probability ``rate``, when it has anchors with known
    words, a version with some of them (each with chance 1/2, at least one) replaced by other
    training questions' anchors -- a kind of anchor (phrase, ``ToAction``, ``Superlative``)
    drawn uniformly, then an anchor of that kind; else ``None``. With chance ``indirect`` a
    recombined question has instead **every** anchor replaced by an indirect reference
    (``ToAction``): the training questions never hold two ("between opening the thing they were
    holding first and closing the thing they were touching last"), and the uniform draw makes
    both ends of a ``between`` window indirect in one recombination out of 36."""
    rng = random.Random(seed)
    found = [lexicon.found(words, tree) for words, tree in pairs]
    by_kind: dict[str, list[Anchor]] = defaultdict(list)
    for anchors in found:
        for anchor in anchors:
            by_kind[anchor.kind].append(anchor)
    kinds = sorted(by_kind)
    out: list[tuple[list[str], ModuleTree] | None] = []
    for (words, tree), own in zip(pairs, found):
        if not own or rng.random() >= rate:
            out.append(None)
            continue
        if indirect > 0 and "ToAction" in by_kind and rng.random() < indirect:
            swaps = [(a, rng.choice(by_kind["ToAction"])) for a in own]
        else:
            chosen = [a for a in own if rng.random() < 0.5] or [rng.choice(own)]
            swaps = [(a, rng.choice(by_kind[rng.choice(kinds)])) for a in chosen]
        swaps = [(a, d) for a, d in swaps if d.node != a.node]
        out.append(with_anchors(list(words), tree, swaps) if swaps else None)
    return out
