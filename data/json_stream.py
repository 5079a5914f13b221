"""Stream the elements of a JSON file that is one list (``[{...}, {...}, ...]``), one at a time.

STAR's ``STAR_<split>.json`` (situation graphs included, hundreds of MB) and MSRVTT-QA's
``<split>_qa.json`` are each a single JSON list. :func:`iter_json_list` reads the file in chunks
and decodes one element at a time with the standard library's C decoder
(``json.JSONDecoder.raw_decode`` at an offset), so memory stays at one chunk plus one element
whatever the file size. A file that is not a JSON list, or is not UTF-8, raises
:class:`~stair.data.dataset.DatasetFormatError` naming the file, the element index and the
character offset.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO, TypeVar

from stair.errors import DatasetFormatError

__all__ = ["JSONWindow", "iter_json_list", "iter_records", "json_errors"]

R = TypeVar("R")


class JSONWindow:
    """A sliding window over a text file, for decoding one JSON value at a time (also what
    :func:`stair.data.agqa.files.iter_balanced` streams AGQA's one-object files with)."""

    def __init__(self, f: TextIO, chunk_size: int) -> None:
        self.f, self.chunk_size = f, chunk_size
        self.buf, self.pos, self.offset, self.eof = "", 0, 0, False

    def more(self) -> bool:
        chunk = self.f.read(self.chunk_size)
        if not chunk:
            self.eof = True
            return False
        self.offset += self.pos  # drop what was consumed
        self.buf, self.pos = self.buf[self.pos :] + chunk, 0
        return True

    def peek(self) -> str | None:
        """The next non-space character (not consumed), or None at the end of the file."""
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos] in " \t\r\n":
                self.pos += 1
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self.more():
                return None

    def value(self, decoder: json.JSONDecoder, limit: int) -> Any:
        """Decode the JSON value at the cursor, reading more of the file while it is incomplete."""
        self.peek()
        while True:
            try:
                obj, self.pos = decoder.raw_decode(self.buf, self.pos)
                return obj
            except json.JSONDecodeError:
                if self.eof or len(self.buf) - self.pos > limit or not self.more():
                    raise

    @property
    def where(self) -> int:
        return self.offset + self.pos


@contextmanager
def json_errors(fail: Callable[[str], DatasetFormatError]) -> Iterator[None]:
    """Turn what decoding a JSON file can raise into ``fail(reason)``: the caller's typed error,
    which names the file and the place."""
    try:
        yield
    except json.JSONDecodeError as err:
        raise fail(f"invalid JSON ({err.msg})") from None
    except UnicodeDecodeError as err:
        raise fail(f"not UTF-8 text ({err.reason})") from None
    except RecursionError:
        raise fail("JSON nested too deep") from None


def iter_json_list(
    path: str | os.PathLike, *, chunk_size: int = 1 << 20, max_element_chars: int = 1 << 26
) -> Iterator[tuple[int, Any]]:
    """``(index from 0, element)`` of the JSON list in ``path``, in file order.

    An element longer than ``max_element_chars`` is malformed (this bounds memory on a broken
    file). Raises :class:`DatasetFormatError` at the first place the file stops being a list.
    """
    path = Path(path)
    decoder = json.JSONDecoder()
    try:
        f = open(path, encoding="utf-8")  # noqa: SIM115 (closed below; generator)
    except OSError as err:
        raise DatasetFormatError(path, "", f"cannot read ({err.strerror or err})") from None
    with f:
        src, index = JSONWindow(f, chunk_size), 0

        def fail(reason: str) -> DatasetFormatError:
            return DatasetFormatError(path, f"record {index} (character {src.where})", reason)

        with json_errors(fail):
            if src.peek() != "[":
                raise fail("expected a JSON list of records")
            src.pos += 1
            if src.peek() == "]":
                src.pos += 1
            else:
                while True:
                    yield index, src.value(decoder, max_element_chars)
                    index += 1
                    c = src.peek()
                    src.pos += 1
                    if c == "]":
                        break
                    if c != ",":
                        raise fail(f"expected ',' or ']' after the record, found {c!r}")
            if src.peek() is not None:
                raise fail("unexpected data after the closing ']'")


def iter_records(
    path: str | os.PathLike,
    make: Callable[[Any], R],
    id_key: str,
    on_error: Callable[[DatasetFormatError], None] | None = None,
    id_label: str = "",
) -> Iterator[tuple[str, R]]:
    """Stream ``(where, make(record))`` over the JSON list in ``path``.

    ``where`` is ``"record <i>"`` (then the record's ``id_key`` value after ``id_label``, when it
    has one), as errors name it. A record that ``make`` rejects with ``ValueError`` raises
    :class:`DatasetFormatError`, or is handed to ``on_error`` and passed over when one is given; a
    file that is not a JSON list always raises.
    """
    path = Path(path)
    for index, rec in iter_json_list(path):
        where = f"record {index}"
        if isinstance(rec, dict) and isinstance(rec.get(id_key), (str, int)):
            where += f" ({id_label}{rec[id_key]})"
        try:
            yield where, make(rec)
        except ValueError as err:
            error = DatasetFormatError(path, where, str(err))
            if on_error is None:
                raise error from None
            on_error(error)
