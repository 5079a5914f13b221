"""The two decoders behind :func:`stair.data.video.reader.read_video`: decord first, PyAV as
fallback.

Both return the sampled frames at their decoded size (resizing is done by the caller) and raise
ordinary library exceptions on failure; ``read_video`` turns those into a ``VideoDecodeError``
naming the file after every backend has had its try.

decord reads a batch of frame indices efficiently (``get_batch`` seeks key frames and decodes only
what it must), but trusts a frame count that can exceed what decodes; :func:`read_decord` checks
the last frame first. PyAV decodes sequentially, which is slower but tolerant and counts exactly:
it is used when decord cannot open or read the file, or the container over-reports.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np

from stair.data.video.sampling import DecodedVideo, Sampling, sample_indices

log = logging.getLogger(__name__)

__all__ = ["READERS", "FrameCountMismatch", "read_decord", "read_pyav"]


def _open_decord(path: str, threads: int):
    import decord

    return decord.VideoReader(path, ctx=decord.cpu(0), num_threads=threads)


def _decodes(vr, index: int) -> bool:
    """Whether frame ``index`` decodes with this reader (a failure leaves the reader unusable)."""
    try:
        return vr.get_batch([index]).shape[0] == 1
    except Exception:
        return False


class FrameCountMismatch(RuntimeError):
    """The container reports more frames than decode; PyAV (which counts exactly) takes over."""


def read_decord(path: str, sampling: Sampling, threads: int = 0) -> DecodedVideo:
    """Sample frames with decord, after checking that the last reported frame decodes.

    When it does not, the container over-reports its length and decord would fail, crash or spin
    on indices near the end. Finding the true count with decord is unreliable (its decoder thread
    reads ahead, so a bad packet after frame k can make k fail too, at a point that varies from
    run to run), so :class:`FrameCountMismatch` is raised and ``read_video`` falls back to PyAV,
    which decodes sequentially and counts the frames that really decode.
    """
    vr = _open_decord(path, threads)
    reported = len(vr)
    if reported < 1:
        raise RuntimeError("decord found no frames")
    if not _decodes(vr, reported - 1):
        raise FrameCountMismatch(
            f"container reports {reported} frames but the last does not decode"
        )
    fps = float(vr.get_avg_fps())
    idx = sample_indices(reported, fps, sampling)
    frames = vr.get_batch(idx.tolist()).asnumpy()
    times = np.asarray(vr.get_frame_timestamp(idx.tolist()), dtype=np.float64).reshape(-1, 2)[:, 0]
    times = np.round(times, 6)  # decord keeps float32 seconds; drop the float noise
    return DecodedVideo(path, frames, times, fps, reported, reported, "decord")


def _pyav_probe(path: str) -> tuple[int, float]:
    """(frames the container reports, 0 if it does not say; average fps, 0 if unknown)."""
    import av

    with av.open(path) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        fps = float(rate) if rate else 0.0
        reported = int(stream.frames or 0)
        if not reported and stream.duration and stream.time_base and fps:
            reported = round(float(stream.duration * stream.time_base) * fps)
    return reported, fps


def _pyav_pass(
    path: str, wanted: set[int], threads: int, fps: float
) -> tuple[dict[int, tuple[np.ndarray, float]], int]:
    """Decode ``path`` start to end, keeping the frames whose index is in ``wanted``.

    Returns (index -> (RGB array, seconds), number of frames decoded). A decoding error after
    the first frame ends the pass: the frames before it are what decodes.
    """
    import av

    kept: dict[int, tuple[np.ndarray, float]] = {}
    count = 0
    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        if threads:
            stream.codec_context.thread_count = threads
        try:
            for frame in container.decode(stream):
                if count in wanted:
                    seconds = float(frame.time) if frame.time is not None else count / (fps or 1.0)
                    kept[count] = (frame.to_ndarray(format="rgb24"), seconds)
                count += 1
        except av.error.FFmpegError as err:
            if count == 0:
                raise
            log.warning("%s: PyAV stopped after %d frames: %s", path, count, err)
    return kept, count


def read_pyav(path: str, sampling: Sampling, threads: int = 0) -> DecodedVideo:
    """Sample frames with PyAV, decoding sequentially.

    One pass when the container's frame count is right; when it is wrong or absent, a first pass
    counts the frames that decode and a second one collects the sampled frames.
    """
    reported, fps = _pyav_probe(path)
    count = 0
    if reported > 0:
        idx = sample_indices(reported, fps, sampling)
        kept, count = _pyav_pass(path, set(idx.tolist()), threads, fps)
    if count != reported or reported == 0:
        if count == 0:
            count = _pyav_pass(path, set(), threads, fps)[1]
        if count < 1:
            raise RuntimeError("no frame decodes")
        log.warning("%s: container reports %d frames, %d decode", path, reported, count)
        idx = sample_indices(count, fps, sampling)
        kept, _ = _pyav_pass(path, set(idx.tolist()), threads, fps)
    frames = np.stack([kept[i][0] for i in idx.tolist()])
    times = np.array([kept[i][1] for i in idx.tolist()], dtype=np.float64)
    return DecodedVideo(path, frames, times, fps or 0.0, count, reported, "pyav")


READERS: dict[str, Callable[[str, Sampling, int], DecodedVideo]] = {
    "decord": read_decord,
    "pyav": read_pyav,
}
