"""Running Lightning's CLI: the ``LightningCLI`` of STAIR, a quiet Lightning, the exit codes.

:func:`build_cli_class` is ``LightningCLI`` with the data module's vocabularies linked into the
model (so a checkpoint holds them); :func:`lightning_cli` runs any ``LightningCLI`` class over a
model and a data module and returns an exit code; :func:`quiet_lightning` sets Lightning's log
level and hides the warnings that do not concern a STAIR user. The command line
(:mod:`stair.cli.lightning`, :mod:`stair.cli.generator`) and the demo (:mod:`stair.demo.run`)
use them; nothing here parses ``sys.argv``.
"""

from __future__ import annotations

import logging
import warnings


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
    from stair.train.checkpoint import safe_cli

    try:
        safe_cli(cli_class)(
            model, data, args=args, seed_everything_default=0,
            save_config_kwargs={"overwrite": True}, parser_kwargs={"prog": prog},
        )  # fmt: skip
    except SystemExit as done:  # --help, --print_config, argument errors
        code = done.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0
