"""Recombined training questions: plain time expressions found, swapped in words and trees."""

from __future__ import annotations

from stair.generator.augment import recombine, recombined, time_expression
from stair.generator.target import from_target, to_target
from stair.programs import compile_program, from_tokens
from stair.programs.text import tokenize

FIRST = (
    "Which object were they holding first after opening a door?",
    "Query(class, IterateUntil(forward, Localize(after, opening a door), "
    "Exists(holding, Filter(frame, [relations])), Filter(frame, [relations, holding, objects])))",
)
BETWEEN = (
    "Was the person touching the cup between sitting on a sofa and closing a box?",
    "Exists(cup, Iterate(Localize(between, [sitting on a sofa, closing a box]), "
    "Filter(frame, [relation, touching, objects])))",
)
COMPARE = (
    "Did they see the cup before or after opening a door?",
    "Compare([before, after], Exists(cup, Iterate(Localize(temporal tag, opening a door), "
    "Filter(frame, [objects]))))",
)


def parts(question: str, program: str):
    return tokenize(question), compile_program(program)


def test_plain_time_expressions_are_found_with_their_words():
    words, tree = parts(*FIRST)
    found = time_expression(words, tree)
    assert found.words == ("after", "opening", "a", "door") and found.start == 6
    assert found.node.label == "Temporal[after]"
    words, tree = parts(*BETWEEN)
    found = time_expression(words, tree)
    assert " ".join(found.words) == "between sitting on a sofa and closing a box"
    assert time_expression(*parts(*COMPARE)) is None  # two different windows
    other = parts("Was the person touching the cup after opening a box?", BETWEEN[1])
    assert time_expression(*other) is None  # not said as the program says it


def test_recombination_swaps_words_and_every_copy_of_the_subtree():
    words, tree = parts(*FIRST)
    donor = time_expression(*parts(*BETWEEN))
    new_words, new_tree = recombined(words, tree, time_expression(words, tree), donor)
    assert " ".join(new_words) == (
        "which object were they holding first between sitting on a sofa and closing a box"
    )
    temporal = [n for n in new_tree.nodes if n.module == "Temporal"]
    assert len(temporal) == 2 and all(n == donor.node for n in temporal)  # the window, twice
    target = to_target(new_tree, new_words)
    assert from_tokens(from_target(target, new_words)) == new_tree
    assert '"' in target and "<q4>" in target  # "holding" is still copied from the question


def test_a_phrase_said_only_inside_the_time_expression_blocks_it():
    donor = time_expression(*parts(*BETWEEN))
    # the counted action is said ("open a door") but copied from the time expression's words
    words = tokenize("How many times did they open a door after opening a door?")
    tree = compile_program("Count(opening a door, Localize(after, opening a door))")
    own = time_expression(words, tree)
    assert own is not None and recombined(words, tree, own, donor) is None
    words = tokenize("How many times did they open a door after opening a door, opening a door?")
    assert recombined(words, tree, time_expression(words, tree), donor) is not None


def test_recombine_is_seeded_and_keeps_the_rate():
    pairs = [parts(*FIRST), parts(*BETWEEN), parts(*COMPARE)] * 20
    assert recombine(pairs, 0.0) == [None] * len(pairs)
    everything = recombine(pairs, 1.0, seed=3)
    assert everything == recombine(pairs, 1.0, seed=3)
    assert all(everything[i] is None for i in range(2, len(pairs), 3))  # Compare: not plain
    done = [r for r in everything if r is not None]
    assert 0 < len(done) <= 40 and all(w != pairs[0][0] and w != pairs[1][0] for w, _ in done)
