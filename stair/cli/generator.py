"""``stair generator``: train, evaluate and run the program generator (question -> module tree).

Examples::

    stair generator fit --config configs/generator_synth.yaml
    stair generator test --config configs/generator_synth.yaml --ckpt_path runs/generator/last.ckpt
    stair generator predict --ckpt runs/generator/last.ckpt --data datasets/synth \\
        --split test test_novel test_more_steps --out programs.jsonl

``fit`` and ``test`` hand every argument after them to a ``LightningCLI`` over
:class:`~stair.generator.system.GeneratorLit` and
:class:`~stair.generator.data.GeneratorDataModule` (``stair generator fit --help`` lists
them). ``predict`` writes one JSON line per question, ``{"qid", "tokens", "text", "score"}``
(plus ``"nbest"`` with ``--n-best`` above 1), atomically; the module network's DataModule reads
the ``qid`` and ``tokens`` of such a file in place of the gold programs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import time
from pathlib import Path

from stair.errors import StairError

HELP = "Train (fit), evaluate (test) and run (predict) the program generator."

log = logging.getLogger("stair.generator")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, text in (("fit", "train a generator"), ("test", "evaluate a generator")):
        # prefix_chars="+": every "--option" is left for LightningCLI to parse
        sub = actions.add_parser(name, help=f"{text} (LightningCLI arguments follow)",
                                 add_help=False, prefix_chars="+")  # fmt: skip
        sub.add_argument("lightning", nargs=argparse.REMAINDER, help="LightningCLI arguments")
    predict = actions.add_parser("predict", help="write generated programs as JSON lines")
    predict.add_argument("--ckpt", required=True, help="a .ckpt file or a saved generator folder")
    predict.add_argument("--data", required=True, help="dataset folder (questions/<split>.jsonl)")
    predict.add_argument("--split", nargs="+", default=["test"],
                         help="splits to read, one file for all (default: test)")  # fmt: skip
    predict.add_argument("--out", required=True, help="output .jsonl file")
    predict.add_argument("--beams", type=int, default=1, help="beam width (1: greedy)")
    predict.add_argument("--n-best", type=int, default=1, help="programs kept per question")
    predict.add_argument("--batch-size", type=int, default=128, help="questions per batch")
    predict.add_argument("--threads", type=int, default=None, help="torch CPU threads")


def _lightning(action: str, argv: list[str]) -> int:
    from lightning.pytorch.cli import LightningCLI

    from stair.cli.lightning import lightning_cli
    from stair.generator.data import GeneratorDataModule
    from stair.generator.system import GeneratorLit

    args = [action, *argv]
    return lightning_cli(LightningCLI, GeneratorLit, GeneratorDataModule, args, "stair generator")


def _write_atomic(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _predict(args: argparse.Namespace) -> int:
    import torch

    from stair.data.dataset import iter_questions
    from stair.generator.system import load_generator
    from stair.programs import ProgramError, compile_program, to_text

    if args.threads:
        torch.set_num_threads(args.threads)
    if not Path(args.ckpt).exists():
        raise StairError(f"no such checkpoint: {args.ckpt}")
    generator = load_generator(args.ckpt)
    records = []
    for split in args.split:
        path = Path(args.data) / "questions" / f"{split}.jsonl"
        if not path.exists():
            raise StairError(f"no {split!r} split: {path} does not exist")
        records.extend(iter_questions(path))
    start = time.perf_counter()
    results = generator.generate(
        [r.question for r in records], num_beams=args.beams, n_best=args.n_best,
        batch_size=args.batch_size, progress=True,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    lines, exact = [], 0
    for record, programs in zip(records, results):
        best = programs[0]
        line = {"qid": record.qid, "tokens": best.tokens, "text": to_text(best.tree),
                "score": round(best.score, 5)}  # fmt: skip
        if args.n_best > 1:
            line["nbest"] = [{"tokens": p.tokens, "score": round(p.score, 5)} for p in programs]
        lines.append(json.dumps(line))
        with contextlib.suppress(ProgramError):  # a dataset program that does not compile
            exact += best.tree == compile_program(record.program)
    _write_atomic(Path(args.out), lines)
    n = max(1, len(records))
    log.info("wrote %d programs to %s: %.1f programs/s (beams %d), exact match %.4f",
             len(records), args.out, len(records) / seconds, args.beams, exact / n)  # fmt: skip
    return 0


def run(args: argparse.Namespace) -> int:
    if args.action == "predict":
        return _predict(args)
    return _lightning(args.action, list(args.lightning))
