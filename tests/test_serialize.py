"""Serialisations: lossless round trips, readable forms, and errors on bad input."""

import json

import pytest
from hypothesis import given, settings

from stair.programs import (
    ModuleTree,
    ProgramError,
    check,
    compile_program,
    from_json,
    from_text,
    from_tokens,
    to_json,
    to_pretty,
    to_text,
    to_tokens,
)
from tests.tree_strategies import trees

PROGRAM = "Exists(phone, Iterate(Localize(before, opening a closet), Filter(frame, [objects])))"


@settings(max_examples=150, deadline=None)
@given(trees())
def test_tokens_round_trip(root):
    tree = check(ModuleTree(root))
    assert from_tokens(to_tokens(tree)) == tree
    assert from_tokens(" ".join(to_tokens(tree))) == tree


@settings(max_examples=150, deadline=None)
@given(trees())
def test_json_round_trip(root):
    tree = check(ModuleTree(root))
    again = from_json(json.dumps(to_json(tree)))
    assert again == tree
    assert [n.id for n in again.nodes] == [n.id for n in tree.nodes]


@settings(max_examples=150, deadline=None)
@given(trees())
def test_text_round_trip(root):
    tree = check(ModuleTree(root))
    assert from_text(to_text(tree)) == tree


def test_tokens_of_a_compiled_program():
    tokens = to_tokens(compile_program(PROGRAM))
    assert tokens == [
        "Exists", '"', "phone", '"', "Filter[objects]", "Temporal[before]", "video",
        "Localize", "video", '"', "opening", "a", "closet", '"', "_", "_",
    ]  # fmt: skip


def test_json_keeps_source_and_origins():
    tree = compile_program(PROGRAM)
    data = to_json(tree)
    assert data["source"] == PROGRAM
    assert data["root"]["module"] == "Exists" and data["root"]["type"] == "Bool"
    again = from_json(data)
    assert again.source == PROGRAM
    assert [n.origin for n in again.nodes] == [n.origin for n in tree.nodes]


def test_pretty_shows_ids_types_and_phrases():
    text = to_pretty(compile_program(PROGRAM))
    assert text.splitlines()[0] == "#0 Exists -> Bool"
    assert '"opening a closet"' in text and "#3 Localize -> Frames" in text


@pytest.mark.parametrize(
    "tokens,what",
    [
        ('Exists " cup "', "unexpected end of tokens"),
        ("Nope video", "expected a module, found 'Nope'"),
        ("Filter[sideways] video _", "unknown Category 'sideways'"),
        ('Count Localize video " a " extra', "unexpected tokens after the program"),
        ("Exists video Filter[objects] video _", "must be Concept or Text, got Video"),
        (
            'Temporal[before] video Localize video " a " Localize video " b "',
            "only allowed with switch between",
        ),
    ],
)
def test_bad_tokens(tokens, what):
    with pytest.raises(ProgramError) as info:
        from_tokens(tokens)
    assert what in str(info.value)


def test_bad_text_names_position():
    with pytest.raises(ProgramError) as info:
        from_text('Exists("cup" Filter[objects](video))')
    assert "position 13" in str(info.value) and "expected ',' or ')'" in str(info.value)


def test_bad_json():
    data = to_json(compile_program(PROGRAM))
    data["root"]["args"][1]["module"] = "Teleport"
    with pytest.raises(ProgramError, match="unknown module 'Teleport'"):
        from_json(data)
