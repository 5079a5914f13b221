"""An HDF5 cache of per-video features that survives crashes and resumes where it stopped.

Decoding and feature extraction run once (DESIGN.md §8); training and evaluation read features
from here by video id. Layout of a store file (``features.h5``)::

    /                     attrs: format, backbone, weights, dim, clip_len, frames, sample_fps, size
    /videos/<video_id>    float32 [T, D] features, one row per sampled frame
                          attrs: backbone, frames (T), fps (the video's), timestamps (float64 [T],
                          seconds of each row), source (video path), decoder

Crash safety. HDF5 files are not crash-safe while open for writing (a killed writer can leave the
whole file unreadable), so :class:`FeatureStoreWriter` never writes into the store in place:
finished videos go to a small *part* file under ``features.h5.parts/``, written under a temporary
name and renamed when complete (every ``commit_every`` videos and at the end). Closing the writer
merges the parts into a temporary copy of the store and renames it over ``features.h5``. A crash
loses at most the videos of the part being written; a rerun (or :class:`FeatureStore`) sees every
committed part, skips those videos and merges them at its end.

Bad videos are not fatal: the writer lists them (video path, error) as JSON lines in a report
file beside the store, ``features.skipped.jsonl``, and a rerun tries them again. A video stored
from only part of its frames (a truncated file whose index survives) is listed there too, as
``{"video", "partial"}``, and its entry carries the ``partial`` attribute.

One writer at a time: a writer holds ``features.h5.lock`` from its start to :meth:`close`, and a
second writer of the same store fails at once with a :class:`FeatureStoreError`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from stair.errors import StairError
from stair.files import AtomicFile, LockedError, commit_file, lock, replacing

log = logging.getLogger(__name__)

__all__ = [
    "FeatureStore",
    "FeatureStoreError",
    "FeatureStoreWriter",
    "MissingFeaturesError",
    "meta_differences",
    "report_path",
]

FORMAT = "stair-features/1"


class FeatureStoreError(StairError):
    """A feature store that is absent, unreadable or built with other settings."""


class MissingFeaturesError(FeatureStoreError, KeyError):
    """No features for a video id in a store (or a pre-extracted feature set)."""

    def __init__(self, video_id: str, where: str | os.PathLike) -> None:
        self.video_id, self.where = video_id, str(where)
        super().__init__(f"no features for video {video_id!r} in {self.where}")

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]

    def __reduce__(self):
        return (type(self), (self.video_id, self.where))


def parts_dir(path: str | os.PathLike) -> Path:
    """The folder of committed part files of the store at ``path``."""
    return Path(f"{path}.parts")


def report_path(path: str | os.PathLike) -> Path:
    """The JSON-lines report of skipped videos for the store at ``path``."""
    path = Path(path)
    return path.with_name(path.stem + ".skipped.jsonl")


def lock_path(path: str | os.PathLike) -> Path:
    """The lock file a writer of the store at ``path`` holds."""
    return Path(f"{path}.lock")


def meta_differences(old: dict[str, Any], new: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """``{setting: (old value, new value)}`` for the settings of ``new`` that ``old`` holds with
    another value (compared as text, as HDF5 attributes come back as numpy scalars)."""
    return {k: (old[k], v) for k, v in new.items() if k in old and str(old[k]) != str(v)}


def _attrs(obj: h5py.HLObject) -> dict[str, Any]:
    """HDF5 attributes as plain Python values (arrays stay numpy arrays)."""
    out = {}
    for key, value in obj.attrs.items():
        if isinstance(value, bytes):
            value = value.decode()
        elif isinstance(value, np.generic):
            value = value.item()
        out[key] = value
    return out


class FeatureStore:
    """Read features by video id from a store file and its committed parts.

    ``store[video_id]`` / :meth:`get` return ``(features float32 [T, D], attrs)``; a missing id
    raises :class:`MissingFeaturesError` naming the id and the file. Files are opened lazily and
    reopened in a new process, so a store can be shared with DataLoader workers.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        parts = sorted(parts_dir(self.path).glob("*.h5"))
        self._files = ([self.path] if self.path.exists() else []) + parts
        if not self._files:
            raise FeatureStoreError(f"no feature store at {self.path}")
        self._handles: list[h5py.File] = []
        self._pid = -1
        self._where: dict[str, int] = {}
        for i, handle in enumerate(self._open()):
            for video_id in handle.get("videos", {}):
                self._where.setdefault(video_id, i)

    def _open(self) -> list[h5py.File]:
        if self._pid != os.getpid():
            self._handles = []
            for file in self._files:
                try:
                    self._handles.append(h5py.File(file, "r"))
                except OSError as err:
                    raise FeatureStoreError(
                        f"cannot read feature store file {file}: {err}"
                    ) from err
            self._pid = os.getpid()
        return self._handles

    def __getstate__(self) -> dict[str, Any]:  # picklable for DataLoader workers (spawn)
        return {**self.__dict__, "_handles": [], "_pid": -1}

    @property
    def attrs(self) -> dict[str, Any]:
        """Store-level settings (backbone, dim, sampling) from the first file."""
        return _attrs(self._open()[0])

    def ids(self) -> list[str]:
        """All video ids with features, sorted."""
        return sorted(self._where)

    def __contains__(self, video_id: object) -> bool:
        return video_id in self._where

    def __len__(self) -> int:
        return len(self._where)

    def get(self, video_id: str) -> tuple[np.ndarray, dict[str, Any]]:
        """``(features float32 [T, D], attrs)`` of ``video_id``."""
        if video_id not in self._where:
            raise MissingFeaturesError(video_id, self.path)
        entry = self._open()[self._where[video_id]]["videos"][video_id]
        return entry[()].astype(np.float32, copy=False), _attrs(entry)

    __getitem__ = get

    def close(self) -> None:
        for handle in self._handles:
            handle.close()
        self._handles, self._pid = [], -1

    def __enter__(self) -> FeatureStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class FeatureStoreWriter:
    """Append features to a store crash-safely, skipping videos it already holds.

    ``meta``: what produced the features (backbone, weights, dim, sampling...): stored as the
    store's attributes and compared with an existing store's, so that a rerun with other settings
    fails instead of mixing features. ``commit_every``: videos per part file (also committed
    every ``commit_seconds``). Use as a context manager, or call :meth:`close`. One writer per
    store at a time, enforced by a lock file (readers may come and go): a second writer raises
    :class:`FeatureStoreError` from its constructor.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        meta: dict[str, Any],
        *,
        commit_every: int = 64,
        commit_seconds: float = 120.0,
    ) -> None:
        self.path = Path(path)
        self.meta = {"format": FORMAT, **meta}
        self.commit_every, self.commit_seconds = commit_every, commit_seconds
        self._lock = contextlib.ExitStack()
        try:
            self._lock.enter_context(lock(lock_path(self.path), f"feature store {self.path}"))
        except LockedError as err:
            raise FeatureStoreError(str(err)) from None
        self.done: set[str] = set()
        try:
            if self.path.exists() or any(parts_dir(self.path).glob("*.h5")):
                with FeatureStore(self.path) as old:
                    self._check_meta(old.attrs)
                    self.done = set(old.ids())
        except BaseException:
            self._lock.close()
            raise
        self.added = 0
        self.skipped: list[dict[str, str]] = []
        self.partial: list[dict[str, str]] = []
        self._part: h5py.File | None = None
        self._part_tmp: Path | None = None
        self._part_count = 0
        self._part_started = 0.0
        self._report: AtomicFile | None = None  # opened at the first line written
        self._closed = False

    def _check_meta(self, old: dict[str, Any]) -> None:
        differ = meta_differences(old, self.meta)
        if differ:
            what = ", ".join(f"{k}: {a!r} there, {b!r} now" for k, (a, b) in differ.items())
            raise FeatureStoreError(
                f"feature store {self.path} was built with other settings ({what}); "
                "write to another file or delete it"
            )

    def __contains__(self, video_id: object) -> bool:
        return video_id in self.done

    def add(
        self,
        video_id: str,
        features: np.ndarray,
        timestamps: np.ndarray,
        fps: float,
        partial: str | None = None,
        **attrs: Any,
    ) -> None:
        """Store ``features`` ``[T, D]`` of ``video_id`` (rows at ``timestamps`` seconds).

        ``partial``: why only part of the video went in (``"36 of 132 frames decode"``); stored
        as the entry's ``partial`` attribute and listed in the report.
        """
        features = np.asarray(features, dtype=np.float32)
        if features.ndim != 2 or len(features) != len(timestamps):
            raise ValueError(f"{video_id}: features {features.shape} vs {len(timestamps)} times")
        if video_id in self.done:
            raise ValueError(f"{video_id} is already in {self.path}")
        if self._part is None:
            self._new_part()
        entry = self._part["videos"].create_dataset(video_id, data=features)
        entry.attrs.update(
            {
                "backbone": str(self.meta.get("backbone", "")),
                "frames": len(features),
                "fps": float(fps),
                "timestamps": np.asarray(timestamps, dtype=np.float64),
                **({"partial": partial} if partial else {}),
                **attrs,
            }
        )
        if partial:
            source = str(attrs.get("source", video_id))
            self.partial.append({"video": source, "partial": partial})
            self._report_line({"video": source, "partial": partial})
            log.warning("stored %s from part of it: %s", source, partial)
        self.done.add(video_id)
        self.added += 1
        self._part_count += 1
        full = self._part_count >= self.commit_every
        if full or time.monotonic() - self._part_started > self.commit_seconds:
            self.commit()

    def skip(self, video: str | os.PathLike, error: BaseException | str) -> None:
        """Record a bad video in the report (JSON line: video path, error) and go on."""
        record = {"video": str(video), "error": str(error)}
        self.skipped.append(record)
        self._report_line(record)
        log.warning("skipped %s: %s", video, error)

    def _report_line(self, record: dict[str, str]) -> None:
        if self._report is None:
            self._report = AtomicFile(report_path(self.path))
        self._report.write(json.dumps(record) + "\n")
        self._report.file.flush()

    def _new_part(self) -> None:
        parts_dir(self.path).mkdir(parents=True, exist_ok=True)
        name = f"part-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}.h5"
        self._part_tmp = parts_dir(self.path) / f".{name}.tmp"
        self._part = h5py.File(self._part_tmp, "w", libver="latest")
        self._part.attrs.update(self.meta)
        self._part.create_group("videos")
        self._part_count, self._part_started = 0, time.monotonic()

    def commit(self) -> None:
        """Make the videos added so far durable (close the current part and rename it)."""
        if self._part is None:
            return
        self._part.close()
        final = self._part_tmp.with_name(self._part_tmp.name[1:].removesuffix(".tmp"))
        commit_file(self._part_tmp, final)
        self._part = self._part_tmp = None
        log.debug("committed %s", final)

    def merge(self) -> None:
        """Fold all committed parts into the store file (temp copy + rename), then drop them."""
        parts = sorted(parts_dir(self.path).glob("*.h5"))
        if not parts:
            return
        with replacing(self.path) as tmp:
            if self.path.exists():
                shutil.copyfile(self.path, tmp)
            with h5py.File(tmp, "a", libver="latest") as out:
                out.attrs.update(self.meta)
                videos = out.require_group("videos")
                for part in parts:
                    with h5py.File(part, "r") as src:
                        for video_id in src["videos"]:
                            if video_id not in videos:
                                src.copy(src["videos"][video_id], videos, name=video_id)
        for part in parts:
            part.unlink()
        shutil.rmtree(parts_dir(self.path), ignore_errors=True)

    def close(self) -> None:
        """Commit, merge the parts into the store, and move the report into place.

        The store file exists afterwards even if no video could be added (an empty store), and
        the report lists this run's skipped and partial videos (empty if none). The lock is
        released last.
        """
        if self._closed:
            return
        self._closed = True
        try:
            self.commit()
            self.merge()
            if not self.path.exists():
                self._write_empty()
            if self._report is None:
                self._report = AtomicFile(report_path(self.path))
            self._report.commit()
        finally:
            self._lock.close()

    def _write_empty(self) -> None:
        with replacing(self.path) as tmp, h5py.File(tmp, "w", libver="latest") as out:
            out.attrs.update(self.meta)
            out.create_group("videos")

    def __enter__(self) -> FeatureStoreWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
