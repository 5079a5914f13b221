"""A question file's index: columns on disk, memory-mapped, so a split is read one record at a time.

``questions/<split>.jsonl`` gets a sibling ``questions/<split>.index``, written on first use (one
checking pass over the file, the checks of :func:`stair.data.dataset.iter_questions`) and reused
while the question file keeps its stamp (size, modification time and a digest of its first and
last 64 KiB); a changed file is indexed again. The index file holds::

    b"STAIRQIX"  header length (uint64, little-endian)  header (JSON)  padding to 64 bytes
    columns, each aligned to 64 bytes, one row per question (blank lines are not questions):
      offset  int64   where the record's line starts in the question file (bytes)
      length  int32   its length in bytes
      line    int32   its line number (from 1), for errors raised when it is read
      video   int32   its video, a position in the header's "videos" (in order of appearance)

The header says which columns sit where, the version, the stamp, the video ids and the word
counts of the questions and of their options (what the word vocabulary is built from, so that
no process reads the training questions to build it).

The columns are ``numpy.memmap`` views of the file: the processes of a node (DDP ranks, loader
workers) share its pages, and pickling a :class:`QuestionIndex` sends its path, not its columns.
:class:`QuestionRecords` reads record ``i`` with one ``pread`` of its line, parsed then.

Writers are safe together: the file is written to a temporary sibling and renamed into place
(:class:`stair.files.AtomicFile`), under the lock ``questions/.<split>.index.lock``; a second
process waits for the first and reads what it wrote. A folder that cannot be written is indexed
in memory (each process on its own), with a warning.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import logging
import multiprocessing
import os
import time
from array import array
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, overload

import numpy as np

from stair.data.dataset import QuestionRecord, parse_question
from stair.errors import DatasetFormatError
from stair.files import AtomicFile, LockedError, lock
from stair.programs.text import tokenize

__all__ = ["QuestionIndex", "QuestionRecords", "index_path", "open_index"]

log = logging.getLogger(__name__)
MAGIC = b"STAIRQIX"
VERSION = 1
#: the columns, in file order, with their types
COLUMNS = {"offset": "<i8", "length": "<i4", "line": "<i4", "video": "<i4"}
_TYPECODE = {"<i8": "q", "<i4": "i"}  # the same columns as array.array typecodes
_ALIGN = 64
_PART_BYTES = 32 << 20  # a part of a question file indexed by one process
_SAMPLE = 1 << 16  # bytes of each end of the question file that go into its stamp


def index_path(jsonl: str | os.PathLike) -> Path:
    """Where the index of question file ``jsonl`` lives: ``<split>.index`` beside it."""
    return Path(jsonl).with_suffix(".index")


def source_stamp(jsonl: str | os.PathLike) -> dict[str, Any]:
    """What identifies the content of ``jsonl``: size, mtime (ns) and a digest of both ends."""
    path = Path(jsonl)
    try:
        with open(path, "rb") as handle:
            stat = os.fstat(handle.fileno())
            digest = hashlib.blake2b(handle.read(_SAMPLE), digest_size=16)
            if stat.st_size > _SAMPLE:
                handle.seek(max(_SAMPLE, stat.st_size - _SAMPLE))
                digest.update(handle.read(_SAMPLE))
    except OSError as err:
        raise DatasetFormatError(path, "", f"cannot read ({err.strerror or err})") from None
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "digest": digest.hexdigest()}


def _pad(n: int) -> int:
    return -n % _ALIGN


class QuestionIndex:
    """The index of one question file: its columns (see the module docstring) and header.

    ``videos``: video ids in order of appearance; ``video``: each question's position in it;
    ``question_words`` / ``option_words``: word counts of the questions and of their options.
    """

    def __init__(self, jsonl: Path, header: dict[str, Any], columns: dict[str, np.ndarray],
                 file: Path | None) -> None:  # fmt: skip
        self.jsonl, self.header, self.file = jsonl, header, file
        self.count = int(header["count"])
        self.offset, self.length = columns["offset"], columns["length"]
        self.line, self.video = columns["line"], columns["video"]
        self.videos: list[str] = header["videos"]
        self.question_words: dict[str, int] = header["question_words"]
        self.option_words: dict[str, int] = header["option_words"]
        self._fd, self._pid = -1, -1

    def __len__(self) -> int:
        return self.count

    @property
    def mapped(self) -> bool:
        """Whether the columns are memory-mapped from the index file (not copies in memory)."""
        return all(isinstance(c, np.memmap) for c in (self.offset, self.length, self.video))

    def raw(self, i: int) -> bytes:
        """The bytes of question ``i``'s line (one ``pread``; the file is opened per process)."""
        if self._pid != os.getpid():
            self._fd, self._pid = os.open(self.jsonl, os.O_RDONLY), os.getpid()
        return os.pread(self._fd, int(self.length[i]), int(self.offset[i]))

    def record(self, i: int) -> QuestionRecord:
        """Question ``i``, read and checked now (errors name the question file and line)."""
        if not -self.count <= i < self.count:
            raise IndexError(f"question {i} of {self.count}")
        i %= self.count
        return parse_question(self.raw(i), self.jsonl, int(self.line[i]))

    def video_of(self, i: int) -> str:
        return self.videos[int(self.video[i])]

    def close(self) -> None:
        if self._fd >= 0 and self._pid == os.getpid():
            os.close(self._fd)
        self._fd, self._pid = -1, -1

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # also at interpreter exit
            self.close()

    def __reduce__(self):
        if self.file is not None:  # the receiver maps the same file: shared pages, no copy
            return (_reopen, (str(self.jsonl), str(self.file), self.header))
        columns = {name: np.asarray(getattr(self, name)) for name in COLUMNS}
        return (QuestionIndex, (self.jsonl, self.header, columns, None))


def _reopen(jsonl: str, file: str, header: dict[str, Any]) -> QuestionIndex:
    found = _load(Path(file), Path(jsonl), header["source"])
    if found is None:
        raise DatasetFormatError(file, "", "the question index changed while in use")
    return found


def _load(file: Path, jsonl: Path, stamp: dict[str, Any]) -> QuestionIndex | None:
    """The index in ``file`` if it is one of the current version for ``stamp``, else None."""
    try:
        with open(file, "rb") as handle:
            head = handle.read(16)
            if len(head) < 16 or head[:8] != MAGIC:
                return None
            size = int.from_bytes(head[8:], "little")
            header = json.loads(handle.read(size))
        if header.get("version") != VERSION or header.get("source") != stamp:
            return None
        start = 16 + size + _pad(16 + size)
        data = np.memmap(file, dtype=np.uint8, mode="r")
        columns = {}
        for name, (dtype, at, count) in header["columns"].items():
            width = np.dtype(dtype).itemsize * count
            columns[name] = data[start + at : start + at + width].view(dtype)
            if len(columns[name]) != count:
                return None
        return QuestionIndex(jsonl, header, columns, file)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _scan_part(jsonl: Path, start: int, end: int) -> dict[str, Any]:
    """Check and index the lines of ``jsonl`` that start in ``[start, end)`` (``start`` begins
    a line); line numbers count from the part's first line. A bad line ends the part with
    ``"error": (its line, the reason)``."""
    rows = {name: array(_TYPECODE[dtype]) for name, dtype in COLUMNS.items()}
    videos: dict[str, int] = {}
    questions, options = Counter(), Counter()
    number, error = 0, None
    with open(jsonl, "rb") as handle:
        handle.seek(start)
        offset = start
        while offset < end:
            raw = handle.readline()
            if not raw:
                break
            number += 1
            at, offset = offset, offset + len(raw)
            if not raw.strip():
                continue
            try:
                record = parse_question(raw, jsonl, number)
            except DatasetFormatError as err:
                error = (number, err.reason)
                break
            rows["offset"].append(at)
            rows["length"].append(len(raw))
            rows["line"].append(number)
            rows["video"].append(videos.setdefault(record.video_id, len(videos)))
            questions.update(tokenize(record.question))
            for option in record.metadata.options:
                options.update(tokenize(option))
    return {"rows": {name: bytes(rows[name]) for name in COLUMNS}, "lines": number,
            "videos": list(videos), "questions": questions, "options": options,
            "error": error}  # fmt: skip


def _parts(jsonl: Path, size: int, count: int) -> list[tuple[int, int]]:
    """``count`` byte ranges of ``jsonl`` that cover it, each starting at a line."""
    cuts = [0]
    with open(jsonl, "rb") as handle:
        for k in range(1, count):
            handle.seek(max(cuts[-1], size * k // count))
            if handle.tell() > 0:
                handle.seek(handle.tell() - 1)
                handle.readline()  # to the start of the next line
            cuts.append(min(size, handle.tell()))
    cuts.append(size)
    return [(a, b) for a, b in itertools.pairwise(cuts) if b > a] or [(0, 0)]


def _workers(size: int) -> int:
    """Processes that index a file of ``size`` bytes: one per 32 MiB, at most 8 and the CPUs
    this process may use; 1 where processes cannot be forked (or this one may have none, as a
    loader worker)."""
    if not hasattr(os, "fork") or multiprocessing.current_process().daemon:
        return 1
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(8, cpus or 1, size // _PART_BYTES))


def _scan(jsonl: Path, stamp: dict[str, Any]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """One checking pass over ``jsonl`` (in parallel parts if it is large): the header and
    columns of its index. The first bad line raises :class:`DatasetFormatError` naming it."""
    parts = _parts(jsonl, stamp["size"], _workers(stamp["size"]))
    if len(parts) == 1:
        found = [_scan_part(jsonl, *parts[0])]
    else:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(len(parts), mp_context=context) as pool:
            found = list(pool.map(_scan_part, [jsonl] * len(parts), *zip(*parts)))
    videos: dict[str, int] = {}
    questions, options = Counter(), Counter()
    columns: dict[str, list[np.ndarray]] = {name: [] for name in COLUMNS}
    lines = 0
    for part in found:
        if part["error"] is not None:
            number, reason = part["error"]
            raise DatasetFormatError(jsonl, f"line {lines + number}", reason)
        rows = {name: np.frombuffer(part["rows"][name], dtype) for name, dtype in COLUMNS.items()}
        codes = np.asarray([videos.setdefault(v, len(videos)) for v in part["videos"]], "<i4")
        rows["video"] = codes[rows["video"]] if len(codes) else rows["video"]
        rows["line"] = rows["line"] + lines
        for name in COLUMNS:
            columns[name].append(rows[name])
        questions.update(part["questions"])
        options.update(part["options"])
        lines += part["lines"]
    merged = {name: np.concatenate(columns[name]).astype(dtype, copy=False)
              for name, dtype in COLUMNS.items()}  # fmt: skip
    at, layout = 0, {}
    for name, dtype in COLUMNS.items():
        layout[name] = (dtype, at, len(merged[name]))
        at += merged[name].nbytes + _pad(merged[name].nbytes)
    header = {
        "version": VERSION, "source": stamp, "count": len(merged["offset"]), "columns": layout,
        "videos": list(videos), "question_words": dict(questions), "option_words": dict(options),
    }  # fmt: skip
    return header, merged


def _write(file: Path, header: dict[str, Any], columns: dict[str, np.ndarray]) -> None:
    head = json.dumps(header, separators=(",", ":")).encode("utf-8")
    with AtomicFile(file, binary=True) as out:
        out.write(MAGIC + len(head).to_bytes(8, "little") + head + bytes(_pad(16 + len(head))))
        for name in COLUMNS:
            data = columns[name].tobytes()
            out.write(data + bytes(_pad(len(data))))


def build_index(jsonl: str | os.PathLike, file: str | os.PathLike | None = None) -> QuestionIndex:
    """Index ``jsonl`` now, whatever is there already, into ``file`` (default
    :func:`index_path`; ``""``: in memory only)."""
    jsonl = Path(jsonl)
    stamp = source_stamp(jsonl)
    for _ in range(3):
        header, columns = _scan(jsonl, stamp)
        now = source_stamp(jsonl)
        if now == stamp:
            break
        stamp = now  # the question file changed while it was read: index what it is now
    else:
        raise DatasetFormatError(jsonl, "", "the file keeps changing while it is indexed")
    if file == "":
        return QuestionIndex(jsonl, header, columns, None)
    file = index_path(jsonl) if file is None else Path(file)
    _write(file, header, columns)
    found = _load(file, jsonl, stamp)
    if found is None:
        raise DatasetFormatError(file, "", "the question index just written cannot be read")
    return found


def open_index(jsonl: str | os.PathLike, *, poll: float = 0.2) -> QuestionIndex:
    """The index of question file ``jsonl``: reused if current, else built (and written, unless
    the folder is read-only). A bad record raises :class:`DatasetFormatError` naming its line."""
    jsonl = Path(jsonl)
    stamp = source_stamp(jsonl)
    file = index_path(jsonl)
    found = _load(file, jsonl, stamp)
    if found is not None:
        return found
    if not os.access(file.parent, os.W_OK):
        log.warning("%s is read-only: indexing %s in memory", file.parent, jsonl.name)
        return build_index(jsonl, "")
    waiting = False
    while True:
        try:
            with lock(file.with_name(f".{file.name}.lock"), f"question index {file}"):
                found = _load(file, jsonl, source_stamp(jsonl))
                return found if found is not None else build_index(jsonl, file)
        except LockedError:
            if not waiting:
                log.info("waiting for another process to index %s", jsonl)
            waiting = True
            time.sleep(poll)


class QuestionRecords(Sequence[QuestionRecord]):
    """The records of a question file, read one at a time through its index.

    ``transform`` rewrites each record as it is read (the synonym split); it must be picklable
    (a module-level function) for loader workers.
    """

    def __init__(
        self, index: QuestionIndex, transform: Callable[[QuestionRecord], QuestionRecord] | None
    ) -> None:
        self.index, self.transform = index, transform

    def __len__(self) -> int:
        return len(self.index)

    @overload
    def __getitem__(self, i: int) -> QuestionRecord: ...
    @overload
    def __getitem__(self, i: slice) -> list[QuestionRecord]: ...
    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        record = self.index.record(i)
        return record if self.transform is None else self.transform(record)

    def __iter__(self) -> Iterator[QuestionRecord]:
        for i in range(len(self)):
            yield self[i]

    def video_codes(self) -> np.ndarray:
        """Each question's video as a position in :attr:`videos` (memory-mapped)."""
        return self.index.video

    @property
    def videos(self) -> list[str]:
        return self.index.videos
