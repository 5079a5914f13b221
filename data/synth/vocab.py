"""The vocabulary of the synthetic benchmark: objects, relations and Charades-style actions.

An action is a verb phrase applied to one object ("drinking from a cup": verb ``drinking from``,
object ``cup``). It also lists the person-object relations it implies while it is under way
(drinking from a cup -> holding the cup), which is how the world generator (:mod:`.synth_world`)
keeps the scene graph coherent. ``base`` is the infinitive used in questions ("Did they drink
from a cup?").

The vocabulary is fixed (not seeded), so that held-out compositions (:mod:`.synth_splits`) can be
listed once, by name. No word collides with an AGQA program keyword (``video``, ``before``, ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Action:
    """One action class: its phrase, verb, object, infinitive and implied relations."""

    phrase: str
    verb: str
    object: str
    base: str
    relations: tuple[tuple[str, str], ...]  # (relation, object) pairs that hold during it

    def to_json(self) -> dict[str, Any]:
        return {
            "phrase": self.phrase,
            "verb": self.verb,
            "object": self.object,
            "base": self.base,
            "relations": [list(r) for r in self.relations],
        }


@dataclass(frozen=True)
class WorldVocabulary:
    """Objects, relations and actions of a synthetic world, plus which are furniture.

    ``furniture`` objects stay in place and are visible for long stretches (the room);
    the others are props that appear around the actions using them.
    """

    objects: tuple[str, ...]
    relations: tuple[str, ...]
    actions: tuple[Action, ...]
    furniture: frozenset[str]

    def action(self, phrase: str) -> Action:
        return self._by_phrase[phrase]

    @property
    def _by_phrase(self) -> dict[str, Action]:
        cached = self.__dict__.get("_index")
        if cached is None:
            cached = {a.phrase: a for a in self.actions}
            object.__setattr__(self, "_index", cached)
        return cached

    @property
    def verbs(self) -> tuple[str, ...]:
        return tuple(sorted({a.verb for a in self.actions}))

    def to_json(self) -> dict[str, Any]:
        return {
            "objects": list(self.objects),
            "relations": list(self.relations),
            "actions": [a.to_json() for a in self.actions],
            "verbs": list(self.verbs),
            "furniture": sorted(self.furniture),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WorldVocabulary:
        """Inverse of :meth:`to_json` (extra keys such as ``answers`` are ignored)."""
        actions = tuple(
            Action(a["phrase"], a["verb"], a["object"], a["base"],
                   tuple((str(r), str(o)) for r, o in a["relations"]))
            for a in data["actions"]
        )  # fmt: skip
        return cls(
            tuple(data["objects"]), tuple(data["relations"]), actions, frozenset(data["furniture"])
        )


def _act(phrase: str, verb: str, obj: str, base: str, *rels: str) -> Action:
    """``rels`` name relations with the action's own object, or ``relation:object``."""
    pairs = tuple((r.split(":")[0], r.split(":")[1] if ":" in r else obj) for r in rels)
    return Action(phrase, verb, obj, base, pairs)


_ACTIONS = (
    _act("opening a door", "opening", "door", "open a door", "touching", "in front of"),
    _act("closing a door", "closing", "door", "close a door", "touching", "in front of"),
    _act("drinking from a cup", "drinking from", "cup", "drink from a cup", "holding", "touching"),
    _act("holding a cup", "holding", "cup", "hold a cup", "holding"),
    _act("washing a cup", "washing", "cup", "wash a cup", "holding", "touching"),
    _act("washing a dish", "washing", "dish", "wash a dish", "holding", "touching"),
    _act("holding a phone", "holding", "phone", "hold a phone", "holding"),
    _act("playing with a phone", "playing with", "phone", "play with a phone", "holding",
         "looking at"),
    _act("reading a book", "reading", "book", "read a book", "holding", "looking at"),
    _act("opening a book", "opening", "book", "open a book", "holding", "touching"),
    _act("closing a book", "closing", "book", "close a book", "holding"),
    _act("working on a laptop", "working on", "laptop", "work on a laptop", "looking at",
         "touching", "in front of"),
    _act("opening a laptop", "opening", "laptop", "open a laptop", "touching"),
    _act("closing a laptop", "closing", "laptop", "close a laptop", "touching"),
    _act("sitting on a chair", "sitting on", "chair", "sit on a chair", "sitting on"),
    _act("sitting on a sofa", "sitting on", "sofa", "sit on a sofa", "sitting on"),
    _act("sitting on a bed", "sitting on", "bed", "sit on a bed", "sitting on"),
    _act("lying on a bed", "lying on", "bed", "lie on a bed", "lying on"),
    _act("holding a pillow", "holding", "pillow", "hold a pillow", "holding"),
    _act("throwing a pillow", "throwing", "pillow", "throw a pillow", "holding"),
    _act("snuggling with a blanket", "snuggling with", "blanket", "snuggle with a blanket",
         "holding", "touching"),
    _act("tidying with a broom", "tidying with", "broom", "tidy with a broom", "holding"),
    _act("putting on a shoe", "putting on", "shoe", "put on a shoe", "holding", "touching"),
    _act("eating a sandwich", "eating", "sandwich", "eat a sandwich", "holding", "looking at"),
    _act("opening a box", "opening", "box", "open a box", "holding", "touching"),
    _act("closing a box", "closing", "box", "close a box", "touching"),
    _act("looking out a window", "looking out", "window", "look out a window", "looking at",
         "in front of"),
    _act("opening a refrigerator", "opening", "refrigerator", "open a refrigerator", "touching",
         "in front of"),
    _act("closing a refrigerator", "closing", "refrigerator", "close a refrigerator",
         "touching", "in front of"),
    _act("looking in a mirror", "looking in", "mirror", "look in a mirror", "looking at",
         "in front of"),
    _act("watching television", "watching", "television", "watch television", "looking at"),
    _act("taking a bag", "taking", "bag", "take a bag", "holding"),
    _act("wiping a table", "wiping", "table", "wipe a table", "touching", "holding:towel"),
    _act("holding a towel", "holding", "towel", "hold a towel", "holding"),
)  # fmt: skip

DEFAULT_VOCAB = WorldVocabulary(
    objects=(
        "bag", "bed", "blanket", "book", "box", "broom", "chair", "cup", "dish", "door",
        "laptop", "mirror", "phone", "pillow", "refrigerator", "sandwich", "shoe", "sofa",
        "table", "television", "towel", "window",
    ),
    relations=(
        "holding", "touching", "looking at", "sitting on", "lying on", "leaning on", "wearing",
        "in front of", "beside", "behind",
    ),
    actions=_ACTIONS,
    furniture=frozenset(
        {"bed", "chair", "door", "mirror", "refrigerator", "sofa", "table", "television",
         "window"}
    ),
)  # fmt: skip
