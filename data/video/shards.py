"""Feature extraction split over processes and nodes: shards, their store files, and the merge.

A :class:`Shard` ``i/n`` (``i`` from 0) owns the videos whose id hashes to ``i`` modulo ``n``
(:func:`shard_of`: the first 8 bytes of the id's BLAKE2b digest, as an integer). Hashing the id
rather than taking every n-th video of the list means that a video stays in its shard when the
list grows, shrinks or is reordered, and that two files with the same id (which the extraction
reports as duplicates) land in the same shard. The shards of ``n`` cover every video exactly once.

Each shard is extracted into its own store, ``<out stem>.shard-<i>-of-<n>.h5`` next to the final
store (:func:`shard_path`), with its own report of skipped videos; a shard resumes like any store.
The shard of a process comes from ``--shard i/n`` (:func:`parse_shard`) or, without it, from the
launcher (:func:`shard_from_env`): torchrun's ``RANK``/``WORLD_SIZE`` or SLURM's
``SLURM_PROCID``/``SLURM_NTASKS``, when there is more than one process.

:func:`merge_shards` folds finished shard stores into one store (``stair features-merge``): all
shards must have been built with the same settings, a video found in two shards must have the same
features in both, the merged store is written to a temporary file and renamed into place, and the
shards' skipped reports become the merged store's report. Rerunning a merge, after a crash or
after more shards finished, gives the same store as a single run would.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from stair.data.video.reader import file_id
from stair.data.video.store import (
    FORMAT,
    FeatureStore,
    FeatureStoreError,
    lock_path,
    meta_differences,
    parts_dir,
    report_path,
)
from stair.errors import StairError
from stair.files import LockedError, lock, read_lines, replacing, write_lines

log = logging.getLogger(__name__)

__all__ = [
    "MergeSummary",
    "Shard",
    "ShardError",
    "ShardMergeError",
    "merge_shards",
    "parse_shard",
    "resolve_shard",
    "shard_from_env",
    "shard_of",
    "shard_path",
    "shard_paths",
]

#: (rank, world size) variables of the launchers, the first one present wins
LAUNCHERS = (("RANK", "WORLD_SIZE"), ("SLURM_PROCID", "SLURM_NTASKS"))
#: a process's rank on its node, by launcher
LOCAL_RANKS = ("LOCAL_RANK", "SLURM_LOCALID")


class ShardError(StairError):
    """A shard spec (``--shard`` or the launcher's environment) that is not ``i/n``, 0 <= i < n."""


class ShardMergeError(FeatureStoreError):
    """A shard store that cannot be merged: missing, unfinished, in use, built with other
    settings, or holding other features for a video than another shard. ``path`` names it."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        self.path, self.reason = str(path), reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self):
        return (type(self), (self.path, self.reason))


def shard_of(video_id: str, count: int) -> int:
    """The shard (of ``count``) owning ``video_id``: a stable hash of the id, modulo ``count``."""
    digest = hashlib.blake2b(video_id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % count


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (``index`` from 0)."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ShardError(
                f"shard {self.index}/{self.count}: want i/n with n >= 1 and 0 <= i < n "
                "(shards are numbered from 0)"
            )

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def owns(self, video_id: str) -> bool:
        return shard_of(video_id, self.count) == self.index

    def select(self, videos: Iterable[str | os.PathLike]) -> list[Path]:
        """The videos of this shard (by :func:`~stair.data.video.reader.file_id`), in order."""
        return [Path(v) for v in videos if self.owns(file_id(v))]

    def path(self, out: str | os.PathLike) -> Path:
        """This shard's store file for the final store ``out`` (see :func:`shard_path`)."""
        return shard_path(out, self.index, self.count)


def parse_shard(text: str, source: str = "--shard") -> Shard:
    """``"1/4"`` -> ``Shard(1, 4)``; anything else raises :class:`ShardError` naming ``source``."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match:
        raise ShardError(f"{source} {text!r}: want i/n, e.g. 0/4 (shard i of n, from 0)")
    index, count = int(match[1]), int(match[2])
    if count < 1 or index >= count:
        raise ShardError(
            f"{source} {text!r}: the shard index must be below the shard count "
            f"(0 to {max(count - 1, 0)} for {count} shards; shards are numbered from 0)"
        )
    return Shard(index, count)


def shard_from_env(env: Mapping[str, str] | None = None) -> Shard | None:
    """The shard of this process under torchrun (``RANK``/``WORLD_SIZE``) or SLURM
    (``SLURM_PROCID``/``SLURM_NTASKS``), or None when neither launched more than one process."""
    env = os.environ if env is None else env
    for rank_var, size_var in LAUNCHERS:
        size_text = env.get(size_var)
        if size_text is None:
            continue
        try:
            size = int(size_text)
        except ValueError:
            raise ShardError(f"{size_var}={size_text!r} is not a whole number") from None
        if size <= 1:
            return None
        if rank_var not in env:
            raise ShardError(f"{size_var}={size} is set but {rank_var} is not")
        text = f"{env[rank_var]}/{size}"
        return parse_shard(text, f"{rank_var}/{size_var}")
    return None


def resolve_shard(text: str | None, env: Mapping[str, str] | None = None) -> Shard | None:
    """The shard of ``--shard`` when given, else the launcher's (:func:`shard_from_env`)."""
    return parse_shard(text) if text is not None else shard_from_env(env)


def local_rank(env: Mapping[str, str] | None = None) -> int | None:
    """This process's rank on its node (``LOCAL_RANK``, ``SLURM_LOCALID``), if a launcher set
    one: the accelerator it should take on a node with several."""
    env = os.environ if env is None else env
    for var in LOCAL_RANKS:
        if env.get(var, "").strip().isdigit():
            return int(env[var])
    return None


def shard_path(out: str | os.PathLike, index: int, count: int) -> Path:
    """``features.h5`` -> ``features.shard-<index>-of-<count>.h5``, next to it."""
    out = Path(out)
    return out.with_name(f"{out.stem}.shard-{index}-of-{count}.h5")


def shard_paths(out: str | os.PathLike, count: int) -> list[Path]:
    """The store files of all ``count`` shards of ``out``; a missing one raises
    :class:`ShardMergeError` naming it (and the ``--shard`` run that would make it)."""
    if count < 1:
        raise ShardError(f"--shards {count}: want at least 1 shard")
    paths = [shard_path(out, i, count) for i in range(count)]
    missing = [i for i, p in enumerate(paths) if not p.is_file()]
    if missing:
        runs = ", ".join(f"--shard {i}/{count}" for i in missing[:5])
        raise ShardMergeError(
            paths[missing[0]],
            f"missing ({len(missing)} of {count} shards of {out} are: run `stair features` with "
            f"{runs}{', ...' if len(missing) > 5 else ''})",
        )
    return paths


@dataclass
class MergeSummary:
    """What one merge did: ``videos`` in the merged store, of which ``added`` by this run."""

    shards: int
    videos: int
    added: int
    already: int
    duplicates: int
    skipped: int
    report: Path


def _hold(stack: contextlib.ExitStack, path: Path, what: str) -> None:
    try:
        stack.enter_context(lock(lock_path(path), what))
    except LockedError as err:
        raise ShardMergeError(path, f"in use by another writer ({err}); let it finish") from None


def _open(stack: contextlib.ExitStack, path: Path, name: str) -> FeatureStore:
    """The finished store at ``path`` (a shard, or the merged store), read-only."""
    if not path.is_file():
        raise ShardMergeError(path, f"no such {name} store")
    if any(parts_dir(path).glob("*.h5")):
        raise ShardMergeError(
            path,
            f"the {name} did not finish (committed parts under {parts_dir(path)}); "
            "rerun its `stair features` command first",
        )
    store = stack.enter_context(FeatureStore(path))
    if store.attrs.get("format") != FORMAT:
        raise ShardMergeError(path, f"not a feature store (format {store.attrs.get('format')!r})")
    return store


def _same_entry(a: tuple[np.ndarray, dict[str, Any]], b: tuple[np.ndarray, dict[str, Any]]) -> bool:
    (x, x_attrs), (y, y_attrs) = a, b
    return (
        x.shape == y.shape
        and np.array_equal(x, y)
        and np.array_equal(x_attrs.get("timestamps", ()), y_attrs.get("timestamps", ()))
    )


def _check_settings(meta: dict[str, Any], store: FeatureStore, first: Path) -> None:
    differ = meta_differences(meta, store.attrs)
    if differ:
        what = ", ".join(f"{k}: {a!r} in {first.name}, {b!r} here" for k, (a, b) in differ.items())
        raise ShardMergeError(store.path, f"built with other settings than {first} ({what})")


def _reports(shards: Sequence[Path]) -> list[dict[str, Any]]:
    """The records of the shards' skipped reports, in shard order, each once."""
    records, seen = [], set()
    for shard in shards:
        path = report_path(shard)
        if not path.is_file():
            continue
        for number, line in read_lines(path):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                record = None
            if not isinstance(record, dict):
                raise ShardMergeError(path, f"line {number}: not a JSON record")
            key = json.dumps(record, sort_keys=True)
            if key not in seen:
                seen.add(key)
                records.append(record)
    return records


def merge_shards(out: str | os.PathLike, shards: Sequence[str | os.PathLike]) -> MergeSummary:
    """Merge the finished shard stores ``shards`` into the store ``out``; see the module doc.

    An existing ``out`` is kept and extended (it must have the shards' settings, and a video in
    it and in a shard must have the same features); when there is nothing to add it is left
    untouched. The merged report (``<out stem>.skipped.jsonl``) lists the shards' reports.
    """
    out, paths = Path(out), [Path(s) for s in shards]
    if not paths:
        raise ShardMergeError(out, "no shard stores to merge")
    resolved = [p.resolve() for p in paths]
    for i, p in enumerate(resolved):
        if p == out.resolve():
            raise ShardMergeError(paths[i], "is the merged store itself; give another --out")
        if p in resolved[:i]:
            raise ShardMergeError(paths[i], "given twice")
    for path in paths:  # before taking locks, which would create their folders
        if not path.is_file():
            raise ShardMergeError(path, "no such shard store")
    with contextlib.ExitStack() as stack:
        _hold(stack, out, f"feature store {out}")
        for path in paths:
            _hold(stack, path, f"shard {path}")
        stores = [_open(stack, path, "shard") for path in paths]
        meta = stores[0].attrs
        for store in stores[1:]:
            _check_settings(meta, store, paths[0])
        owner: dict[str, int] = {}
        duplicates = 0
        for i, store in enumerate(stores):
            for video_id in store.ids():
                if video_id not in owner:
                    owner[video_id] = i
                    continue
                first = stores[owner[video_id]]
                if not _same_entry(first.get(video_id), store.get(video_id)):
                    raise ShardMergeError(
                        store.path,
                        f"video {video_id!r} is also in {first.path}, with other features",
                    )
                duplicates += 1
        ids, existing = set(owner), set()
        if out.exists():
            merged = _open(stack, out, "merged")
            _check_settings(meta, merged, paths[0])
            existing = set(merged.ids())
            for video_id in sorted(existing & ids):
                shard = stores[owner[video_id]]
                if not _same_entry(merged.get(video_id), shard.get(video_id)):
                    raise ShardMergeError(
                        shard.path, f"video {video_id!r} is already in {out}, with other features"
                    )
            merged.close()
        new = sorted(ids - existing)
        if new or not out.exists():
            _write(out, meta, new, {v: paths[owner[v]] for v in new})
        records = _reports(paths)
        write_lines(report_path(out), [json.dumps(r) for r in records])
    skipped = sum(1 for r in records if "error" in r)
    log.info("merged %d shards into %s: %d videos added", len(paths), out, len(new))
    return MergeSummary(
        shards=len(paths),
        videos=len(existing | ids),
        added=len(new),
        already=len(existing & ids),
        duplicates=duplicates,
        skipped=skipped,
        report=report_path(out),
    )


def _write(out: Path, meta: dict[str, Any], new: list[str], source: dict[str, Path]) -> None:
    """Copy the videos ``new`` (from their shard files ``source``) into a temporary copy of
    ``out`` and rename it over ``out``: a crash leaves ``out`` as it was."""
    by_shard: dict[Path, list[str]] = {}
    for video_id in new:
        by_shard.setdefault(source[video_id], []).append(video_id)
    with replacing(out) as tmp:
        if out.exists():
            shutil.copyfile(out, tmp)
        with h5py.File(tmp, "a", libver="latest") as dst:
            dst.attrs.update(meta)
            videos = dst.require_group("videos")
            for shard, ids in by_shard.items():
                with h5py.File(shard, "r") as src:
                    for video_id in ids:
                        src.copy(src["videos"][video_id], videos, name=video_id)
