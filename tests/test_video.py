"""Video decoding: sampling, resizing, lying containers, corrupt files, the deadline guard."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import av
import decord
import numpy as np
import pytest

from stair.data.video.reader import (
    Sampling,
    VideoDecodeError,
    read_video,
    sample_indices,
    target_size,
)
from stair.data.video.worker import VideoDecoder, decode_many, decode_video
from stair.data.video.writer import write_mp4

FPS = 25
NUM = 50  # frames written


def moving_square(num: int = NUM, height: int = 120, width: int = 160) -> np.ndarray:
    """Frames whose brightness encodes the frame index (so a test can tell which frame it got)."""
    frames = np.zeros((num, height, width, 3), dtype=np.uint8)
    for t in range(num):
        frames[t, :, :, 0] = 4 * t  # red channel = 4 * index
        x = (3 * t) % (width - 16)
        frames[t, 40:56, x : x + 16] = (0, 255, 0)
    return frames


def write_over_reporting(path: Path, real: int = NUM, extra: int = 30) -> Path:
    """An mp4 whose container lists ``real + extra`` frames of which only ``real`` decode.

    After the real frames, ``extra`` packets are muxed that hold only an H.264 filler-data NAL
    unit: the sample tables (and so ``len(decord.VideoReader)``, PyAV's ``frames`` and the
    duration) count them, but a decoder gets no picture from them.
    """
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        stream.options = {"bf": "0"}
        last_pts = 0
        for frame in moving_square(real):
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
                last_pts = max(last_pts, packet.pts)
        for packet in stream.encode(None):
            container.mux(packet)
            last_pts = max(last_pts, packet.pts)
        step = int(1 / (FPS * stream.time_base))
        for k in range(1, extra + 1):
            packet = av.Packet(b"\x00\x00\x00\x04\x0c\xff\xff\x80")  # length + filler NAL
            packet.stream = stream
            packet.pts = packet.dts = last_pts + k * step
            packet.duration = step
            packet.time_base = stream.time_base
            container.mux(packet)
    return path


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("videos")
    good = write_mp4(root / "good.mp4", moving_square(), FPS)
    data = good.read_bytes()
    (root / "truncated.mp4").write_bytes(data[: len(data) // 2])
    (root / "garbage.mp4").write_bytes(np.random.default_rng(0).bytes(5000))
    return {
        "good": good,
        "over": write_over_reporting(root / "over.mp4"),
        "truncated": root / "truncated.mp4",
        "garbage": root / "garbage.mp4",
    }


def test_writer_round_trip_and_odd_sizes(tmp_path):
    path = write_mp4(tmp_path / "sub" / "odd.mp4", moving_square(10, 61, 81), 10)
    vr = decord.VideoReader(str(path))
    assert len(vr) == 10
    assert vr[0].shape == (62, 82, 3)  # padded to even sizes for yuv420p
    assert [p.name for p in path.parent.iterdir()] == ["odd.mp4"]  # no temp file left
    with pytest.raises(ValueError, match="uint8"):
        write_mp4(tmp_path / "bad.mp4", np.zeros((2, 8, 8, 3), np.float32), 10)
    assert not (tmp_path / "bad.mp4").exists()


def test_sample_indices_uniform_and_fps():
    assert sample_indices(100, 25, Sampling(4)).tolist() == [12, 37, 62, 87]
    assert sample_indices(3, 25, Sampling(6)).tolist() == [0, 0, 1, 1, 2, 2]  # repeats
    assert sample_indices(50, 25, Sampling(None, fps=5)).tolist() == list(range(0, 50, 5))
    capped = sample_indices(250, 25, Sampling(4, fps=5))  # 50 candidates, 4 kept
    assert len(capped) == 4 and capped.tolist() == sorted(capped.tolist())
    assert target_size(480, 640, 240) == (240, 320)
    assert target_size(480, 640, (100, 50)) == (100, 50)
    with pytest.raises(ValueError):
        Sampling(None, fps=None)


@pytest.mark.parametrize("backend", ["decord", "pyav"])
def test_decodes_requested_frames_and_size(videos, backend):
    video = read_video(videos["good"], Sampling(8, size=(32, 48)), backend=backend)
    assert video.frames.shape == (8, 32, 48, 3) and video.frames.dtype == np.uint8
    assert video.backend == backend and video.fps == pytest.approx(FPS)
    expected = sample_indices(NUM, FPS, Sampling(8))
    np.testing.assert_allclose(video.timestamps, expected / FPS, atol=1e-4)
    # the red channel encodes the frame index: the right frames were read (lossy codec: ±6)
    red = video.frames[..., 0].astype(float).mean(axis=(1, 2))
    np.testing.assert_allclose(red, 4 * expected, atol=6)


def test_short_side_resize_and_fps_sampling(videos):
    video = read_video(videos["good"], Sampling(None, fps=5, size=60))
    assert video.frames.shape == (10, 60, 80, 3)
    np.testing.assert_allclose(np.diff(video.timestamps), 0.2, atol=1e-4)


def test_over_reporting_container_is_clamped(videos):
    assert len(decord.VideoReader(str(videos["over"]))) == NUM + 30  # the fixture really lies
    video = decode_video(videos["over"], Sampling(16), timeout=60)
    assert video.backend == "pyav"  # decord refuses the lying container, PyAV counts exactly
    assert (video.num_reported, video.num_decodable) == (NUM + 30, NUM)
    assert video.frames.shape[0] == 16
    assert video.timestamps.max() < NUM / FPS  # only frames that exist
    red = video.frames[..., 0].astype(float).mean(axis=(1, 2))
    np.testing.assert_allclose(red, 4 * sample_indices(NUM, FPS, Sampling(16)), atol=6)


def test_pyav_fallback_clamps_too(videos):
    video = read_video(videos["over"], Sampling(5), backend="pyav")
    assert (video.num_reported, video.num_decodable) == (NUM + 30, NUM)
    assert video.frames.shape[0] == 5


@pytest.mark.parametrize("name", ["truncated", "garbage"])
def test_corrupt_files_raise_naming_the_file(videos, name):
    with pytest.raises(VideoDecodeError, match=rf"{name}\.mp4") as info:
        read_video(videos[name])
    assert info.value.path == str(videos[name])
    assert "decord" in str(info.value) and "pyav" in str(info.value)  # both backends tried


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(VideoDecodeError, match=r"nope\.mp4: no such file"):
        read_video(tmp_path / "nope.mp4")
    with pytest.raises(VideoDecodeError, match="directory"):
        read_video(tmp_path)


def test_timeout_kills_a_hanging_decode_and_recovers(tmp_path, videos):
    fifo = tmp_path / "hangs.mp4"
    os.mkfifo(fifo)  # opening a FIFO with no writer blocks forever inside FFmpeg
    with VideoDecoder(Sampling(4), timeout=1.0) as decoder:
        with pytest.raises(VideoDecodeError, match=r"hangs\.mp4: timed out after 1 s with decord"):
            decoder(fifo)  # decord hangs, then PyAV does too
        assert decoder(videos["good"]).frames.shape[0] == 4  # a fresh child took over
        decoder.timeout = 1e-4  # a deadline no decode can meet
        with pytest.raises(VideoDecodeError, match=r"good\.mp4: timed out"):
            decoder(videos["good"])


def test_a_crashing_decoder_is_reported_not_fatal(tmp_path, videos):
    fifo = tmp_path / "crash.mp4"
    os.mkfifo(fifo)
    with VideoDecoder(Sampling(4), timeout=30, backend="decord") as decoder:
        decoder(videos["good"])  # the child is up
        threading.Timer(0.5, os.kill, (decoder._proc.pid, signal.SIGKILL)).start()
        with pytest.raises(VideoDecodeError, match=r"crash\.mp4: decoder process died"):
            decoder(fifo)  # blocks in the child until it is killed
        assert decoder(videos["good"]).frames.shape[0] == 4


def test_decode_many_reports_bad_videos_and_keeps_going(videos):
    paths = [videos[k] for k in ("good", "garbage", "over", "truncated")] * 2
    results = dict.fromkeys(map(str, paths))
    for path, result in decode_many(paths, Sampling(4, size=32), workers=2, timeout=30):
        results[path] = result
    assert isinstance(results[str(videos["good"])].frames, np.ndarray)
    assert results[str(videos["over"])].num_decodable == NUM
    assert len(results) == 4 and all(r is not None for r in results.values())
    for bad in ("garbage", "truncated"):
        err = results[str(videos[bad])]
        assert isinstance(err, VideoDecodeError) and err.path == str(videos[bad])


def test_decode_many_stops_at_once_when_the_consumer_stops(tmp_path, videos):
    fifo = tmp_path / "stuck.mp4"
    os.mkfifo(fifo)
    results = decode_many([videos["good"], fifo, fifo], Sampling(2), workers=2, timeout=60)
    assert next(results)[0] == str(videos["good"])
    start = time.monotonic()
    results.close()  # two decodes are stuck on the FIFO: they are killed, not waited for
    assert time.monotonic() - start < 10


def test_stop_while_a_decode_waits_fails_that_decode_cleanly(tmp_path):
    # stop() on the consumer's thread and the decode's thread both see the child go: the child
    # is retired once (a second close of its socket raised EBADF), and the decode says why.
    fifo = tmp_path / "stuck.mp4"
    os.mkfifo(fifo)
    for _ in range(4):
        decoder = VideoDecoder(Sampling(2), timeout=60)
        decoder._start()  # started up front, so stop() lands while the decode waits
        outcome: list[BaseException] = []

        def decode(decoder=decoder, outcome=outcome):
            try:
                decoder(fifo)
            except BaseException as err:
                outcome.append(err)

        thread = threading.Thread(target=decode)
        thread.start()
        time.sleep(0.3)
        decoder.stop()
        thread.join(timeout=10)
        assert not thread.is_alive()
        assert len(outcome) == 1 and isinstance(outcome[0], VideoDecodeError), outcome
        assert "stopped" in outcome[0].reason and outcome[0].path == str(fifo)
        decoder.close()
        with pytest.raises(VideoDecodeError, match="stopped"):
            decoder(fifo)  # a stopped decoder does not start a new child
