"""Parse AGQA program strings into the syntax tree of :mod:`stair.programs.ast`.

Grammar (AGQA_FORMAT.md)::

    prog  := CALL
    CALL  := NAME "(" arg ("," arg)* ")"
    arg   := CALL | "[" arg ("," arg)* "]" | ATOM

Atoms run up to the next ``,`` ``(`` ``)`` ``[`` or ``]`` and may contain spaces
(``opening a closet``, ``temporal tag``); surrounding whitespace is dropped and inner runs of
whitespace collapse to one space. A word directly followed by ``(`` is a call. The parser is a
single left-to-right pass; every error names the character position and what was expected there.
Calls and lists may nest at most :data:`MAX_DEPTH` deep (real programs stay far below it), so
that no input, however hostile, can exhaust the stack of the parser or of what reads its trees.
"""

from __future__ import annotations

import re

from stair.programs.ast import Atom, Call, Expr, ListArg
from stair.programs.errors import ProgramError

_DELIMS = set(",()[]")
_NAME = re.compile(r"[A-Za-z_][A-Za-z_0-9]*$")
#: the deepest nesting of calls and lists a program may have
MAX_DEPTH = 32


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.depth = 0  # calls and lists open at the current position

    def error(self, message: str, position: int | None = None) -> ProgramError:
        pos = self.pos if position is None else position
        return ProgramError(message, position=pos, source=self.text)

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def peek(self) -> str:
        self.skip_space()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def expect(self, char: str, what: str) -> None:
        found = self.peek()
        if found != char:
            shown = repr(found) if found else "end of input"
            raise self.error(f"expected {what}, found {shown}")
        self.pos += 1

    def parse_program(self) -> Call:
        if not self.text.strip():
            raise self.error("empty program: expected a call such as Exists(...)", 0)
        expr = self.parse_arg()
        if not isinstance(expr, Call):
            raise self.error("a program must be a call NAME(...)", expr.start)
        if self.peek():
            raise self.error(f"unexpected {self.peek()!r} after the end of the program")
        return expr

    def parse_arg(self) -> Expr:
        char = self.peek()
        if char == "[":
            return self.parse_list()
        if char in _DELIMS or not char:
            shown = repr(char) if char else "end of input"
            raise self.error(f"expected an argument (a call, a [list] or a word), found {shown}")
        return self.parse_atom_or_call()

    def enter(self, start: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"calls and lists nest deeper than {MAX_DEPTH} levels", start)

    def parse_list(self) -> ListArg:
        start = self.pos
        self.expect("[", "'['")
        self.enter(start)
        items = self.parse_items("]")
        self.depth -= 1
        return ListArg(tuple(items), start, self.pos)

    def parse_items(self, closer: str) -> list[Expr]:
        items = [self.parse_arg()]
        while True:
            char = self.peek()
            if char == ",":
                self.pos += 1
                items.append(self.parse_arg())
            elif char == closer:
                self.pos += 1
                return items
            else:
                shown = repr(char) if char else "end of input"
                raise self.error(f"expected ',' or {closer!r}, found {shown}")

    def parse_atom_or_call(self) -> Expr:
        self.skip_space()
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in _DELIMS:
            self.pos += 1
        raw = self.text[start : self.pos]
        end = start + len(raw.rstrip())
        word = " ".join(raw.split())
        if self.pos < len(self.text) and self.text[self.pos] == "(":
            if not _NAME.match(word):
                raise self.error(f"{word!r} is not a function name", start)
            self.pos += 1
            self.enter(start)
            if self.peek() == ")":
                raise self.error(f"{word}() needs at least one argument")
            args = self.parse_items(")")
            self.depth -= 1
            return Call(word, tuple(args), start, self.pos)
        if '"' in word:
            raise self.error(f"unexpected quote in {word!r}", start)
        return Atom(word, start, end)


def parse(text: str) -> Call:
    """Parse one AGQA program string; raise :class:`ProgramError` naming the position on failure."""
    if not isinstance(text, str):
        raise ProgramError(f"a program must be a string, got {type(text).__name__}")
    return _Parser(text).parse_program()
