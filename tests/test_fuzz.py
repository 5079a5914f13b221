"""Hostile program text: whatever a user or a file holds, the program language answers with a tree
or a ProgramError, and `stair parse` with one line per bad program and exit code 2 — never a
RecursionError, a UnicodeDecodeError or a traceback."""

from __future__ import annotations

import contextlib
import io
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stair.cli import main
from stair.programs import (
    ModuleTree,
    ProgramError,
    compile_program,
    from_json,
    from_text,
    from_tokens,
    to_json,
    to_text,
    to_tokens,
)
from stair.programs.parser import MAX_DEPTH
from tests.test_compile import GOLDEN

REAL = [source for source, _ in GOLDEN.values()]
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
#: characters mutations insert: the grammar's delimiters, words, quotes, NUL and non-ASCII text
ALPHABET = st.sampled_from([*"(),[] ab_\"'\x00\t\n", "NOT(", "video", "é", "\udcff", "→"])


def _compiles_or_program_error(text: str) -> None:
    try:
        tree = compile_program(text)
    except ProgramError as err:
        assert str(err)  # a message, whatever the input
        return
    assert isinstance(tree, ModuleTree)


@st.composite
def mutated(draw) -> str:
    """A real program shape with a few random edits: insertions, deletions, a duplicated slice,
    a cut, or a wrapping in calls."""
    text = draw(st.sampled_from(REAL))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        kind = draw(st.sampled_from(["insert", "delete", "duplicate", "cut", "wrap"]))
        if kind == "insert":
            text = text[:at] + draw(ALPHABET) + text[at:]
        elif kind == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 5)) :]
        elif kind == "duplicate":
            end = draw(st.integers(at, len(text)))
            text = text[:end] + text[at:end] + text[end:]
        elif kind == "cut":
            text = text[:at]
        else:
            n = draw(st.integers(1, 3 * MAX_DEPTH))
            text = "NOT(" * n + text + ")" * draw(st.integers(0, n))
    return text


@FUZZ
@given(mutated())
def test_mutated_real_programs_compile_or_raise_program_error(text):
    _compiles_or_program_error(text)


@FUZZ
@given(st.lists(ALPHABET, max_size=40).map("".join))
def test_arbitrary_text_compiles_or_raises_program_error(text):
    _compiles_or_program_error(text)


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 400, 10_000])
@pytest.mark.parametrize(
    "shape",
    [
        lambda n: "NOT(" * n + REAL[0] + ")" * n,  # closed calls
        lambda n: "NOT(" * n,  # unclosed input
        lambda n: "Exists(x, " + "[" * n + "a" + "]" * n + ")",  # lists
        lambda n: "f(" * n + "x" + ")" * n,  # unknown functions
    ],
)
def test_deep_nesting_is_a_program_error_naming_the_position(shape, depth):
    with pytest.raises(ProgramError, match=f"nest deeper than {MAX_DEPTH} levels") as info:
        compile_program(shape(depth))
    assert info.value.position is not None


def test_the_deepest_allowed_program_compiles_and_round_trips():
    inner = "Exists(cup, Filter(video, [objects]))"  # three levels
    text = "NOT(" * (MAX_DEPTH - 3) + inner + ")" * (MAX_DEPTH - 3)
    tree = compile_program(text)
    assert from_tokens(to_tokens(tree)) == tree
    assert from_text(to_text(tree)) == tree
    assert from_json(json.dumps(to_json(tree))) == tree
    with pytest.raises(ProgramError):
        compile_program("NOT(" + text + ")")


@pytest.mark.parametrize("depth", [200, 10_000])
def test_deep_serialised_trees_are_program_errors(depth):
    with pytest.raises(ProgramError, match="nests deeper"):
        from_tokens("Not " * depth + 'Exists " cup " Filter[objects] video _')
    with pytest.raises(ProgramError, match="nests deeper"):
        from_text("Not(" * depth + 'Exists("cup", Filter[objects](video))' + ")" * depth)
    nested: dict = {"input": "video"}
    for _ in range(depth):
        nested = {"module": "Not", "args": [nested]}
    with pytest.raises(ProgramError, match="nests deeper"):
        from_json(json.dumps({"root": nested}) if depth < 500 else {"root": nested})
    with pytest.raises(ProgramError, match="nests deeper"):
        from_json('{"root": ' + "[" * depth + "]" * depth + "}")


def test_bad_string_escapes_in_text_are_program_errors():
    with pytest.raises(ProgramError, match="bad string"):
        from_text('Exists("c\\q", Filter[objects](video))')


def _stair(*argv: str) -> tuple[int, str]:
    """Run ``stair ARGV`` in this process: (exit code, what it printed on stderr)."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(list(argv))
    return code, err.getvalue()


@settings(max_examples=40, deadline=None)
@given(st.lists(mutated(), min_size=1, max_size=4))
def test_parse_file_reports_every_line_and_the_summary(tmp_path_factory, lines):
    path = tmp_path_factory.mktemp("fuzz") / "programs.txt"
    joined = [" ".join(line.splitlines()) for line in lines]
    # a blank or comment line is skipped, not counted: those become a (failing) program
    body = [j if j.strip() and not j.strip().startswith("#") else "x" for j in joined]
    raw = b"\n".join(line.encode("utf-8", "surrogateescape") for line in body)
    path.write_bytes(raw + b"\n\xff\xfe not utf-8\n" + ("NOT(" * 10_000).encode() + b"\n")
    code, err = _stair("parse", "--file", str(path))
    assert code == 2  # the last two lines always fail
    assert f"{path}: line {len(body) + 1}: not valid UTF-8" in err
    assert f"{path}:{len(body) + 2}: at position" in err
    assert err.splitlines()[-1].endswith(f"of {len(body) + 2} programs compiled")
    assert "Traceback" not in err and all(len(line) < 400 for line in err.splitlines())


@pytest.mark.parametrize(
    "program", ["NOT(" * 10_000, "Exists(\x00, Filter(video, [objects]))\x00", "Exists(\udcff"]
)
def test_parse_cli_deep_nul_and_non_utf8_arguments_exit_2(program):
    code, err = _stair("parse", program)
    assert code == 2
    assert err.startswith("stair parse: error: at position ") and "Traceback" not in err
    assert all(len(line) < 400 for line in err.splitlines())
