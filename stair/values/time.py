"""Time for audits: the seconds of a frame, and runs of frames rendered in frames and seconds."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor

from stair.programs.symbolic import spans

#: Seconds of each frame: an fps (frame ``i`` at ``i / fps``), explicit timestamps, or None.
TimeBase = float | Sequence[float] | None


def seconds(frame: int, num_frames: int, time: TimeBase) -> float | None:
    """Seconds at the start of ``frame`` (``frame == num_frames``: the end of the last frame)."""
    if time is None:
        return None
    if isinstance(time, (int, float)):
        return round(frame / float(time), 3)
    stamps = list(time)
    if frame < len(stamps):
        return round(float(stamps[frame]), 3)
    step = stamps[-1] - stamps[-2] if len(stamps) > 1 else 0.0
    return round(float(stamps[-1] + step * (frame - len(stamps) + 1)), 3)


def runs_in_seconds(runs: list[list[int]], num_frames: int, time: TimeBase) -> list[list]:
    """Frame runs ``[start, end)`` as ``[start, end]`` in seconds."""
    return [[seconds(s, num_frames, time), seconds(e, num_frames, time)] for s, e in runs]


def shown_spans(probs: Tensor, time: TimeBase, read: Tensor | None = None) -> dict[str, Any]:
    """Runs of frames with probability >= 0.5 (or of the frames ``read`` marks, a bool ``[T]``:
    a one-frame value's reading), in frames and seconds, and the peak frame."""
    n = probs.shape[0]
    runs = spans(tuple((probs >= 0.5 if read is None else read).tolist()))
    peak = int(probs.argmax()) if n else 0
    out: dict[str, Any] = {
        "spans": runs,
        "peak": {"frame": peak, "probability": round(float(probs[peak]), 4) if n else 0.0},
        "num_frames": n,
    }
    if time is not None:
        out["spans_seconds"] = runs_in_seconds(runs, n, time)
        out["peak"]["seconds"] = seconds(peak, n, time)
    return out
