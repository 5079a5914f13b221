"""The ``stair`` command line: one entry point, one module per sub-command.

Each sub-command lives in its own module (``stair/cli/<name>.py``) exposing ``HELP`` (one line),
``add_arguments(parser)`` and ``run(args) -> int``. A ``StairError`` escaping ``run`` is printed
as one line (a program error adds its source under a caret when that stays short) and exits with
code 2. Modules are imported only when their command
runs, so ``stair parse`` never pays for torch. Adding a command = one module + one line below.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from stair.errors import StairError

#: command name -> module implementing it (imported lazily)
COMMANDS: dict[str, str] = {
    "parse": "stair.cli.parse",
    "prepare": "stair.cli.prepare",
    "prepare-agqa": "stair.cli.prepare_agqa",
    "features": "stair.cli.features",
    "features-merge": "stair.cli.features_merge",
    "synth": "stair.cli.synth",
    "fit": "stair.cli.lightning",
    "validate": "stair.cli.lightning",
    "test": "stair.cli.lightning",
    "predict": "stair.cli.lightning",
    "demo": "stair.cli.demo",
    "ask": "stair.cli.ask",
    "audit": "stair.cli.audit",
    "prompt": "stair.cli.prompt",
    "generator": "stair.cli.generator",
    "answerer": "stair.cli.answerer",
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The full parser, or one holding only the command ``only`` (the others stay unimported)."""
    parser = argparse.ArgumentParser(
        prog="stair",
        description="STAIR: auditable video question answering with neural module networks.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in [only] if only else COMMANDS:
        module = importlib.import_module(COMMANDS[name])
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    name = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(name if name in COMMANDS else None).parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args._run(args) or 0)
    except StairError as err:
        print(f"stair {args.command}: error: {shorten(str(err))}", file=sys.stderr)
        return 2


def shorten(message: str, width: int = 300) -> str:
    """An error message as printed: its first line alone when a later one (the echo of a huge
    input under a caret) is too long to read, and that line cut to ``width`` characters."""
    first, *rest = message.splitlines() or [""]
    if len(first) > width:
        first = first[: width - 3] + "..."
    if any(len(line) > width for line in rest):
        return first
    return "\n".join([first, *rest])


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
