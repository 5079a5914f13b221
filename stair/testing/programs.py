"""Random AGQA-shaped programs: every template shape of AGQA with random phrases, seeded.

The shapes are those of AGQA_FORMAT.md ("Template shapes") plus STAIR's additions: counting
(``Count(A)``, ``Count(A, T)``), ``OR``, ``NOT``, between-time expressions
(``Localize(between, [A1, A2])``) and indirect references (an object named by "the object they
were R first", an action by ``ToAction(verb, <object reference>)``). Tests and benchmarks use it
to build realistic mixtures of module trees without a dataset; the phrases carry no meaning.

Pure Python: ``sample_program`` returns an AGQA program string, ``sample_trees`` compiled trees.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from stair.programs.compiler import compile_program
from stair.programs.tree import ModuleTree

_DURATION = "Subtract(Query(end, action), Query(start, action))"


@dataclass(frozen=True)
class PhraseVocabulary:
    """The phrases programs are filled with (none may be an AGQA keyword)."""

    objects: tuple[str, ...]
    relations: tuple[str, ...]
    actions: tuple[str, ...]
    verbs: tuple[str, ...]


DEFAULT_VOCABULARY = PhraseVocabulary(
    objects=("cup", "phone", "dish", "pillow", "book", "door", "laptop", "chair", "blanket"),
    relations=("holding", "touching", "looking at", "sitting on", "in front of", "on the side of"),
    actions=(
        "opening a door", "drinking from a cup", "holding a pillow", "sitting in a chair",
        "watching a laptop", "putting a book somewhere", "taking a blanket", "closing a door",
    ),
    verbs=("holding", "opening", "taking", "putting down", "looking at", "tidying up"),
)  # fmt: skip


class _Sampler:
    """Draws the parts of a program; ``indirect`` is the chance a phrase becomes a reference."""

    def __init__(self, rng: random.Random, vocab: PhraseVocabulary, indirect: float) -> None:
        self.rng, self.vocab, self.indirect = rng, vocab, indirect

    def pick(self, options: Sequence[str]) -> str:
        return self.rng.choice(options)

    def relation(self) -> str:
        return self.pick(self.vocab.relations)

    def object(self, allow_indirect: bool = True) -> str:
        if allow_indirect and self.rng.random() < self.indirect:
            return self.first_last_object(time="video")
        return self.pick(self.vocab.objects)

    def action(self, allow_indirect: bool = True) -> str:
        if allow_indirect and self.rng.random() < self.indirect:
            target = self.first_last_object(time="video")
            return f"ToAction({self.pick(self.vocab.verbs)}, {target})"
        return self.pick(self.vocab.actions)

    def time(self) -> str:
        kind = self.rng.choice(["video", "before", "after", "while", "between"])
        if kind == "video":
            return "video"
        if kind == "between":
            return f"Localize(between, [{self.action()}, {self.action()}])"
        return f"Localize({kind}, {self.action()})"

    def direction(self) -> str:
        return self.pick(("forward", "backward"))

    def only_first_last_object(self, time: str | None = None) -> str:
        """``OnlyItem(IterateUntil(...))``: the object they were R first / last."""
        r = self.relation()
        return (
            f"OnlyItem(IterateUntil({self.direction()}, {time or self.time()}, "
            f"Exists({r}, Filter(frame, [relations])), Filter(frame, [relations, {r}, objects])))"
        )

    def first_last_object(self, time: str | None = None) -> str:
        return f"Query(class, {self.only_first_last_object(time)})"

    def superlative(self, every: bool) -> str:
        m = self.pick(("max", "min"))
        if every:
            return f"Superlative({m}, Filter(video, [actions]), {_DURATION})"
        a1, a2 = self.action(), self.action()
        pair = f"[Filter(video, [actions, {a1}]), Filter(video, [actions, {a2}])]"
        return f"Superlative({m}, {pair}, {_DURATION})"

    def exists_rel(self, t: str, r: str) -> str:
        return f"Exists({self.object()}, Iterate({t}, Filter(frame, [relation, {r}, objects])))"

    def logic(self, op: str) -> str:
        t, r = self.time(), self.relation()
        return f"{op}({self.exists_rel(t, r)}, {self.exists_rel(t, r)})"


def _compare(s: _Sampler) -> str:
    cat = s.pick(("actions", "relations", "objects"))
    item = {"actions": s.action, "relations": s.relation, "objects": s.object}[cat]()
    inner = f"Iterate(Localize(temporal tag, {s.action()}), Filter(frame, [{cat}]))"
    return f"Compare([before, after], Exists({item}, {inner}))"


def _count(s: _Sampler) -> str:
    return f"Count({s.action()})" if s.rng.random() < 0.3 else f"Count({s.action()}, {s.time()})"


#: Template name -> a function drawing one program of that shape.
TEMPLATES: dict[str, Callable[[_Sampler], str]] = {
    "exists_objects": lambda s: (
        f"Exists({s.object()}, Iterate({s.time()}, Filter(frame, [objects])))"
    ),
    "exists_related_objects": lambda s: (
        f"Exists({s.object()}, Iterate({s.time()}, Filter(frame, [relations, {s.relation()}, "
        "objects])))"
    ),
    "exists_relations": lambda s: (
        f"Exists({s.relation()}, Iterate({s.time()}, Filter(frame, [relations])))"
    ),
    "and": lambda s: s.logic("AND"),
    "xor": lambda s: s.logic("XOR"),
    "or": lambda s: s.logic("OR"),
    "not": lambda s: f"NOT(Exists({s.object()}, Iterate({s.time()}, Filter(frame, [objects]))))",
    "query_objects": lambda s: (
        f"Query(class, OnlyItem(Iterate({s.time()}, Filter(frame, [objects]))))"
    ),
    "query_related_objects": lambda s: (
        f"Query(class, OnlyItem(Iterate({s.time()}, Filter(frame, [relations, {s.relation()}, "
        "objects]))))"
    ),
    "query_actions": lambda s: (
        f"Query(class, OnlyItem(Iterate({s.time()}, Filter(frame, [actions]))))"
    ),
    "choose": lambda s: (
        f"Choose({s.object()}, {s.object()}, Query(class, OnlyItem(Iterate({s.time()}, "
        f"Filter(frame, [relations, {s.relation()}, objects])))))"
    ),
    "first_last_object": lambda s: s.first_last_object(),
    "equals_first_last_object": lambda s: (
        f"Equals({s.object(False)}, {s.only_first_last_object()})"
    ),
    "first_last_action": lambda s: (
        f"Query(class, OnlyItem(IterateUntil({s.direction()}, {s.time()}, "
        "HasItem(Filter(frame, [actions])), Filter(frame, [actions]))))"
    ),
    "superlative_pair": lambda s: s.superlative(every=False),
    "equals_superlative": lambda s: f"Equals({s.action(False)}, {s.superlative(every=False)})",
    "superlative_every": lambda s: s.superlative(every=True),
    "compare": _compare,
    "count": _count,
}


def sample_program(
    rng: random.Random,
    vocabulary: PhraseVocabulary = DEFAULT_VOCABULARY,
    template: str | None = None,
    indirect: float = 0.15,
) -> str:
    """One AGQA program string of ``template`` (default: a uniformly drawn template)."""
    name = template if template is not None else rng.choice(sorted(TEMPLATES))
    if name not in TEMPLATES:
        raise KeyError(f"unknown template {name!r} (known: {', '.join(sorted(TEMPLATES))})")
    return TEMPLATES[name](_Sampler(rng, vocabulary, indirect))


def sample_trees(
    n: int,
    seed: int = 0,
    vocabulary: PhraseVocabulary = DEFAULT_VOCABULARY,
    templates: Sequence[str] | None = None,
    indirect: float = 0.15,
    cycle: bool = False,
) -> list[ModuleTree]:
    """``n`` compiled trees of the ``templates`` (default: all), drawn uniformly or in turn."""
    rng = random.Random(seed)
    names = list(templates) if templates is not None else sorted(TEMPLATES)
    return [
        compile_program(
            sample_program(
                rng, vocabulary, names[i % len(names)] if cycle else rng.choice(names), indirect
            )
        )
        for i in range(n)
    ]
