"""Every program shape AGQA's question generator emits, with every kind of indirect reference,
compiles, type-checks and round-trips (tests/data/agqa_program_shapes.txt, one per line)."""

from pathlib import Path

import pytest

from stair.programs import (
    Phrase,
    ProgramError,
    compile_program,
    from_json,
    from_tokens,
    to_json,
    to_tokens,
)
from stair.programs.shapes import compile_by_shape

SHAPES = Path(__file__).parent / "data" / "agqa_program_shapes.txt"


def _programs() -> list[tuple[int, str, str | None]]:
    out, expected_error = [], None
    for number, line in enumerate(SHAPES.read_text().splitlines(), start=1):
        if line.startswith("# expect-error:"):
            expected_error = line.removeprefix("# expect-error:").strip()
        elif line.strip() and not line.startswith("#"):
            out.append((number, line.strip(), expected_error))
            expected_error = None
    return out


PROGRAMS = _programs()


def test_the_shape_file_covers_the_whole_grammar():
    assert len(PROGRAMS) > 500
    text = SHAPES.read_text()
    for name in (
        "IterateUntil(backward",
        "Localize(between",
        "ToAction(",
        "Compare(",
        "XOR(",
        "HasItem(",
        "Superlative(min, Filter(video, [actions])",
    ):
        assert name in text


@pytest.mark.parametrize("number,program,error", PROGRAMS, ids=[str(n) for n, _, _ in PROGRAMS])
def test_agqa_shape_compiles(number, program, error):
    if error is not None:
        with pytest.raises(ProgramError) as info:
            compile_program(program)
        assert error in str(info.value)
        return
    tree = compile_program(program)
    assert from_tokens(to_tokens(tree)) == tree
    assert from_json(to_json(tree)) == tree


def test_compiling_by_shape_gives_what_the_compiler_gives_on_every_agqa_shape():
    """The data module, ``stair prepare agqa`` and the generator compile by shape
    (:mod:`stair.programs.shapes`): the same tree in every field, or the same error."""
    for number, program, error in PROGRAMS:
        if error is not None:
            with pytest.raises(ProgramError) as expected:
                compile_program(program)
            with pytest.raises(ProgramError) as got:
                compile_by_shape(program)
            assert str(got.value) == str(expected.value), number
            continue
        ours, theirs = compile_by_shape(program), compile_program(program)
        assert ours == theirs and ours.source == theirs.source, number
        for a, b in zip(ours.nodes, theirs.nodes, strict=True):
            assert (a.id, a.origin) == (b.id, b.origin), number
            assert [leaf.origin for leaf in a.leaves()] == [leaf.origin for leaf in b.leaves()]
            assert [leaf.text for leaf in a.leaves() if isinstance(leaf, Phrase)] == [
                leaf.text for leaf in b.leaves() if isinstance(leaf, Phrase)
            ]
