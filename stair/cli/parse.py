"""``stair parse``: compile AGQA programs and show their module trees."""

from __future__ import annotations

import argparse
import json
import sys

HELP = "compile AGQA program strings into typed module trees and print them"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("program", nargs="?", help="an AGQA program string")
    parser.add_argument("--file", help="compile every line of this file (one program per line)")
    parser.add_argument("--json", action="store_true", help="print the tree as JSON")
    parser.add_argument("--tokens", action="store_true", help="print the prefix tokens")


def _show(tree, args: argparse.Namespace) -> str:
    from stair.programs import to_json, to_pretty, to_text, to_tokens

    if args.json:
        return json.dumps(to_json(tree), indent=2)
    if args.tokens:
        return " ".join(to_tokens(tree))
    return f"{to_text(tree)}\n\n{to_pretty(tree)}"


def run(args: argparse.Namespace) -> int:
    from stair.cli import shorten
    from stair.files import TextFileError, decode_line, read_raw_lines
    from stair.programs import ProgramError, compile_program, to_json, to_text

    if (args.program is None) == (args.file is None):
        print("stair parse: give a program string or --file F (one of them)", file=sys.stderr)
        return 2
    if args.program is not None:
        print(_show(compile_program(_utf8(args.program)), args))
        return 0
    failures = total = 0
    for number, raw in read_raw_lines(args.file):  # a file that cannot be read: TextFileError
        try:
            program = decode_line(raw, args.file, number).strip()
        except TextFileError as err:
            total, failures = total + 1, failures + 1
            print(err, file=sys.stderr)
            continue
        if not program or program.startswith("#"):
            continue
        total += 1
        try:
            tree = compile_program(program)
        except ProgramError as err:
            failures += 1
            first, *rest = shorten(str(err)).splitlines()
            print(f"{args.file}:{number}: {first}", file=sys.stderr)
            for extra in rest:
                print(f"    {extra}", file=sys.stderr)
            continue
        if args.json:
            print(json.dumps({"line": number, **to_json(tree)}))
        else:
            print(f"{number}: {to_text(tree)}")
    print(f"{total - failures} of {total} programs compiled", file=sys.stderr)
    return 2 if failures else 0


def _utf8(program: str) -> str:
    """``program`` if it is text; bytes of the command line that were not UTF-8 (kept by Python
    as lone surrogates) are a ProgramError naming their position."""
    from stair.programs import ProgramError

    try:
        program.encode("utf-8")
    except UnicodeEncodeError as err:
        raise ProgramError("not valid UTF-8", position=err.start) from None
    return program
