"""``stair prompt``: a split's intermediate results as text prompts (JSONL) for a language model."""

from __future__ import annotations

import argparse
import json

HELP = "turn each question's steps into a text prompt (JSONL) for a pretrained language model"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from stair.audit.prompt import PRESETS

    parser.add_argument("--ckpt", required=True, help="a module-network checkpoint (.ckpt)")
    parser.add_argument("--data", required=True, help="the dataset folder")
    parser.add_argument("--split", default="test", help="which split (default: test)")
    parser.add_argument("--out", required=True, help="the prompts file to write (JSONL)")
    parser.add_argument(
        "--preset", choices=sorted(PRESETS), default="all",
        help="starting options: all (every step) or filter-top1 (the paper's)",
    )  # fmt: skip
    parser.add_argument("--modules", nargs="+", help="show only these modules' steps (Filter ...)")
    parser.add_argument("--k", type=int, help="concepts shown per Concept step")
    parser.add_argument("--scores", action=argparse.BooleanOptionalAction,
                        help="show probabilities and cosines")  # fmt: skip
    parser.add_argument("--budget", type=int, help="the most words of a prompt (0: no limit)")
    parser.add_argument("--limit", type=int, help="only the first N questions")
    parser.add_argument("--batch-size", type=int, default=128, help="questions per batch")
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda)")


def options(args: argparse.Namespace):
    """The preset, with the options given on the command line in place of its own."""
    from dataclasses import replace

    from stair.audit.prompt import PRESETS

    chosen = {"modules": tuple(args.modules) if args.modules else None, "k": args.k,
              "scores": args.scores, "budget": args.budget}  # fmt: skip
    given = {k: v for k, v in chosen.items() if v is not None}
    if given.get("budget") == 0:
        given["budget"] = None
    return replace(PRESETS[args.preset], **given)


def run(args: argparse.Namespace) -> int:
    from stair.api import AskError
    from stair.audit.prompt import explain_split, render_prompt
    from stair.data.datamodule import QADataModule
    from stair.files import AtomicFile
    from stair.train.system import LitSTAIR

    lit = LitSTAIR.load_from_checkpoint(args.ckpt, map_location=args.device)
    if lit.hparams.get("architecture", "stair") != "stair":
        raise AskError("only the module network has steps to prompt with (not the baseline)")
    data = QADataModule(args.data, eval_batch_size=args.batch_size)
    chosen, count = options(args), 0
    with AtomicFile(args.out) as handle:
        for explanation in explain_split(lit, data, args.split, args.limit):
            row = {"qid": explanation.qid, "question": explanation.question,
                   "prompt": render_prompt(explanation, chosen),
                   "answer": explanation.answer.get("gold"),
                   "stair_answer": explanation.answer["text"]}  # fmt: skip
            handle.write(json.dumps(row) + "\n")
            count += 1
    print(f"wrote {count} prompts to {args.out}")
    return 0
