"""Files that appear whole or not at all, text read with errors that name the line, and locks.

Every file STAIR writes for a later reader (dataset folders, summaries, predictions, pages,
videos) goes through :class:`AtomicFile` or :func:`replacing`: the bytes go to a temporary sibling
(``.<name>.<pid>.<random>.tmp``), which is flushed to disk and renamed over the target, so a
reader or a crash never leaves half a file behind. On an error the temporary file is deleted and
the target is left as it was.

:func:`read_lines` reads a UTF-8 text file line by line and turns undecodable bytes into a
:class:`TextFileError` naming the file and the line. :func:`lock` takes an exclusive lock for one
writer of a resource and fails at once, with a :class:`LockedError`, when another holds it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from stair.errors import StairError

__all__ = [
    "AtomicFile",
    "LockedError",
    "TextFileError",
    "commit_file",
    "decode_line",
    "lock",
    "read_lines",
    "read_raw_lines",
    "replacing",
    "write_json",
    "write_lines",
    "write_text",
]


class TextFileError(StairError):
    """A text file that cannot be read, or a line of it that is not valid UTF-8.

    ``path``, ``line`` (from 1; None for the whole file) and ``reason`` say the same as data.
    """

    def __init__(self, path: str | os.PathLike, line: int | None, reason: str) -> None:
        self.path, self.line, self.reason = str(path), line, reason
        where = f"{self.path}: line {line}" if line is not None else self.path
        super().__init__(f"{where}: {reason}")

    def __reduce__(self):
        return (type(self), (self.path, self.line, self.reason))


class LockedError(StairError):
    """A resource that another writer holds (the message names the lock file)."""


def _temp_sibling(path: str | os.PathLike) -> Path:
    """A fresh hidden name next to ``path`` for a file that will be renamed to ``path``."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")


def _sync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (where the platform allows opening folders)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def commit_file(tmp: str | os.PathLike, path: str | os.PathLike) -> None:
    """Sync ``tmp`` (written and closed by another writer) and rename it over ``path``."""
    tmp, path = Path(tmp), Path(path)
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    _sync_dir(path.parent)


@contextlib.contextmanager
def replacing(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling of ``path`` for a writer that wants a file name (a video
    encoder, HDF5); when the block ends normally the file is synced and renamed to ``path``, on an
    exception it is deleted. The parent folder is created if needed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_sibling(path)
    try:
        yield tmp
        commit_file(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class AtomicFile:
    """An open file whose content appears at ``path``, complete, only on :meth:`commit`.

    Writes go to a temporary sibling; :meth:`commit` flushes, syncs and renames it into place,
    :meth:`abort` deletes it. As a context manager it commits when the block ends normally and
    aborts on an exception. ``binary``: bytes instead of UTF-8 text.
    """

    def __init__(self, path: str | os.PathLike, *, binary: bool = False) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = _temp_sibling(self.path)
        mode = "wb" if binary else "w"
        self.file: IO[Any] = open(  # noqa: SIM115
            self._tmp, mode, **({} if binary else {"encoding": "utf-8"})
        )

    def write(self, data: Any) -> int:
        return self.file.write(data)

    def commit(self) -> None:
        """Make the content durable and visible at ``path`` (once; later calls do nothing)."""
        if self.file.closed:
            return
        try:
            self.file.flush()
            os.fsync(self.file.fileno())
            self.file.close()
            os.replace(self._tmp, self.path)
            _sync_dir(self.path.parent)
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Drop what was written; ``path`` stays as it was."""
        self.file.close()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> AtomicFile:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            self.commit()
        else:
            self.abort()


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with AtomicFile(path) as out:
        out.write(text)


def write_json(path: str | os.PathLike, data: Any, indent: int | None = 1) -> None:
    """Write ``data`` as JSON (and a final newline) to ``path`` atomically."""
    write_text(path, json.dumps(data, indent=indent) + "\n")


def write_lines(path: str | os.PathLike, lines: Iterable[str]) -> int:
    """Write one line per item (a newline added to each) atomically; returns how many."""
    count = 0
    with AtomicFile(path) as out:
        for line in lines:
            out.write(line + "\n")
            count += 1
    return count


def read_lines(path: str | os.PathLike) -> Iterator[tuple[int, str]]:
    """``(line number from 1, line without its newline)`` of a UTF-8 text file.

    A file that cannot be opened, or bytes that are not UTF-8, raise :class:`TextFileError`
    naming the file (and the line and column of the bad byte).
    """
    for number, raw in read_raw_lines(path):
        yield number, decode_line(raw, path, number)


def read_raw_lines(path: str | os.PathLike) -> Iterator[tuple[int, bytes]]:
    """``(line number from 1, line as bytes)``; a file that cannot be opened raises
    :class:`TextFileError` naming it."""
    path = Path(path)
    try:
        handle = open(path, "rb")  # noqa: SIM115
    except OSError as err:
        raise TextFileError(path, None, f"cannot read ({err.strerror or err})") from None
    with handle:
        yield from enumerate(handle, start=1)


def decode_line(raw: bytes, path: str | os.PathLike, number: int) -> str:
    """Line ``number`` of ``path`` as text, without its line ending; bytes that are not UTF-8
    raise :class:`TextFileError` naming the file, the line and the column."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        reason = f"not valid UTF-8 (byte 0x{raw[err.start]:02x} at column {err.start + 1})"
        raise TextFileError(path, number, reason) from None
    return text.removesuffix("\n").removesuffix("\r")


def _try_lock(path: Path) -> IO[str] | None:
    """The open lock file holding an exclusive lock, or None if another holder has it."""
    for _ in range(5):
        handle = open(path, "a")  # noqa: SIM115
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return None
        try:
            same = os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return handle
        handle.close()  # the previous holder removed the file as we locked it: lock the new one
    return None


@contextlib.contextmanager
def lock(path: str | os.PathLike, what: str) -> Iterator[None]:
    """Hold an exclusive lock on the lock file ``path`` for the block, or raise
    :class:`LockedError` at once if another process (or another open of it) holds it.

    ``what`` names the resource in the error (``"feature store features.h5"``). The lock file is
    removed when the block ends; a holder that dies leaves it behind, unlocked, and the next
    writer takes it over.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = _try_lock(path)
    if handle is None:
        raise LockedError(f"{what} is in use by another writer (lock {path}); let it finish first")
    try:
        yield
    finally:
        path.unlink(missing_ok=True)
        handle.close()
