"""Recombined object references: an object named by a phrase swapped for an indirect reference.

An object is named by a phrase ("was the person in front of *the cup* ...", ``Exists("cup",
...)``) or by an **indirect reference** -- a sub-program, "the thing they were holding last"
(``Filter[objects](AttnVideo(video, Relate[backward](...)))``). The training questions hold at
most one indirect reference each: the question's object or the object of a time window's anchor
("... while opening the thing they were holding last"). A question with more steps holds two --
"were they looking at the thing they were touching first while opening the thing they were
holding first?" -- and a generator that never saw two writes the second one's words into the
first. Recombination shows it such questions, built from the training questions alone: an object
phrase said as "the <phrase>", in an argument slot where the training programs also hold indirect
references, is replaced by one, in the words and in every place of the tree that holds it.

The references and their words are learned from the time-window anchors whose words are known
(:class:`~stair.generator.anchors.AnchorLexicon`): an anchor ``ToAction("opening", R)`` said
"opening the thing they were holding last" says ``R`` as "the thing they were holding last".
Torch-free.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace

from stair.generator.anchors import AnchorLexicon, anchors_of, swap
from stair.generator.target import occurrences
from stair.programs.tree import ModuleTree, Node, Phrase


@dataclass(frozen=True)
class Reference:
    """An indirect reference: its subtree and how the questions say it."""

    node: Node
    words: tuple[str, ...]


class ReferenceLexicon:
    """The indirect references of the training questions, and the argument slots
    ``(module label, index)`` that hold them."""

    def __init__(self, references: Sequence[Reference], slots: set[tuple[str, int]]) -> None:
        self.references, self.slots = list(references), set(slots)

    @classmethod
    def learn(
        cls, pairs: Sequence[tuple[Sequence[str], ModuleTree]], anchors: AnchorLexicon
    ) -> ReferenceLexicon:
        """References from the ``ToAction`` anchors whose words start with the action's, and
        every slot of the training programs where one of them is an argument."""
        said: dict[Node, Counter] = defaultdict(Counter)
        for _, tree in pairs:
            for anchor in anchors_of(tree):
                event, words = anchor.args[1], anchors.words(anchor)
                if words is None or not isinstance(event, Node) or event.module != "ToAction":
                    continue
                action, target = event.args[0], event.args[1]
                if not isinstance(action, Phrase) or not isinstance(target, Node):
                    continue
                head = tuple(action.text.split())
                if words[: len(head)] == head and len(words) > len(head):
                    said[target][words[len(head) :]] += 1
        slots = {
            (node.label, index)
            for _, tree in pairs
            for node in tree.nodes
            for index, arg in enumerate(node.args)
            if isinstance(arg, Node) and arg in said
        }
        references = [Reference(node, c.most_common(1)[0][0]) for node, c in said.items()]
        return cls(sorted(references, key=lambda r: r.words), slots)

    def candidates(self, words: Sequence[str], tree: ModuleTree) -> list[tuple[Node, int]]:
        """The ``(node, argument index)`` of the tree's object phrases that can be replaced:
        in a reference slot, said once in the question, as "the <phrase>", and held by no other
        argument of the program."""
        counts = Counter(leaf.text for node in tree.nodes for leaf in node.leaves()
                         if isinstance(leaf, Phrase))  # fmt: skip
        out = []
        for node in tree.nodes:
            for index, arg in enumerate(node.args):
                if not isinstance(arg, Phrase) or (node.label, index) not in self.slots:
                    continue
                text = arg.text.split()
                if counts[arg.text] == 1 and len(occurrences(text, words)) == 1 and \
                        len(occurrences(["the", *text], words)) == 1:  # fmt: skip
                    out.append((node, index))
        return out


def with_reference(
    words: Sequence[str], tree: ModuleTree, node: Node, index: int, reference: Reference
) -> tuple[list[str], ModuleTree]:
    """The question and tree with the phrase ``node.args[index]`` (said "the <phrase>")
    replaced by ``reference``."""
    phrase = node.args[index]
    said = ["the", *phrase.text.split()]
    start = occurrences(said, words)[0]
    new_words = [*words[:start], *reference.words, *words[start + len(said) :]]
    args = list(node.args)
    args[index] = reference.node
    return new_words, ModuleTree(swap(tree.root, node, replace(node, args=tuple(args))))


def recombine_references(
    pairs: Sequence[tuple[Sequence[str], ModuleTree]],
    rate: float,
    lexicon: ReferenceLexicon,
    seed: int = 0,
) -> list[tuple[list[str], ModuleTree] | None]:
    """For each ``(words, tree)``: with probability ``rate``, when it names an object that
    can be replaced (:meth:`ReferenceLexicon.candidates`), a version with one such object
    (drawn uniformly) replaced by a training reference (drawn uniformly); else ``None``."""
    rng = random.Random(seed)
    out: list[tuple[list[str], ModuleTree] | None] = []
    for words, tree in pairs:
        found = lexicon.candidates(words, tree) if lexicon.references else []
        if not found or rng.random() >= rate:
            out.append(None)
            continue
        node, index = rng.choice(found)
        out.append(with_reference(words, tree, node, index, rng.choice(lexicon.references)))
    return out
