"""The feature extraction job: decode videos, embed them, add them to an HDF5 feature store.

:func:`extract` decodes videos in worker processes (each within a deadline,
:func:`~stair.data.video.worker.decode_many`) while this process runs the backbone, so decoding
and extraction overlap, and writes each video's features to a
:class:`~stair.data.video.store.FeatureStoreWriter`. It resumes: videos already in the store are
not decoded again; bad videos are skipped and listed next to the store
(:func:`~stair.data.video.store.report_path`). The video id is the file name without extension.
:func:`list_videos` reads a folder of videos or a list file. ``stair features`` is the command.

With a ``shard`` (:class:`~stair.data.video.shards.Shard`), :func:`extract` takes only that
shard's videos and writes them to the shard's own store next to ``out``
(``<out stem>.shard-<i>-of-<n>.h5``), so that processes on many nodes can share one video list;
:func:`~stair.data.video.shards.merge_shards` (``stair features-merge``) joins the shard stores.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from stair.data.video.reader import file_id
from stair.data.video.sampling import Sampling, VideoDecodeError
from stair.data.video.store import FeatureStoreWriter, report_path
from stair.data.video.worker import decode_many
from stair.errors import StairError

if TYPE_CHECKING:  # the backbone (torchvision) is imported by whoever builds one
    from stair.data.video.backbone import FeatureExtractor
    from stair.data.video.shards import Shard

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg")

log = logging.getLogger(__name__)


def list_videos(spec: str | os.PathLike) -> list[Path]:
    """The video files of a folder (sorted, by extension), or the paths listed in a text file."""
    spec = Path(spec)
    if spec.is_dir():
        return sorted(p for p in spec.iterdir() if p.suffix.lower() in VIDEO_EXTENSIONS)
    if not spec.is_file():
        raise StairError(f"--videos {spec}: no such folder or list file")
    paths = []
    for line in spec.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            path = Path(line).expanduser()
            paths.append(path if path.is_absolute() else spec.parent / path)
    return paths


@dataclass
class Summary:
    """What one extraction run did (``total``: the videos of this run's shard, if any)."""

    total: int
    already: int
    added: int
    skipped: int
    report: Path
    store: Path | None = None  # the store written: ``out``, or the shard's store


def extract(
    videos: list[Path],
    out: str | os.PathLike,
    extractor: FeatureExtractor,
    sampling: Sampling,
    *,
    workers: int = 1,
    timeout: float | None = 120.0,
    progress: bool = True,
    shard: Shard | None = None,
) -> Summary:
    """Decode ``videos``, embed them with ``extractor`` and add them to the store at ``out``.

    ``extractor``: a :class:`~stair.data.video.backbone.FeatureExtractor` (or anything with
    ``__call__`` and ``describe()``); ``sampling``: a :class:`~stair.data.video.sampling.Sampling`.
    Videos already in the store are skipped; bad ones are reported and skipped. ``shard``: take
    only its videos, and write to its store (:meth:`~stair.data.video.shards.Shard.path`).
    """
    if shard is not None:
        videos, out = shard.select(videos), shard.path(out)
    meta = {
        **extractor.describe(),
        "frames": sampling.num_frames or 0,
        "sample_fps": float(sampling.fps or 0.0),
        "size": str(sampling.size),
    }
    # Decoding threads per worker: on a CPU backbone one each (more oversubscribes the cores
    # torch is using, and its thread pool slows down far more than decoding gains); on an
    # accelerator the CPU cores are shared by the decoders.
    on_cpu = str(getattr(extractor, "device", "cpu")).startswith("cpu")
    threads = 1 if on_cpu else max(1, (os.cpu_count() or 1) // workers)
    with FeatureStoreWriter(out, meta) as store:
        todo, seen = [], {}
        for path in videos:
            video_id = file_id(path)
            if video_id in seen:
                store.skip(path, f"duplicate video id {video_id!r} (also {seen[video_id]})")
            elif video_id not in store:
                todo.append(path)
            seen.setdefault(video_id, path)
        already = sum(1 for v in seen if v in store.done)
        log.info("%d videos, %d already in %s, %d to do", len(seen), already, out, len(todo))
        decoded = decode_many(todo, sampling, workers=workers, timeout=timeout, threads=threads)
        bar = tqdm(decoded, total=len(todo), unit="video", disable=not progress or None)
        for path, video in bar:
            if isinstance(video, VideoDecodeError):
                store.skip(path, video.reason)
                continue
            features = extractor(video.frames).numpy()
            store.add(
                file_id(path),
                features,
                video.timestamps,
                video.fps,
                source=str(path),
                decoder=video.backend,
                partial=f"{video.num_decodable} of {video.num_reported} frames decode"
                if video.num_decodable < video.num_reported
                else None,
            )
        added, skipped = store.added, len(store.skipped)
    return Summary(len(videos), already, added, skipped, report_path(out), Path(out))
