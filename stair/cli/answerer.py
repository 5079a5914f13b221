"""``stair answerer``: train, evaluate and run the pretrained-LM answerer (with prompts or not).

Examples::

    stair answerer fit --config configs/answerer_synth.yaml
    stair answerer test --config configs/answerer_synth.yaml \\
        --ckpt_path runs/answerer/version_0/checkpoints/last.ckpt
    stair answerer test --config configs/answerer_synth.yaml --zero-shot
    stair answerer fit --model.encoder models/gpt2 --data.data_dir datasets/synth_mc \\
        --data.prompts '{"train": "prompts/train.jsonl", "val": "prompts/val.jsonl"}'

Every argument after the action goes to a ``LightningCLI`` over
:class:`~stair.train.answerer.AnswererLit` and
:class:`~stair.train.answerer_data.AnswererDataModule` (``stair answerer fit --help`` lists
them), apart from ``--zero-shot``: evaluate without training (``model.zero_shot``; with
``--ckpt_path``, the checkpoint's weights without its head: a fine-tuned causal LM's own
likelihoods). ``test``, ``validate`` and ``predict`` without ``--ckpt_path`` are zero-shot too
(an untrained head would answer at random). ``test`` logs ``test/<split>/acc`` and ends by
printing one table: per split its questions, accuracy, chance (the mean of 1 / options) and,
with prompts, how many questions had none.
"""

from __future__ import annotations

import argparse
import logging
import warnings

HELP = "Train (fit), evaluate (test) and run (predict) the pretrained-LM answerer."
ACTIONS = {
    "fit": "train an answerer",
    "validate": "evaluate an answerer on the validation split",
    "test": "evaluate an answerer on the test splits (--zero-shot, or no --ckpt_path: untrained)",
    "predict": "answer a split (rows for a PredictionWriter)",
}
ZERO_SHOT = "--zero-shot"

log = logging.getLogger("stair.answerer")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, text in ACTIONS.items():
        # prefix_chars="+": every "--option" is left for LightningCLI to parse
        sub = actions.add_parser(name, help=f"{text} (LightningCLI arguments follow)",
                                 add_help=False, prefix_chars="+")  # fmt: skip
        sub.add_argument("lightning", nargs=argparse.REMAINDER, help="LightningCLI arguments")


def results_table(results: dict[str, dict[str, float]], missing: dict[str, int] | None) -> str:
    """Accuracy per split (%), with chance and, given prompts, the questions without one."""
    head = f"{'split':<20}{'questions':>10}{'acc %':>8}{'chance %':>10}"
    lines = [head + (f"{'no prompt':>11}" if missing is not None else "")]
    for split, row in results.items():
        line = f"{split:<20}{int(row['questions']):>10}{100 * row['acc']:>8.1f}"
        line += f"{100 * row['chance']:>10.1f}"
        if missing is not None:
            line += f"{missing.get(split, 0):>11}"
        lines.append(line)
    return "\n".join(lines)


def _cli(zero_shot: bool) -> type:
    from lightning.pytorch.cli import LightningCLI

    from stair.train.causal import AnswererError

    class AnswererCLI(LightningCLI):
        def before_instantiate_classes(self) -> None:
            """``--zero-shot`` (over a checkpoint's own hyper-parameters), and zero-shot
            evaluation when no checkpoint is given."""
            config = self.config[self.subcommand]
            if self.subcommand == "fit" and (zero_shot or config.model.zero_shot):
                raise AnswererError("a zero-shot answerer is not trained: evaluate it with "
                                    "`stair answerer test --zero-shot`")  # fmt: skip
            unloaded = self.subcommand != "fit" and not config.get("ckpt_path")
            if (zero_shot or unloaded) and not config.model.zero_shot:
                if not zero_shot:
                    log.info("no --ckpt_path: the answerer answers zero-shot")
                config.model.zero_shot = True

        def after_test(self) -> None:
            data = self.datamodule
            print(results_table(self.model.results, data.missing if data.prompts else None),
                  flush=True)  # fmt: skip

    return AnswererCLI


def run(args: argparse.Namespace) -> int:
    from stair.train.answerer import AnswererLit
    from stair.train.answerer_data import AnswererDataModule
    from stair.train.cli import lightning_cli

    # a frozen pretrained model stays in eval mode while its head trains: on purpose
    warnings.filterwarnings("ignore", message=r"Found \d+ module\(s\) in eval mode")
    argv = list(args.lightning)
    zero_shot = ZERO_SHOT in argv
    argv = [a for a in argv if a != ZERO_SHOT]
    return lightning_cli(_cli(zero_shot), AnswererLit, AnswererDataModule,
                         [args.action, *argv], "stair answerer")  # fmt: skip
