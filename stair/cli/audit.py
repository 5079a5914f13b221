"""``stair audit``: dump every step of a split and tell how far each kind of step can be trusted."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "dump every question's steps (JSONL, resumable) and summarise accuracy per module"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ckpt", required=True, help="a module-network checkpoint (.ckpt)")
    parser.add_argument("--data", required=True, help="the dataset folder")
    parser.add_argument("--split", default="test", help="which split to audit (default: test)")
    parser.add_argument("--out", required=True, help="folder for records.jsonl and the summary")
    parser.add_argument(
        "--programs", help="generated programs (JSONL): audit SPLIT:generated, on them"
    )
    parser.add_argument(
        "--html", action="store_true", help="also write an index of the worst errors"
    )
    parser.add_argument("--worst", type=int, default=50, help="errors listed in the HTML index")
    parser.add_argument("--limit", type=int, help="audit only the first N questions")
    parser.add_argument("--batch-size", type=int, default=128, help="questions per batch")
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda)")


def run(args: argparse.Namespace) -> int:
    from stair.api import AskError
    from stair.audit.dump import audit
    from stair.data.datamodule import GENERATED, QADataModule
    from stair.train.system import LitSTAIR

    lit = LitSTAIR.load_from_checkpoint(args.ckpt, map_location=args.device)
    if lit.hparams.get("architecture", "stair") != "stair":
        raise AskError("only the module network has steps to audit (not the baseline)")
    data = QADataModule(args.data, eval_batch_size=args.batch_size, programs=args.programs)
    split = args.split + GENERATED if args.programs else args.split
    summary = audit(lit, data, split, args.out, html=args.html, worst=args.worst,
                    limit=args.limit)  # fmt: skip
    print(summary.table())
    print(f"wrote {Path(args.out) / 'records.jsonl'}, summary.json, summary.csv"
          + (", html/index.html" if args.html else ""))  # fmt: skip
    return 0
