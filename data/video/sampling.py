"""What a decoded video is and which of its frames to take: the types every decoder shares.

:class:`Sampling` says which frames to take and at what size, :func:`sample_indices` turns it
into frame indices, :class:`DecodedVideo` is what a backend returns and :class:`VideoDecodeError`
what it raises. The decoders (:mod:`stair.data.video.backends`) and the entry point
(:mod:`stair.data.video.reader`) both stand on this module.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from stair.errors import StairError


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
