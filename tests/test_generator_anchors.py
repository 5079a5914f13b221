"""Recombined anchors: sub-program anchors' words learned, anchors swapped in words and trees."""

from __future__ import annotations

from stair.generator.anchors import AnchorLexicon, anchors_of, recombine_anchors, with_anchors
from stair.generator.augment import time_expression
from stair.generator.target import from_target, to_target
from stair.programs import compile_program, from_tokens
from stair.programs.text import tokenize

HOLDING_LAST = (
    "Query(class, OnlyItem(IterateUntil(backward, video, Exists(holding, Filter(frame, "
    "[relations])), Filter(frame, [relations, holding, objects]))))"
)
INDIRECT = (
    "Could a pillow be seen while opening the thing they were holding last?",
    f"Exists(pillow, Iterate(Localize(while, ToAction(opening, {HOLDING_LAST})), "
    "Filter(frame, [objects])))",
)
FIRST = (
    "Which object were they touching first after opening a door?",
    "Query(class, IterateUntil(forward, Localize(after, opening a door), "
    "Exists(touching, Filter(frame, [relations])), Filter(frame, [relations, touching, objects])))",
)
BETWEEN = (
    "Was the person touching the cup between sitting on a sofa and closing a box?",
    "Exists(cup, Iterate(Localize(between, [sitting on a sofa, closing a box]), "
    "Filter(frame, [relation, touching, objects])))",
)
TRAILING = (  # the time expression does not end the question: nothing is learned from it
    "Which were they holding while opening the thing they were holding last: the cup or the box?",
    f"Choose(cup, box, Query(class, OnlyItem(Iterate(Localize(while, ToAction(opening, "
    f"{HOLDING_LAST})), Filter(frame, [relations, holding, objects])))))",
)


def parts(question: str, program: str):
    return tokenize(question), compile_program(program)


def test_the_words_of_an_anchor_said_at_the_end_are_learned():
    lexicon = AnchorLexicon.learn([parts(*INDIRECT), parts(*FIRST)])
    (anchor,) = anchors_of(parts(*INDIRECT)[1])
    assert " ".join(lexicon.words(anchor)) == "opening the thing they were holding last"
    assert len(lexicon.learned) == 1  # the phrase anchor needs no learning
    assert AnchorLexicon.learn([parts(*TRAILING)]).learned == {}
    (phrase,) = anchors_of(parts(*FIRST)[1])
    assert AnchorLexicon().words(phrase) == ("opening", "a", "door")


def test_an_indirect_anchor_moves_under_another_question():
    lexicon = AnchorLexicon.learn([parts(*INDIRECT)])
    donor = lexicon.found(*parts(*INDIRECT))[0]
    words, tree = parts(*FIRST)
    (own,) = lexicon.found(words, tree)
    assert own.kind == "phrase" and donor.kind == "ToAction"
    new_words, new_tree = with_anchors(words, tree, [(own, donor)])
    assert " ".join(new_words) == (
        "which object were they touching first after opening the thing they were holding last"
    )
    assert sum(n.module == "ToAction" for n in new_tree.nodes) == 2  # the window, twice
    target = to_target(new_tree, new_words)
    assert from_tokens(from_target(target, new_words)) == new_tree
    # a time expression with a learned anchor is a donor for time-expression recombination too
    found = time_expression(*parts(*INDIRECT), lexicon)
    assert found is not None and found.words[0] == "while"
    assert time_expression(*parts(*INDIRECT)) is None


def test_both_anchors_of_a_window_can_be_replaced():
    lexicon = AnchorLexicon.learn([parts(*INDIRECT)])
    donor = lexicon.found(*parts(*INDIRECT))[0]
    words, tree = parts(*BETWEEN)
    first, second = lexicon.found(words, tree)
    new_words, new_tree = with_anchors(words, tree, [(second, donor), (first, donor)])
    assert " ".join(new_words).endswith(
        "between opening the thing they were holding last and opening the thing they were "
        "holding last"
    )
    (window,) = {n for n in new_tree.nodes if n.module == "Temporal"}
    assert window.args[1] == window.args[2] == donor.node


def test_recombine_anchors_is_seeded_and_keeps_the_rate():
    pairs = [parts(*INDIRECT), parts(*FIRST), parts(*BETWEEN)] * 20
    lexicon = AnchorLexicon.learn(pairs)
    assert recombine_anchors(pairs, 0.0, lexicon) == [None] * len(pairs)
    everything = recombine_anchors(pairs, 1.0, lexicon, seed=5)
    assert everything == recombine_anchors(pairs, 1.0, lexicon, seed=5)
    done = [r for r in everything if r is not None]
    assert 20 < len(done) <= len(pairs)
    assert all(w not in (p[0] for p in pairs) for w, _ in done)


def test_indirect_recombination_makes_both_ends_of_a_window_indirect():
    pairs = [parts(*INDIRECT), parts(*BETWEEN)] * 10
    lexicon = AnchorLexicon.learn(pairs)
    between = [r for r in recombine_anchors(pairs, 1.0, lexicon, seed=3, indirect=1.0)[1::2]]
    assert all(r is not None for r in between)
    for words, tree in between:
        (window,) = {n for n in tree.nodes if n.module == "Temporal"}
        assert all(a.args[1].module == "ToAction" for a in window.args[1:])
        assert " ".join(words).count("the thing they were holding last") == 2
    # without it, both ends are indirect only when both draws say so
    plain = recombine_anchors(pairs, 1.0, lexicon, seed=3)[1::2]
    assert sum(" ".join(r[0]).count("the thing they were") == 2 for r in plain if r) < 10
