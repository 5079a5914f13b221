"""``stair generator``: train, evaluate and run the program generator (question -> module tree).

Examples::

    stair generator fit --config configs/generator_synth.yaml
    stair generator test --config configs/generator_synth.yaml --ckpt_path runs/generator/last.ckpt
    stair generator predict --ckpt runs/generator/last.ckpt --data datasets/synth \\
        --split test test_novel test_more_steps --out programs.jsonl

``fit`` and ``test`` hand every argument after them to a ``LightningCLI`` over
:class:`~stair.generator.system.GeneratorLit` and
:class:`~stair.generator.data.GeneratorDataModule` (``stair generator fit --help`` lists
them). ``predict`` writes one JSON line per question (:mod:`stair.data.programs_source`):
``{"qid", "tokens", "text", "score", "rank"}``, the first usable program of the n-best list
(``--beams B --n-best N``) with its log-probability and rank, ``"golds"`` (each step's value on
the folder's scene graph, where it has them: STAR) and ``"nbest"`` (with ``--n-best`` above 1);
``"tokens": null`` and ``"reason"`` where none is usable. With ``--out FILE`` the module
network's DataModule reads it as ``--data.programs FILE``; without, into a folder without
annotations (NExT-QA, STAR, MSRVTT-QA): ``<data>/programs.jsonl``, and ``meta.json`` records
``"programs": "generator:<id>"`` and per split the usable and gold shares. ``test`` ends by
printing where the generator goes wrong (exact match by program length and depth, the first
wrong token's position and grammar slot: :mod:`stair.generator.report`) and the line
``exact match: test X.X %, test_novel Y.Y %, test_more_steps Z.Z %``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import time
from pathlib import Path

from stair.errors import StairError
from stair.files import write_lines

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
    predict.add_argument("--out", default=None,
                         help="output .jsonl file (default: the folder's programs.jsonl, for a "
                         "folder without annotations)")  # fmt: skip
    predict.add_argument("--beams", type=int, default=1, help="beam width (1: greedy)")
    predict.add_argument("--n-best", type=int, default=1, help="programs kept per question")
    predict.add_argument("--batch-size", type=int, default=128, help="questions per batch")
    predict.add_argument("--threads", type=int, default=None, help="torch CPU threads")


def _lightning(action: str, argv: list[str]) -> int:
    from lightning.pytorch.cli import LightningCLI

    from stair.generator.data import GeneratorDataModule
    from stair.generator.system import GeneratorLit
    from stair.train.cli import lightning_cli

    class GeneratorCLI(LightningCLI):
        def after_test(self) -> None:
            """The error analysis, ending with the exact-match summary line, printed last."""
            print("\n".join(self.model.test_report()), flush=True)

    args = [action, *argv]
    return lightning_cli(GeneratorCLI, GeneratorLit, GeneratorDataModule, args, "stair generator")


def _predict(args: argparse.Namespace) -> int:
    import torch

    from stair.data import programs_source as source
    from stair.data.dataset import iter_questions
    from stair.generator.system import load_generator
    from stair.programs import ProgramError, compile_program, from_tokens, load_scene_graphs

    if args.threads:
        torch.set_num_threads(args.threads)
    generator = load_generator(args.ckpt)  # first: a bad checkpoint is refused before anything
    folder = Path(args.data)
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise StairError(f"{folder} is not a dataset folder ({err})") from None
    if args.out is None and source.program_source(meta) == source.ANNOTATED:
        raise StairError(f"{folder} has annotated programs: give --out FILE for generated ones")
    records = []
    for split in args.split:
        path = folder / "questions" / f"{split}.jsonl"
        if not path.exists():
            raise StairError(f"no {split!r} split: {path} does not exist")
        records.extend(iter_questions(path))
    graphs_path = folder / "scene_graphs.json"
    graphs = load_scene_graphs(graphs_path) if graphs_path.exists() else {}
    start = time.perf_counter()
    results = generator.generate(
        [r.question for r in records], num_beams=args.beams, n_best=args.n_best,
        batch_size=args.batch_size, progress=True,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    lines, exact, annotated, stats = [], 0, 0, {}
    for record, programs in zip(records, results):
        split_stats = stats.setdefault(record.metadata.split, source.ProgramStats())
        nbest = [(p.tokens, p.score) for p in programs]
        line = source.program_line(record.qid, nbest, graphs.get(record.video_id), split_stats)
        if args.n_best > 1:
            line["nbest"] = [{"tokens": p.tokens, "score": round(p.score, 5)} for p in programs]
        lines.append(json.dumps(line))
        with contextlib.suppress(ProgramError):  # no dataset program, or one that does not compile
            gold = compile_program(record.program)
            annotated += 1
            kept = line["tokens"]
            exact += kept is not None and from_tokens(kept) == gold
    out = Path(args.out) if args.out else folder / source.PROGRAMS_FILE
    write_lines(out, lines)
    if args.out is None:
        source.record_generated(folder, source.generator_source(args.ckpt), stats)
    # exact match only against the dataset's own programs (none in NExT-QA, STAR, MSRVTT-QA)
    match = f", exact match {100 * exact / annotated:.1f} % of {annotated}" if annotated else ""
    log.info("wrote %d programs to %s: %.1f programs/s (beams %d)%s",
             len(records), out, len(records) / seconds, args.beams, match)  # fmt: skip
    for split, found in stats.items():
        log.info("%s: %s", split, found.to_json())
    return 0


def run(args: argparse.Namespace) -> int:
    if args.action == "predict":
        return _predict(args)
    return _lightning(args.action, list(args.lightning))
