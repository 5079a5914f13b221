"""Decode videos into a few uniformly sampled RGB frames, robustly.

This is the first step of the raw-video path (DESIGN.md §1, §3): a video file becomes a uint8
array ``[T, H, W, 3]`` plus the time in seconds of each sampled frame, which a backbone then embeds
(:mod:`stair.data.video.backbone`) and the feature store caches (:mod:`stair.data.video.store`).

What can go wrong with real files, and what this module does about it:

* **Over-reported frame counts.** decord's ``len(vr)`` counts packets (or trusts the container);
  packets that decode to nothing make indices near the end fail, and decord may crash or spin
  forever on them. Before sampling, the last index is checked to decode; if it does not, the
  video is read with PyAV instead, which decodes sequentially and counts the frames that really
  decode, and sampling is clamped to those (``DecodedVideo.num_decodable`` vs ``num_reported``).
* **Corrupt, truncated, missing or unreadable files** raise :class:`VideoDecodeError` naming the
  file. When decord fails for any reason, PyAV is tried before giving up.
* **Hangs and crashes.** decord can block in native code holding the GIL, where no thread or
  signal can interrupt it. :class:`stair.data.video.worker.VideoDecoder` therefore decodes in a
  child process and kills it when a video exceeds its deadline (the job goes on with a fresh
  child, and PyAV gets a second chance at the file).

``read_video`` decodes in the calling process (no deadline); ``VideoDecoder`` and
``decode_video`` (in :mod:`stair.data.video.worker`) add the guard, and ``decode_many`` runs
several guarded decoders in parallel for batch jobs such as ``stair features``. Frames are written
with :func:`stair.data.video.writer.write_mp4`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from stair.data.video import backends
from stair.data.video.sampling import (
    DecodedVideo,
    Sampling,
    VideoDecodeError,
    resize_frames,
    sample_indices,
    target_size,
)

log = logging.getLogger(__name__)

__all__ = [
    "DecodedVideo",
    "Sampling",
    "VideoDecodeError",
    "file_id",
    "read_video",
    "resize_frames",
    "sample_indices",
    "target_size",
]


def read_video(
    path: str | os.PathLike,
    sampling: Sampling | None = None,
    *,
    backend: str = "auto",
    threads: int = 0,
) -> DecodedVideo:
    """Decode ``path`` in this process (no deadline; ``video_worker.VideoDecoder`` adds one).

    ``backend``: ``"auto"`` (decord, then PyAV if decord fails), ``"decord"`` or ``"pyav"``.
    ``threads``: decoder threads (0 = let the library choose). Raises :class:`VideoDecodeError`
    naming the file when the video cannot be decoded by any backend.
    """
    sampling = sampling or Sampling()
    path = str(path)
    if not os.path.exists(path):
        raise VideoDecodeError(path, "no such file")
    if os.path.isdir(path):
        raise VideoDecodeError(path, "is a directory, not a video file")
    if backend not in ("auto", "decord", "pyav"):
        raise ValueError(f"unknown backend {backend!r}; use auto, decord or pyav")
    errors = []
    for name in ("decord", "pyav") if backend == "auto" else (backend,):
        try:
            video = backends.READERS[name](path, sampling, threads)
        except VideoDecodeError:
            raise
        except Exception as err:  # any library failure: try the next backend
            errors.append(f"{name}: {_one_line(err)}")
            log.debug("%s failed on %s: %s", name, path, err)
            continue
        video.frames = resize_frames(video.frames, sampling.size)
        if errors:
            log.warning("decord failed on %s, decoded with PyAV instead (%s)", path, errors[0])
        return video
    raise VideoDecodeError(path, "; ".join(errors))


def _one_line(err: BaseException) -> str:
    """A short single-line form of a library error (decord's carry C++ backtraces)."""
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def file_id(path: str | os.PathLike) -> str:
    """The video id used across STAIR: the file name without its extension."""
    return Path(path).stem
