"""``stair prepare-agqa``: AGQA questions + features (+ scene graphs) -> a STAIR dataset folder."""

from __future__ import annotations

import argparse

from stair.errors import StairError

HELP = "write AGQA (balanced questions, RX or I3D features, scene graphs) as a STAIR dataset folder"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--train", required=True, help="train_balanced.txt (one JSON object)")
    parser.add_argument("--test", required=True, help="test_balanced.txt")
    parser.add_argument("--out", required=True, help="the dataset folder to write")
    feats = parser.add_mutually_exclusive_group(required=True)
    feats.add_argument("--rx", help="RX features: HDF5 with ids/resnet_features[/resnext_features]")
    feats.add_argument("--i3d", help="a folder of I3D .npy files, one per video")
    parser.add_argument("--id-map", help="strID2numID.json (with --rx)")
    parser.add_argument("--motion", help="a separate HDF5 with resnext_features (with --rx)")
    parser.add_argument("--scene-graphs", nargs="*", default=[], help="AGQA_*_stsgs.pkl files")
    parser.add_argument("--names", nargs=2, metavar=("IDX", "ENG"), help="IDX.txt and ENG.txt")
    parser.add_argument("--val-fraction", type=float, default=0.1, help="train share kept for val")
    parser.add_argument(
        "--hold-out",
        action="store_true",
        help="drop novel-composition / more-steps train questions",
    )


def run(args: argparse.Namespace) -> int:
    from stair.data.agqa.features import I3DFeatures, RXFeatures
    from stair.data.agqa.graph import load_agqa_names, load_agqa_scene_graphs
    from stair.data.agqa.prepare import prepare_agqa

    if args.rx:
        if not args.id_map:
            raise StairError("--rx needs --id-map strID2numID.json")
        features, backbone = RXFeatures(args.rx, args.id_map, args.motion), "rx"
    else:
        features, backbone = I3DFeatures(args.i3d), "i3d"
    names = load_agqa_names(*args.names) if args.names else None
    graphs = {}
    for path in args.scene_graphs:
        graphs.update(load_agqa_scene_graphs(path, names))
    report = prepare_agqa(
        args.out, args.train, args.test, features, backbone, graphs,
        val_fraction=args.val_fraction, hold_out=args.hold_out,
    )  # fmt: skip
    sizes = ", ".join(f"{k} {v}" for k, v in sorted(report.sizes.items()))
    agree = (
        "" if report.agreement is None else f"; symbolic answers agree on {report.agreement:.1%}"
    )
    print(f"wrote {args.out}: {sizes}; {report.videos} videos; "
          f"{report.skipped} programs skipped (see prepare_report.jsonl){agree}")  # fmt: skip
    return 0
