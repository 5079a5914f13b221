"""Compile programs by *shape*: one compilation per shape, not per program.

Programs differ mostly in the concepts they name (AGQA's 2.3 M questions and the synthetic
benchmark's drafts alike): ``Exists(cup, Iterate(video, Filter(frame, [objects])))`` and the same
question about a book compile to trees that differ in one phrase. :func:`compile_cached` replaces
every phrase atom of a program (an atom that is not an AGQA keyword) by a placeholder ``_0``,
``_1``, ..., compiles that shape once with
:func:`stair.programs.compile_program` (shapes are cached) and puts the phrases back, with the
character ranges (``origin``) that they and every node have in the program itself.
:func:`compile_lazily` gives the step count from the shape and fills the tree in only when it is
asked for (the synthetic benchmark's generator drops many drafts for their step count alone).

This is exact: the compiler and the type checker treat a non-keyword atom only as the text of a
``Phrase`` (or reject it where a keyword must stand), never by what it says, so the result equals
``compile_program(program)`` in every field: modules, switches, ids, phrases, origins and source
(``tests/test_synth.py`` checks it on every program a small dataset drafts, and
``tests/test_agqa_shapes.py`` on every shape of AGQA's generator). A program whose
shape does not compile, or that has an atom the parser would reject, is compiled as it is, so it
raises the compiler's own error.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from functools import lru_cache

from stair.programs.ast import KEYWORDS
from stair.programs.compiler import compile_program
from stair.programs.errors import ProgramError
from stair.programs.tree import ModuleTree, Node, Phrase, VideoInput

__all__ = ["Compiled", "compile_by_shape", "compile_cached", "compile_lazily"]

#: a delimiter, then an atom with the whitespace around it: what stands before the next ``,``
#: ``)`` or ``]`` (a word followed by ``(`` is a call name, not an atom)
_ATOM = re.compile(r"[,(\[]([^,()\[\]]*)(?=[,)\]])")


class Compiled:
    """A program's compilation: its step count at once (its shape's), its tree on first use.

    Many drafts are dropped for their step count alone; they never need their own tree.
    """

    __slots__ = ("_filler", "_shape", "_tree", "program")

    def __init__(
        self,
        program: str,
        tree: ModuleTree | None = None,
        shape: ModuleTree | None = None,
        filler: _Filler | None = None,
    ) -> None:
        self.program, self._tree, self._shape, self._filler = program, tree, shape, filler

    @property
    def steps(self) -> int:
        """Modules in the tree (``len(tree)``)."""
        return len(self._tree if self._tree is not None else self._shape)  # type: ignore[arg-type]

    @property
    def tree(self) -> ModuleTree:
        if self._tree is None:
            assert self._shape is not None and self._filler is not None
            self._tree = ModuleTree(self._filler.fill(self._shape.root), self.program)
            self._shape = self._filler = None
        return self._tree


@lru_cache(maxsize=16384)
def compile_lazily(program: str) -> Compiled:
    """The compilation of ``program`` (cached; trees are immutable)."""
    return _compile(program)


def compile_cached(program: str) -> ModuleTree:
    """``compile_program(program)``, by shape and with a cache."""
    return compile_lazily(program).tree


def compile_by_shape(program: str) -> ModuleTree:
    """The module tree of ``program``, equal to ``compile_program(program)`` (see above)."""
    return _compile(program).tree


@lru_cache(maxsize=8192)
def _compile_shape(shape: str) -> ModuleTree:
    return compile_program(shape)


def _compile(program: str) -> Compiled:
    pieces: list[str] = []
    phrases: list[tuple[str, int, int]] = []  # (text, start, end) in the program
    ends: list[int] = []  # end of each placeholder in the shape
    shifts: list[int] = [0]  # shifts[i]: program position - shape position after i placeholders
    last = length = 0  # length: of the shape so far
    for match in _ATOM.finditer(program):
        raw = match.group(1)
        word = " ".join(raw.split())
        if not word or word in KEYWORDS:
            continue
        if '"' in word:
            return Compiled(program, compile_program(program))  # the parser's own error
        start = match.start(1) + len(raw) - len(raw.lstrip())
        end = start + len(raw.strip())
        placeholder = f"_{len(phrases)}"
        pieces += [program[last:start], placeholder]
        length += start - last + len(placeholder)
        ends.append(length)
        shifts.append(shifts[-1] + (end - start) - len(placeholder))
        phrases.append((word, start, end))
        last = end
    if not phrases:
        return Compiled(program, compile_program(program))
    pieces.append(program[last:])
    try:
        shape = _compile_shape("".join(pieces))
    except ProgramError:
        return Compiled(program, compile_program(program))
    return Compiled(program, shape=shape, filler=_Filler(phrases, ends, shifts))


class _Filler:
    """Rebuilds a shape's tree with the program's phrases and character ranges."""

    def __init__(
        self, phrases: list[tuple[str, int, int]], ends: list[int], shifts: list[int]
    ) -> None:
        self.phrases, self.ends, self.shifts = phrases, ends, shifts

    def span(self, origin: tuple[int, int]) -> tuple[int, int]:
        """The program's range of a shape's range (whose ends lie outside placeholders)."""
        start, end = origin
        ends, shifts = self.ends, self.shifts
        return start + shifts[bisect_right(ends, start)], end + shifts[bisect_right(ends, end)]

    def fill(self, item):
        kind = item.__class__
        if kind is Node:
            args = tuple(
                tuple(map(self.fill, arg)) if arg.__class__ is tuple else self.fill(arg)
                for arg in item.args
            )
            origin = item.origin and self.span(item.origin)
            return Node(item.module, args, item.switch, item.id, origin)
        if kind is Phrase:
            text, start, end = self.phrases[int(item.text[1:])]
            return Phrase(text, origin=(start, end))
        if kind is VideoInput and item.origin is not None:
            return VideoInput(origin=self.span(item.origin))
        return item  # the shared VIDEO, or None for an empty optional slot
