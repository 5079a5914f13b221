"""Random module trees of every template shape of the synthetic benchmark, seeded.

The shapes are the benchmark's own question templates (:data:`stair.data.synth.questions.TEMPLATES`:
exists, query, choose, and/xor, count, first/last, longest/shortest, before/after, sequencing,
with time expressions and indirect references), so that there is one set of template shapes.
Each program is a template's draft over a freshly generated world (a world serves a few drafts,
and is replaced when a template cannot be drafted on it); no draft is executed, balanced or
filtered, since a fixture needs well-typed trees of realistic shapes, not well-posed questions.
The phrases are the benchmark's vocabulary (:data:`stair.data.synth.vocab.DEFAULT_VOCAB`).

Tests and benchmarks use it to build realistic mixtures of module trees without a dataset.
"""

from __future__ import annotations

import random

import numpy as np

from stair.data.synth.context import Context, Template
from stair.data.synth.questions import TEMPLATES, compile_cached
from stair.data.synth.refs import VideoFacts
from stair.data.synth.vocab import DEFAULT_VOCAB
from stair.data.synth.world import generate_world
from stair.programs.tree import ModuleTree

DRAFTS_PER_WORLD = 4  #: drafts drawn over one world before the next is generated
WORLDS_PER_DRAFT = 100  #: worlds a template may be tried on before it is given up


def sample_programs(
    n: int, seed: int = 0, indirect: float = 0.15, cycle: bool = False
) -> list[tuple[str, str]]:
    """``n`` ``(template name, AGQA program)`` pairs, templates drawn uniformly or in turn.

    ``indirect``: how often a slot is filled with an indirect reference (the benchmark's
    ``indirect_prob``). World ``i`` is drawn from ``numpy.random.default_rng([seed, i])``, the
    rest from ``random.Random(seed)``: the same arguments give the same programs.
    """
    rng = random.Random(seed)
    worlds = 0

    def world() -> VideoFacts:
        nonlocal worlds
        graph = generate_world(f"world{worlds}", np.random.default_rng([seed, worlds]))
        worlds += 1
        return VideoFacts(graph, DEFAULT_VOCAB)

    def draft(template: Template, facts: VideoFacts) -> str | None:
        made = template.build(Context(facts, rng, indirect_prob=indirect), template, None)
        return made.program if made is not None else None

    facts, used, out = world(), 0, []
    for i in range(n):
        template = TEMPLATES[i % len(TEMPLATES)] if cycle else rng.choice(TEMPLATES)
        if used == DRAFTS_PER_WORLD:
            facts, used = world(), 0
        program = draft(template, facts)
        for _ in range(WORLDS_PER_DRAFT):  # e.g. a world without two actions of unequal length
            if program is not None:
                break
            facts, used = world(), 0
            program = draft(template, facts)
        else:
            raise RuntimeError(f"template {template.name!r} drafts nothing on any world")
        used += 1
        out.append((template.name, program))
    return out


def sample_trees(
    n: int, seed: int = 0, indirect: float = 0.15, cycle: bool = False
) -> list[ModuleTree]:
    """The compiled trees of :func:`sample_programs`."""
    return [compile_cached(program) for _, program in sample_programs(n, seed, indirect, cycle)]
