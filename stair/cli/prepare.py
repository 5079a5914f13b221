"""``stair prepare <benchmark>``: a benchmark's files -> a STAIR dataset folder.

Examples::

    stair prepare nextqa --csv nextqa/train.csv nextqa/val.csv nextqa/test.csv \\
        --video-map nextqa/map_vid_vidorID.json --video-root VidOR/video --out datasets/nextqa
    stair prepare star --json STAR_train.json STAR_val.json STAR_test.json \\
        --classes STAR_classes --video-root Charades_v1_480 --out datasets/star
    stair prepare msrvtt --json train_qa.json val_qa.json test_qa.json \\
        --video-root MSRVTT/videos --out datasets/msrvtt
    stair prepare agqa --train train_balanced.txt --test test_balanced.txt --i3d i3d/ --out ...

Each file becomes one split, named after it (``val.csv`` -> ``val``, ``STAR_val.json`` -> ``val``,
``val_qa.json`` -> ``val``). Questions are written before any feature or program exists; the
video-id -> file mapping goes to ``videos.json`` for ``stair features``. A malformed record stops
the run with its file and line (or record); ``--skip-bad`` lists it in ``prepare_report.jsonl``
instead. ``agqa`` is ``stair prepare-agqa`` (still available under that name).
"""

from __future__ import annotations

import argparse

from stair.cli import prepare_agqa

HELP = "write a benchmark (nextqa, star, msrvtt, agqa) as a STAIR dataset folder"


def _common(parser: argparse.ArgumentParser, root: str) -> None:
    parser.add_argument("--out", required=True, help="the dataset folder to write")
    parser.add_argument("--video-root", help=f"{root}, recorded in videos.json")
    parser.add_argument("--skip-bad", action="store_true",
                        help="skip malformed records, listed in prepare_report.jsonl")  # fmt: skip


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="benchmark", metavar="BENCHMARK", required=True)
    p = sub.add_parser("nextqa", help="NExT-QA: train/val/test.csv (multiple choice, 5 options)")
    p.add_argument("--csv", nargs="+", required=True, help="CSV files, one split each")
    p.add_argument("--video-map", help="map_vid_vidorID.json (video -> <folder>/<video>)")
    _common(p, "the VidOR video folder")
    p.set_defaults(_prepare=_nextqa)
    p = sub.add_parser("star", help="STAR: STAR_<split>.json (multiple choice, situation graphs)")
    p.add_argument("--json", nargs="+", required=True, help="STAR_<split>.json files")
    p.add_argument("--classes", help="the STAR_classes folder: situations -> scene_graphs.json")
    p.add_argument("--fps", type=float, default=30.0, help="frame rate of the Charades videos")
    _common(p, "the Charades video folder")
    p.set_defaults(_prepare=_star)
    p = sub.add_parser("msrvtt", help="MSRVTT-QA: <split>_qa.json (open-ended)")
    p.add_argument("--json", nargs="+", required=True, help="<split>_qa.json files")
    _common(p, "the folder of video<id>.mp4 files")
    p.set_defaults(_prepare=_msrvtt)
    p = sub.add_parser("agqa", help=prepare_agqa.HELP, description=prepare_agqa.HELP)
    prepare_agqa.add_arguments(p)
    p.set_defaults(_prepare=prepare_agqa.run)


def _print(summary) -> int:
    sizes = ", ".join(f"{k} {v}" for k, v in summary.sizes.items()) or "no questions"
    graphs = f", {summary.scene_graphs} scene graphs" if summary.scene_graphs else ""
    skipped = f" (see {summary.out / 'prepare_report.jsonl'})" if summary.skipped else ""
    print(f"wrote {summary.out}: {sizes}; {summary.videos} videos{graphs}; "
          f"{summary.skipped} records skipped{skipped}")  # fmt: skip
    return 0


def _nextqa(args: argparse.Namespace) -> int:
    from stair.data.nextqa.prepare import prepare_nextqa

    return _print(prepare_nextqa(args.out, args.csv, args.video_map, args.video_root,
                                 args.skip_bad))  # fmt: skip


def _star(args: argparse.Namespace) -> int:
    from stair.data.star.prepare import prepare_star

    return _print(prepare_star(args.out, args.json, args.classes, args.video_root, args.fps,
                               args.skip_bad))  # fmt: skip


def _msrvtt(args: argparse.Namespace) -> int:
    from stair.data.msrvtt.prepare import prepare_msrvtt

    return _print(prepare_msrvtt(args.out, args.json, args.video_root, args.skip_bad))


def run(args: argparse.Namespace) -> int:
    return args._prepare(args)
