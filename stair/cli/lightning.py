"""``stair fit | validate | test | predict``: the Lightning CLI over the model and the data.

Everything after the sub-command goes to Lightning's CLI (``LightningCLI``), which builds
:class:`~stair.train.system.LitSTAIR` and :class:`~stair.data.datamodule.QADataModule` from
their typed constructor arguments, YAML configs and ``--model.* / --data.* / --trainer.*``
options (:mod:`stair.train.cli` runs it)::

    stair fit --config configs/synth.yaml
    stair fit --config configs/synth.yaml --model.intermediate_weight 0 --trainer.max_epochs 3
    stair fit --config configs/synth.yaml --model.network.hidden 128
    stair test --config configs/synth.yaml --ckpt_path runs/synth/version_0/checkpoints/last.ckpt
    stair fit --help                                 # every option, with its docstring line

The data module's vocabularies are linked into the model when both are instantiated, so a
checkpoint holds them (``LitSTAIR.load_from_checkpoint(path)`` needs no other file).
The network's hyper-parameters are one group, ``--model.network.*``
(:class:`~stair.engine.network.Network`).
"""

from __future__ import annotations

import argparse

HELP = "Lightning CLI (fit, validate, test, predict) of the STAIR model; see `stair fit --help`."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # Every argument, options and -h included, belongs to LightningCLI: make argparse treat
    # them all as positionals, so that REMAINDER collects them untouched.
    parser.prefix_chars = "\0"
    parser.add_argument(
        "lightning_args", nargs=argparse.REMAINDER, help="arguments for Lightning's CLI"
    )


def cli_main(args: list[str]) -> int:
    """Run Lightning's CLI on ``args`` (sub-command first); returns the exit code."""
    from stair.data.datamodule import QADataModule
    from stair.train.cli import build_cli_class, lightning_cli
    from stair.train.system import LitSTAIR

    return lightning_cli(build_cli_class(), LitSTAIR, QADataModule, args, "stair")


def run(args: argparse.Namespace) -> int:
    return cli_main([args.command, *args.lightning_args])
