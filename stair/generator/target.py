"""What the program generator predicts: prefix tokens with copy markers, and the phrase inventory.

The generator's target is the prefix token serialisation of the module tree
(:func:`stair.programs.to_tokens`) with one change: a phrase whose words appear, in order, in the
question is written as **copy markers** -- ``<q3> <q4>`` for "the 4th and 5th question words" --
instead of its words. The source side shows the same markers in front of each question word
(``<q0> did <q1> they <q2> open ...``), so copying is "emit the marker in front of the word", which
works for words never seen in training (they are ``<unk>`` in the source, but their marker is not).
Phrases the question does not contain ("interacting with" -> ``objects``, "lie" -> ``lying on a
bed``) are written as their words, and the grammar (:mod:`stair.generator.grammar`) only lets those
form a known concept of a kind the slot takes.

This file is torch-free: :func:`to_target`, :func:`from_target`, and :class:`PhraseInventory` (the
concepts with their kinds, and which kinds each phrase slot takes), learned from training trees.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from stair.programs.serialize import QUOTE, to_tokens
from stair.programs.signatures import VType
from stair.programs.tree import ModuleTree, Node, Phrase

_MARKER = re.compile(r"<q(\d+)>$")

#: the kind of a phrase that is neither in the dataset vocabulary nor in the question
OTHER = "phrases"


def marker(index: int) -> str:
    """The copy marker of question word ``index`` (0-based): ``<q3>`` is the 4th word."""
    return f"<q{index}>"


def marker_index(token: str) -> int | None:
    """The question position a copy marker refers to, or ``None`` for any other token."""
    match = _MARKER.match(token)
    return int(match.group(1)) if match else None


def occurrences(phrase: Sequence[str], words: Sequence[str]) -> list[int]:
    """Starts of every occurrence of ``phrase`` in ``words``."""
    n, phrase = len(phrase), list(phrase)
    return [s for s in range(len(words) - n + 1) if list(words[s : s + n]) == phrase]


def to_target(tree: ModuleTree, words: Sequence[str], max_words: int | None = None) -> list[str]:
    """The generator target of ``tree`` for a question of ``words`` (``tokenize(question)``).

    A phrase found as a span of the first ``max_words`` words becomes the copy markers of its
    first occurrence (every use of a phrase copies the same span).
    """
    words = list(words[:max_words] if max_words is not None else words)
    tokens = to_tokens(tree)
    out: list[str] = []
    i = 0
    while i < len(tokens):
        if tokens[i] != QUOTE:
            out.append(tokens[i])
            i += 1
            continue
        end = tokens.index(QUOTE, i + 1)
        phrase = tokens[i + 1 : end]
        starts = occurrences(phrase, words)
        body = [marker(starts[0] + j) for j in range(len(phrase))] if starts else phrase
        out.extend([QUOTE, *body, QUOTE])
        i = end + 1
    return out


def copy_alternatives(target: Sequence[str], words: Sequence[str]) -> dict[int, list[str]]:
    """Where a target could equally be written otherwise: position -> every token that gives the
    same program there (the target's own first).

    A phrase that occurs several times in the question ("looking at the sofa after working on the
    thing they were looking at first") may be copied from any occurrence: its first marker has
    one alternative per occurrence. Training credits them all (the loss sums their
    probabilities), so the model is never taught which of two identical spans to point at.
    """
    out: dict[int, list[str]] = {}
    i = 0
    while i < len(target):
        if target[i] != QUOTE:
            i += 1
            continue
        end = list(target).index(QUOTE, i + 1)
        body = [marker_index(t) for t in target[i + 1 : end]]
        if body and None not in body:
            starts = occurrences([words[j] for j in body], words)
            if len(starts) > 1:
                out[i + 1] = [target[i + 1], *(marker(s) for s in starts if s != body[0])]
        i = end + 1
    return out


def from_target(tokens: Iterable[str], words: Sequence[str]) -> list[str]:
    """Prefix tokens (for :func:`stair.programs.from_tokens`): copy markers become their words."""
    out = []
    for token in tokens:
        index = marker_index(token)
        if index is None:
            out.append(token)
        elif index < len(words):
            out.append(words[index])
        else:
            raise IndexError(f"copy marker {token} points past the question ({len(words)} words)")
    return out


def _slots(node: Node) -> Iterable[tuple[str, Phrase]]:
    """``(slot key, phrase)`` for each phrase argument of ``node``; key ``Label/index``."""
    for index, arg in enumerate(node.args):
        for item in arg if isinstance(arg, tuple) else (arg,):
            if isinstance(item, Phrase):
                yield f"{node.label}/{index}", item


@dataclass
class PhraseInventory:
    """The concepts a generated phrase may name, their kinds, and the kinds each slot takes.

    ``concepts``: phrase -> kinds (``objects``, ``relations``, ``actions``, ``verbs`` from the
    dataset vocabulary; :data:`OTHER` for phrases seen in training trees only). ``slot_kinds``:
    ``"Label/index"`` (e.g. ``"Filter[objects]/1"``) -> kinds seen there in training; a slot never
    seen takes every kind. ``root_types``: the value types of training roots.
    """

    concepts: dict[str, list[str]] = field(default_factory=dict)
    slot_kinds: dict[str, list[str]] = field(default_factory=dict)
    root_types: list[str] = field(default_factory=list)

    @classmethod
    def from_vocab(cls, vocab: dict[str, Any]) -> PhraseInventory:
        """Concepts from a ``vocab.json`` dict (objects, relations, actions, verbs)."""
        kinds: dict[str, set[str]] = defaultdict(set)
        for kind in ("objects", "relations", "verbs"):
            for phrase in vocab.get(kind, ()):
                kinds[" ".join(phrase.split())].add(kind)
        for action in vocab.get("actions", ()):
            phrase = action["phrase"] if isinstance(action, dict) else action
            kinds[" ".join(phrase.split())].add("actions")
        return cls({p: sorted(k) for p, k in sorted(kinds.items())})

    def fit(self, trees: Iterable[ModuleTree]) -> PhraseInventory:
        """Learn root types and slot kinds from training trees (unknown phrases join as OTHER).

        A phrase of one kind is plain evidence for its slot; a phrase of several kinds ("holding"
        is a relation and a verb) only adds its kinds when none of them is already evidenced.
        """
        roots: set[str] = set(self.root_types)
        plain: dict[str, set[str]] = defaultdict(set)
        mixed: dict[str, list[frozenset[str]]] = defaultdict(list)
        for tree in trees:
            roots.add(str(tree.type))
            for node in tree.nodes:
                for key, phrase in _slots(node):
                    kinds = self.concepts.setdefault(phrase.text, [OTHER])
                    (plain[key].update if len(kinds) == 1 else mixed[key].append)(kinds)
        slots = {k: set(v) for k, v in self.slot_kinds.items()}
        for key in set(plain) | set(mixed):
            kinds = slots.setdefault(key, set()) | plain.get(key, set())
            for several in mixed.get(key, ()):
                if not kinds & set(several):
                    kinds |= set(several)
            slots[key] = kinds
        self.slot_kinds = {k: sorted(v) for k, v in sorted(slots.items())}
        self.root_types = sorted(roots)
        return self

    @property
    def kinds(self) -> list[str]:
        """Every kind of concept."""
        return sorted({k for kinds in self.concepts.values() for k in kinds})

    def kinds_for(self, label: str, index: int) -> frozenset[str]:
        """The kinds of concept slot ``index`` of ``label`` takes (every kind if never seen)."""
        return frozenset(self.slot_kinds.get(f"{label}/{index}", self.kinds))

    def roots(self) -> frozenset[VType]:
        """Value types a program may return (every non-leaf type if no tree was seen)."""
        if self.root_types:
            return frozenset(VType(t) for t in self.root_types)
        return frozenset(VType) - {VType.TEXT, VType.VIDEO}

    def words(self) -> list[str]:
        """Every word of every concept (the generator's output vocabulary for named phrases)."""
        return sorted({w for phrase in self.concepts for w in phrase.split()})

    def to_json(self) -> dict[str, Any]:
        return {
            "concepts": self.concepts,
            "slot_kinds": self.slot_kinds,
            "root_types": self.root_types,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PhraseInventory:
        return cls(dict(data["concepts"]), dict(data["slot_kinds"]), list(data["root_types"]))
