"""``stair fit | validate | test | predict``: the Lightning CLI over the model and the data.

Everything after the sub-command goes to Lightning's CLI (``LightningCLI``), which builds
:class:`~stair.train.system.LitSTAIR` and :class:`~stair.data.datamodule.QADataModule` from their
typed
constructor arguments, YAML configs and ``--model.* / --data.* / --trainer.*`` options::

    stair fit --config configs/synth.yaml
    stair fit --config configs/synth.yaml --model.intermediate_weight 0 --trainer.max_epochs 3
    stair test --config configs/synth.yaml --ckpt_path runs/synth/version_0/checkpoints/last.ckpt
    stair fit --help                                 # every option, with its docstring line

The data module's vocabularies are linked into the model when both are instantiated, so a
checkpoint holds them (``LitSTAIR.load_from_checkpoint(path)`` needs no other file).
"""

from __future__ import annotations

import argparse
import logging
import warnings

HELP = "Lightning CLI (fit, validate, test, predict) of the STAIR model; see `stair fit --help`."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # Every argument, options and -h included, belongs to LightningCLI: make argparse treat
    # them all as positionals, so that REMAINDER collects them untouched.
    parser.prefix_chars = "\0"
    parser.add_argument(
        "lightning_args", nargs=argparse.REMAINDER, help="arguments for Lightning's CLI"
    )


def build_cli_class() -> type:
    """``LightningCLI`` with the vocabularies linked from the data module into the model."""
    from lightning.pytorch.cli import LightningCLI

    from stair.train.system import plain_vocabularies

    class STAIRCLI(LightningCLI):
        def add_arguments_to_parser(self, parser) -> None:
            parser.link_arguments(
                "data.vocabularies",
                "model.vocabularies",
                compute_fn=plain_vocabularies,
                apply_on="instantiate",
            )

    return STAIRCLI


def quiet_lightning(level: int = logging.INFO) -> None:
    """Lightning's messages once (its own handler, not again through the root one), at
    ``level`` and up, without the warnings that do not concern a STAIR user."""
    import lightning  # noqa: F401  (installs that handler)

    logging.getLogger("lightning").propagate = False
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(level)
    for message in (
        r".*overridden `transfer_batch_to_device`",  # QABatch moves itself, on purpose
        r".*isinstance\(treespec, LeafSpec\)",  # Lightning's own use of a torch API
        r"LightningCLI's args parameter",  # `stair fit ...` hands its arguments on, on purpose
    ):
        warnings.filterwarnings("ignore", message=message)


def lightning_cli(cli_class: type, model: type, data: type, args: list[str], prog: str) -> int:
    """Run ``cli_class`` (a ``LightningCLI``) over ``model`` and ``data`` on ``args`` (sub-command
    first); returns the exit code (``--help`` and argument errors end it, not the process)."""
    quiet_lightning()
    if args[:1] in (["test"], ["validate"]) and not any(a.startswith("--verbose") for a in args):
        # Lightning's table repeats every metric once per split; the model logs one table
        args = [args[0], "--verbose=false", *args[1:]]
    try:
        cli_class(
            model, data, args=args, seed_everything_default=0,
            save_config_kwargs={"overwrite": True}, parser_kwargs={"prog": prog},
        )  # fmt: skip
    except SystemExit as done:  # --help, --print_config, argument errors
        code = done.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0


def cli_main(args: list[str]) -> int:
    """Run Lightning's CLI on ``args`` (sub-command first); returns the exit code."""
    from stair.data.datamodule import QADataModule
    from stair.train.system import LitSTAIR

    return lightning_cli(build_cli_class(), LitSTAIR, QADataModule, args, "stair")


def run(args: argparse.Namespace) -> int:
    return cli_main([args.command, *args.lightning_args])
