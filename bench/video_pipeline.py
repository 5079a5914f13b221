"""Throughput of the raw-video path: decoding, feature extraction, and both together.

Prints one table from one run: decode videos/s (decord and PyAV, in-process), extraction
frames/s and end-to-end videos/s (``stair features``' loop: guarded decoding in worker processes
overlapping extraction, written to an HDF5 store), each in fp32 and under bf16 autocast.

By default the videos are generated first (not timed): 20 mp4s of 10 s at 240p with moving
coloured shapes, written with ``stair.data.video.writer.write_mp4`` into a temporary folder.
``--videos DIR`` measures existing files instead; ``--quick`` is a small run for a smoke test.

    python bench/video_pipeline.py [--quick] [--videos DIR] [--backbone resnet18] [--device cpu]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from stair.data.video.backbone import FeatureExtractor
from stair.data.video.extract import extract, list_videos
from stair.data.video.reader import Sampling, read_video
from stair.data.video.writer import write_mp4


def shapes_video(seconds: float, fps: int, height: int, width: int, seed: int) -> np.ndarray:
    """uint8 ``[T, H, W, 3]``: a gradient background with a few moving coloured discs and boxes."""
    rng = np.random.default_rng(seed)
    num = round(seconds * fps)
    yy, xx = np.mgrid[0:height, 0:width]
    background = np.stack(
        [xx * 255 // width, yy * 255 // height, np.full_like(xx, rng.integers(0, 255))], axis=-1
    ).astype(np.uint8)
    frames = np.repeat(background[None], num, axis=0)
    t = np.arange(num) / fps
    for _ in range(4):
        color = rng.integers(0, 256, 3, dtype=np.uint8)
        size = rng.integers(height // 12, height // 5)
        fx, fy, px, py = rng.uniform(0.05, 0.4, 2).tolist() + rng.uniform(0, 6.28, 2).tolist()
        cx = (width / 2 + (width / 2 - size) * np.sin(2 * np.pi * fx * t + px)).astype(int)
        cy = (height / 2 + (height / 2 - size) * np.sin(2 * np.pi * fy * t + py)).astype(int)
        disc = rng.random() < 0.5
        for i in range(num):
            if disc:
                mask = (yy - cy[i]) ** 2 + (xx - cx[i]) ** 2 < size**2
                frames[i][mask] = color
            else:
                frames[i, cy[i] - size : cy[i] + size, cx[i] - size : cx[i] + size] = color
    return frames


def make_videos(folder: Path, count: int, seconds: float, height: int, fps: int) -> list[Path]:
    width = (height * 16 // 9) // 2 * 2
    return [
        write_mp4(folder / f"synth{i:03d}.mp4", shapes_video(seconds, fps, height, width, i), fps)
        for i in range(count)
    ]


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", help="a folder (or list file) of existing videos to use")
    parser.add_argument("--num-videos", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--frames", type=int, default=16, help="frames sampled per video")
    parser.add_argument("--size", type=int, default=None, help="resize short side when decoding")
    parser.add_argument("--backbone", default="resnet18")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=max(1, min(4, (os.cpu_count() or 2) // 2)))
    parser.add_argument("--quick", action="store_true", help="4 videos of 3 s, 8 frames each")
    args = parser.parse_args()
    if args.quick:
        args.num_videos, args.seconds, args.frames = 4, 3.0, 8

    load = os.getloadavg()[0]  # other processes on the machine skew every figure below
    with tempfile.TemporaryDirectory(prefix="stair-bench-") as tmp:
        tmp = Path(tmp)
        if args.videos:
            videos, made = list_videos(args.videos), 0.0
        else:
            videos, made = timed(
                lambda: make_videos(tmp, args.num_videos, args.seconds, args.height, args.fps)
            )
        sampling = Sampling(args.frames, size=args.size)
        size = read_size(videos[0])
        rows: list[tuple[str, str, str, str]] = []

        decoded, t_decord = timed(
            lambda: [read_video(v, sampling, backend="decord") for v in videos]
        )
        _, t_pyav = timed(lambda: [read_video(v, sampling, backend="pyav") for v in videos])
        n = len(videos)
        rows.append(("decode, decord (in-process)", f"{n / t_decord:8.1f} videos/s", "", ""))
        rows.append(("decode, PyAV (in-process)", f"{n / t_pyav:8.1f} videos/s", "", ""))

        extract_rate, e2e_rate = {}, {}
        for bf16 in (False, True):
            torch.manual_seed(0)
            model = FeatureExtractor(
                args.backbone, device=args.device, bf16=bf16, batch_size=args.batch_size
            )
            model(decoded[0].frames)  # warm-up
            frames = sum(len(v.frames) for v in decoded)
            _, t = timed(lambda m=model: [m(v.frames) for v in decoded])
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            extract_rate[bf16] = frames / t
            out = tmp / f"features_{'bf16' if bf16 else 'fp32'}.h5"
            summary, t = timed(
                lambda m=model, o=out: extract(
                    videos, o, m, sampling, workers=args.workers, progress=False
                )
            )
            assert summary.added == n - summary.skipped
            e2e_rate[bf16] = summary.added / t

        def ratio(d):
            return f"x{d[True] / d[False]:.2f}"

        rows.append(
            (
                "extraction",
                f"{extract_rate[False]:8.1f} frames/s",
                f"{extract_rate[True]:8.1f} frames/s",
                ratio(extract_rate),
            )
        )
        rows.append(
            (
                f"end-to-end ({args.workers} decode workers)",
                f"{e2e_rate[False]:8.1f} videos/s",
                f"{e2e_rate[True]:8.1f} videos/s",
                ratio(e2e_rate),
            )
        )

    first = decoded[0]
    print(
        f"video pipeline: {n} videos ({first.num_decodable} frames, "
        f"{first.num_decodable / first.fps:.1f} s, {size} @ {first.fps:g} fps)"
        + (f", generated in {made:.1f} s" if made else "")
    )
    print(
        f"{args.frames} frames/video, {args.backbone} (random weights) on {args.device}, "
        f"batch {args.batch_size}, torch threads {torch.get_num_threads()}, "
        f"{os.cpu_count()} CPUs, load average {load:.1f} at start"
    )
    print(f"{'stage':34s} {'fp32':>20s} {'bf16':>20s} {'bf16/fp32':>10s}")
    for name, a, b, r in rows:
        print(f"{name:34s} {a:>20s} {b:>20s} {r:>10s}")


def read_size(path: Path) -> str:
    frame = read_video(path, Sampling(1)).frames[0]
    return f"{frame.shape[1]}x{frame.shape[0]}"


if __name__ == "__main__":
    main()
