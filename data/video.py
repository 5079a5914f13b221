"""Decode videos into a few uniformly sampled RGB frames, robustly.

This is the first step of the raw-video path (DESIGN.md §1, §3): a video file becomes a uint8
array ``[T, H, W, 3]`` plus the time in seconds of each sampled frame, which a backbone then embeds
(:mod:`stair.data.features`) and the feature store caches (:mod:`stair.data.feature_store`).

What can go wrong with real files, and what this module does about it:

* **Over-reported frame counts.** decord's ``len(vr)`` counts packets (or trusts the container);
  packets that decode to nothing make indices near the end fail, and decord may crash or spin
  forever on them. Before sampling, the last index is checked to decode; if it does not, the
  video is read with PyAV instead, which decodes sequentially and counts the frames that really
  decode, and sampling is clamped to those (``DecodedVideo.num_decodable`` vs ``num_reported``).
* **Corrupt, truncated, missing or unreadable files** raise :class:`VideoDecodeError` naming the
  file. When decord fails for any reason, PyAV is tried before giving up.
* **Hangs and crashes.** decord can block in native code holding the GIL, where no thread or
  signal can interrupt it. :class:`stair.data.video_worker.VideoDecoder` therefore decodes in a
  child process and kills it when a video exceeds its deadline (the job goes on with a fresh
  child, and PyAV gets a second chance at the file).

``read_video`` decodes in the calling process (no deadline); ``VideoDecoder`` and
``decode_video`` (in :mod:`stair.data.video_worker`) add the guard, and ``decode_many`` runs
several guarded decoders in parallel for batch jobs such as ``stair features``. Frames are written
with :func:`stair.data.video_writer.write_mp4`.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stair.errors import StairError

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


class VideoDecodeError(StairError):
    """A video file is missing, corrupt, truncated, unreadable, or took too long to decode."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot decode video {self.path}: {reason}")

    def __reduce__(self):  # keep the two-argument constructor picklable
        return (type(self), (self.path, self.reason))


@dataclass(frozen=True)
class Sampling:
    """Which frames to take from a video and at what size.

    ``num_frames``: take this many frames, one at the centre of each of ``num_frames`` equal
    segments (a video shorter than that repeats frames, so T is always ``num_frames``).
    ``fps``: instead take one frame every ``1/fps`` seconds; if ``num_frames`` is also given it
    caps the count (a uniform subset is kept), else T depends on the video's length.
    ``size``: ``None`` keeps the decoded size, an int resizes the short side to it (aspect kept),
    ``(H, W)`` resizes to exactly that.
    """

    num_frames: int | None = 16
    fps: float | None = None
    size: int | tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if self.num_frames is None and self.fps is None:
            raise ValueError("give num_frames, fps, or both")
        if self.num_frames is not None and self.num_frames < 1:
            raise ValueError(f"num_frames must be >= 1, got {self.num_frames}")
        if self.fps is not None and self.fps <= 0:
            raise ValueError(f"fps must be positive, got {self.fps}")


@dataclass
class DecodedVideo:
    """Sampled frames of one video.

    ``frames``: uint8 ``[T, H, W, 3]`` RGB. ``timestamps``: float64 ``[T]``, seconds from the
    start of the video of each sampled frame. ``fps``: the video's average frame rate.
    ``num_decodable``: frames that really decode (what sampling used); ``num_reported``: what the
    container claimed. ``backend``: ``"decord"`` or ``"pyav"``.
    """

    path: str
    frames: np.ndarray
    timestamps: np.ndarray
    fps: float
    num_decodable: int
    num_reported: int
    backend: str


def sample_indices(num_available: int, native_fps: float, sampling: Sampling) -> np.ndarray:
    """Frame indices (int64, ascending, possibly repeated) to read from a video of that length."""
    if num_available < 1:
        raise ValueError("a video needs at least one frame")
    if sampling.fps is None:
        t = sampling.num_frames
        return np.floor((np.arange(t) + 0.5) * num_available / t).astype(np.int64)
    native = native_fps if native_fps > 0 else sampling.fps
    step = native / sampling.fps
    count = max(1, math.ceil(num_available / step - 1e-9))
    idx = np.minimum(np.floor(np.arange(count) * step + 1e-6), num_available - 1).astype(np.int64)
    if sampling.num_frames is not None and len(idx) > sampling.num_frames:
        keep = np.floor((np.arange(sampling.num_frames) + 0.5) * len(idx) / sampling.num_frames)
        idx = idx[keep.astype(np.int64)]
    return idx


def target_size(height: int, width: int, size: int | tuple[int, int] | None) -> tuple[int, int]:
    """The (H, W) that ``size`` asks for, given the decoded (H, W)."""
    if size is None:
        return height, width
    if isinstance(size, int):
        short = min(height, width)
        return (
            max(1, round(height * size / short)),
            max(1, round(width * size / short)),
        )
    return int(size[0]), int(size[1])


def resize_frames(frames: np.ndarray, size: int | tuple[int, int] | None) -> np.ndarray:
    """Resize uint8 ``[T, H, W, 3]`` frames (antialiased bilinear) to what ``size`` asks for."""
    from PIL import Image

    h, w = target_size(frames.shape[1], frames.shape[2], size)
    if (h, w) == frames.shape[1:3]:
        return frames
    out = np.empty((len(frames), h, w, 3), dtype=np.uint8)
    for i, frame in enumerate(frames):
        out[i] = np.asarray(Image.fromarray(frame).resize((w, h), Image.BILINEAR))
    return out


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
    from stair.data import video_backends as backends

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
