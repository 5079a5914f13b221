"""``stair features``: decode videos and cache backbone features in an HDF5 store.

Example::

    stair features --videos Charades_v1_480/ --out datasets/charades_r18.h5 \\
        --backbone resnet18 --weights DEFAULT --frames 16 --workers 4 --device cuda --bf16

Videos are decoded in ``--workers`` child processes (each video within ``--timeout`` seconds)
while the main process runs the backbone, so decoding and extraction overlap. The video id is the
file name without extension. Rerunning the same command resumes: videos already in the store are
not decoded again. Bad videos are skipped and listed in ``<out stem>.skipped.jsonl``; the command
still exits 0 and says how many were skipped. The job itself is :mod:`stair.data.video.extract`.

Many processes, many nodes. ``--shard i/n`` (``i`` from 0) takes the videos whose id hashes to
``i`` modulo ``n`` (stable when the list changes; see :mod:`stair.data.video.shards`) and writes
them to their own store next to ``--out``, ``<out stem>.shard-<i>-of-<n>.h5`` (with its own
``.skipped.jsonl``), which resumes like any store. Without ``--shard`` the shard comes from the
launcher when it starts more than one process: torchrun's ``RANK``/``WORLD_SIZE``, else SLURM's
``SLURM_PROCID``/``SLURM_NTASKS``; each process then takes the GPU of its ``LOCAL_RANK`` (or
``SLURM_LOCALID``) for ``--device cuda``. ``--workers`` counts decoders per process. When all
shards are done, ``stair features-merge`` joins them into ``--out``::

    torchrun --nproc-per-node 4 -m stair features --videos list.txt --out feats.h5 --device cuda
    srun --ntasks 16 stair features --videos list.txt --out feats.h5 --device cuda
    stair features --videos list.txt --out feats.h5 --shard 2/16      # redo one shard by hand
    stair features-merge --out feats.h5 --shards 16                   # or: feats.shard-*-of-16.h5

The merge checks that the shards share their settings, writes ``feats.h5`` atomically, joins
the skipped reports into ``feats.skipped.jsonl``, and can be rerun at any time.
"""

from __future__ import annotations

import argparse

from stair.errors import StairError

HELP = "Decode videos and cache backbone features in an HDF5 store (resumable, skips bad files)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--videos",
        required=True,
        help="a folder of videos, or a text file with one video path per line "
        "(relative paths are taken relative to the list file)",
    )
    parser.add_argument("--out", required=True, help="the HDF5 feature store to create or extend")
    parser.add_argument("--backbone", default="resnet18", help="torchvision model name")
    parser.add_argument(
        "--weights",
        default=None,
        help="DEFAULT, a torchvision weights name, or a local state_dict file (default: random)",
    )
    parser.add_argument("--frames", type=int, default=16, help="frames sampled per video")
    parser.add_argument(
        "--fps",
        type=float,
        default=None,
        help="sample at this rate instead (--frames caps the count; --frames 0: no cap)",
    )
    parser.add_argument(
        "--size", default=None, help="resize decoded frames: short side S, or HxW (e.g. 224x224)"
    )
    parser.add_argument("--bf16", action="store_true", help="run the backbone under bf16 autocast")
    parser.add_argument("--device", default="cpu", help="torch device for the backbone")
    parser.add_argument("--workers", type=int, default=1, help="video decoding processes")
    parser.add_argument(
        "--batch-size", type=int, default=32, help="frames (or clips) per forward pass"
    )
    parser.add_argument("--clip-len", type=int, default=16, help="frames per clip (video models)")
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="seconds allowed to decode one video"
    )
    parser.add_argument(
        "--shard",
        default=None,
        metavar="I/N",
        help="extract only shard I of N (from 0) into <out stem>.shard-I-of-N.h5 "
        "(default: from torchrun's RANK/WORLD_SIZE or SLURM's SLURM_PROCID/SLURM_NTASKS)",
    )


def parse_size(text: str | None) -> int | tuple[int, int] | None:
    """``"224"`` -> 224 (short side), ``"224x320"`` -> (224, 320), ``None`` -> None."""
    if text is None:
        return None
    try:
        if "x" in text.lower():
            h, w = text.lower().split("x")
            return int(h), int(w)
        return int(text)
    except ValueError:
        raise StairError(f"--size must be S or HxW, got {text!r}") from None


def run(args: argparse.Namespace) -> int:
    from stair.data.video.backbone import FeatureExtractor
    from stair.data.video.extract import extract, list_videos
    from stair.data.video.reader import Sampling
    from stair.data.video.shards import local_rank, resolve_shard

    shard = resolve_shard(args.shard)
    device = args.device
    if shard is not None and device == "cuda" and local_rank() is not None:
        import torch

        count = torch.cuda.device_count()
        device = f"cuda:{local_rank() % count}" if count > 1 else device
    videos = list_videos(args.videos)
    if not videos:
        raise StairError(f"--videos {args.videos}: no video files found")
    try:
        sampling = Sampling(args.frames or None, args.fps, parse_size(args.size))
    except ValueError as err:
        raise StairError(str(err)) from None
    extractor = FeatureExtractor(
        args.backbone,
        weights=args.weights,
        device=device,
        bf16=args.bf16,
        batch_size=args.batch_size,
        clip_len=args.clip_len,
    )
    summary = extract(
        videos,
        args.out,
        extractor,
        sampling,
        workers=args.workers,
        timeout=args.timeout,
        shard=shard,
    )
    print(
        "stair features: "
        + (f"shard {shard}: " if shard is not None else "")
        + f"{summary.added} videos added, {summary.already} already in "
        f"{summary.store}, {summary.skipped} skipped"
        + (f" (see {summary.report})" if summary.skipped else "")
    )
    return 0
