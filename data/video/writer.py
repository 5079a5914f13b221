"""Write uint8 frames to an H.264 ``.mp4`` with PyAV, atomically.

Used by the synthetic ``video`` renderer, the benchmarks and the tests: whatever is written here
then goes through :mod:`stair.data.video.reader` and a backbone like any real video. The file is
encoded into a temporary sibling and renamed into place (:func:`stair.files.replacing`), so a
reader never sees half a video.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from stair.files import replacing

__all__ = ["write_mp4"]


def _even(n: int) -> int:
    """yuv420p needs even sizes; libx264 refuses odd ones."""
    return n + (n % 2)


def write_mp4(
    path: str | os.PathLike,
    frames: np.ndarray | Iterable[np.ndarray],
    fps: float,
    *,
    crf: int = 23,
    preset: str = "veryfast",
    codec: str = "libx264",
) -> Path:
    """Encode ``frames`` (uint8, ``[T, H, W, 3]`` RGB, or an iterable of ``[H, W, 3]``) at ``fps``.

    Odd frame sizes are padded by one black row/column (H.264 with yuv420p needs even sizes).
    ``codec`` may be ``"libx264"`` (default) or ``"mpeg4"`` where libx264 is unavailable.
    Returns the final path. The parent folder is created if needed.
    """
    path = Path(path)
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    it = iter(frames)
    first = next(it, None)
    if first is None:
        raise ValueError(f"no frames to write to {path}")
    first = np.asarray(first)
    if first.dtype != np.uint8 or first.ndim != 3 or first.shape[2] != 3:
        raise ValueError(f"frames must be uint8 [H, W, 3], got {first.dtype} {first.shape}")
    height, width = first.shape[:2]

    with replacing(path) as tmp, av.open(str(tmp), mode="w", format="mp4") as container:
        rate = Fraction(fps).limit_denominator(1001)
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height = _even(width), _even(height)
        stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            stream.options = {"crf": str(crf), "preset": preset}
        for frame in _chain(first, it):
            frame = np.asarray(frame)
            if frame.shape != (height, width, 3) or frame.dtype != np.uint8:
                raise ValueError(
                    f"all frames must be uint8 {(height, width, 3)}, got "
                    f"{frame.dtype} {frame.shape}"
                )
            if (stream.height, stream.width) != (height, width):
                frame = np.pad(
                    frame, ((0, stream.height - height), (0, stream.width - width), (0, 0))
                )
            av_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            for packet in stream.encode(av_frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def _chain(first: np.ndarray, rest: Iterable[np.ndarray]) -> Iterable[np.ndarray]:
    yield first
    yield from rest
