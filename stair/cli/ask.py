"""``stair ask``: answer one question about one video and show every step."""

from __future__ import annotations

import argparse
import json

HELP = "answer a question about a video and explain each step (text, JSON or an HTML page)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ckpt", required=True, help="a module-network checkpoint (.ckpt)")
    parser.add_argument(
        "--video", required=True, help="a video file, a .npy of features, or a video id of --data"
    )
    parser.add_argument("--question", required=True, help="the question, in English")
    parser.add_argument("--program", help="its program (AGQA syntax); default: the generator's")
    parser.add_argument("--generator", help="a program-generator checkpoint")
    parser.add_argument(
        "--options", nargs="+", help="the candidate answers (a multiple-choice model; default: "
        "the options of --data's question)",
    )  # fmt: skip
    parser.add_argument("--data", help="a dataset folder (video ids, scene graphs for golds)")
    parser.add_argument("--json", action="store_true", help="print the explanation as JSON")
    parser.add_argument("--html", help="also write a self-contained HTML report here")
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda)")


def run(args: argparse.Namespace) -> int:
    from stair.api import load
    from stair.files import write_text

    qa = load(args.ckpt, generator=args.generator, data=args.data, device=args.device)
    explanation = qa.ask(args.video, args.question, program=args.program, options=args.options)
    if args.json:
        print(json.dumps(explanation.to_json(), indent=2))
    else:
        print(explanation.to_text())
    if args.html:
        write_text(args.html, explanation.to_html())
        print(f"wrote {args.html}")
    return 0
