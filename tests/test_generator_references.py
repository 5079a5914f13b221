"""Recombined object references: an object phrase swapped for a learned indirect reference."""

from __future__ import annotations

from stair.generator.anchors import AnchorLexicon
from stair.generator.references import ReferenceLexicon, recombine_references, with_reference
from stair.generator.target import from_target, to_target
from stair.programs import compile_program, from_tokens
from stair.programs.text import tokenize

HOLDING_LAST = (
    "Query(class, OnlyItem(IterateUntil(backward, video, Exists(holding, Filter(frame, "
    "[relations])), Filter(frame, [relations, holding, objects]))))"
)
LOOKING_FIRST = HOLDING_LAST.replace("backward", "forward").replace("holding", "looking at")
INDIRECT_ANCHOR = (
    "Could a pillow be seen while opening the thing they were holding last?",
    f"Exists(pillow, Iterate(Localize(while, ToAction(opening, {HOLDING_LAST})), "
    "Filter(frame, [objects])))",
)
INDIRECT_OBJECT = (  # an indirect reference as the question's object: Exists's first slot
    "Was the person in front of the thing they were holding last before watching television?",
    f"Exists({HOLDING_LAST}, Iterate(Localize(before, watching television), "
    "Filter(frame, [relations, in front of, objects])))",
)
OTHER_OBJECT = (  # a reference no anchor says: neither its words nor its slot are learned
    "Was the person in front of the thing they were looking at first before watching television?",
    INDIRECT_OBJECT[1].replace(HOLDING_LAST, LOOKING_FIRST),
)
PLAIN = (
    "Was the person in front of the table while opening the thing they were holding last?",
    f"Exists(table, Iterate(Localize(while, ToAction(opening, {HOLDING_LAST})), "
    "Filter(frame, [relations, in front of, objects])))",
)
A_OBJECT = (  # said "a pillow", not "the pillow": not replaced
    "Could a pillow be seen after sitting on a sofa?",
    "Exists(pillow, Iterate(Localize(after, sitting on a sofa), Filter(frame, [objects])))",
)


def parts(question: str, program: str):
    return tokenize(question), compile_program(program)


def lexicon_of(*examples) -> ReferenceLexicon:
    pairs = [parts(*ex) for ex in examples]
    return ReferenceLexicon.learn(pairs, AnchorLexicon.learn(pairs))


def test_references_and_their_slots_are_learned_from_anchors_and_programs():
    lexicon = lexicon_of(INDIRECT_ANCHOR, INDIRECT_OBJECT)
    (reference,) = lexicon.references
    assert " ".join(reference.words) == "the thing they were holding last"
    exists = compile_program(PLAIN[1]).root
    assert ("ToAction", 1) in lexicon.slots and (exists.label, 0) in lexicon.slots
    assert lexicon_of(INDIRECT_ANCHOR, OTHER_OBJECT).slots == {("ToAction", 1)}
    assert len(lexicon_of(INDIRECT_ANCHOR, OTHER_OBJECT).references) == 1


def test_an_object_phrase_becomes_a_reference_in_words_and_tree():
    lexicon = lexicon_of(INDIRECT_ANCHOR, INDIRECT_OBJECT)
    words, tree = parts(*PLAIN)
    ((node, index),) = lexicon.candidates(words, tree)
    assert node.args[index].text == "table"
    new_words, new_tree = with_reference(words, tree, node, index, lexicon.references[0])
    assert " ".join(new_words) == (
        "was the person in front of the thing they were holding last while opening the thing "
        "they were holding last"
    )
    assert new_tree.root.args[0] == lexicon.references[0].node
    assert new_tree.root.args[1] == tree.root.args[1]  # the rest of the program is kept
    target = to_target(new_tree, new_words)
    assert from_tokens(from_target(target, new_words)) == new_tree
    assert lexicon.candidates(*parts(*A_OBJECT)) == []
    assert lexicon_of(INDIRECT_ANCHOR).candidates(words, tree) == []  # no slot learned


def test_recombine_references_is_seeded_and_keeps_the_rate():
    pairs = [parts(*PLAIN), parts(*A_OBJECT), parts(*INDIRECT_OBJECT)] * 20
    lexicon = ReferenceLexicon.learn(pairs, AnchorLexicon.learn(pairs))
    assert recombine_references(pairs, 0.0, lexicon) == [None] * len(pairs)
    everything = recombine_references(pairs, 1.0, lexicon, seed=2)
    assert everything == recombine_references(pairs, 1.0, lexicon, seed=2)
    assert all(r is not None for r in everything[0::3])  # only PLAIN can be replaced
    assert all(r is None for i, r in enumerate(everything) if i % 3)
    half = recombine_references(pairs, 0.5, lexicon, seed=2)
    assert 3 <= sum(r is not None for r in half) <= 17
