"""Running Lightning's CLI: the ``LightningCLI`` of STAIR, a quiet Lightning, the exit codes.

:func:`build_cli_class` is ``LightningCLI`` with the data module's vocabularies linked into the
model (so a checkpoint holds them); :func:`lightning_cli` runs any ``LightningCLI`` class over a
model and a data module and returns an exit code; :func:`quiet_lightning` sets Lightning's log
level and hides the lines and warnings that do not concern a STAIR user (the GPU/TPU inventory,
adverts, a checkpoint folder that moved). ``test`` and ``validate`` print one table and write no
new log folder; ``fit`` ends with the last validation's table; progress bars show no ``v_num``.
The command line
(:mod:`stair.cli.lightning`, :mod:`stair.cli.generator`) and the demo (:mod:`stair.demo.run`)
use them; nothing here parses ``sys.argv``.
"""

from __future__ import annotations

import logging
import warnings

log = logging.getLogger(__name__)

#: Lightning's info lines that tell a STAIR user nothing: the hardware inventory, adverts
NOISE = ("GPU available", "TPU available", "HPU available", "LOCAL_RANK", "💡 Tip")


class _DropNoise(logging.Filter):
    """Drops the Lightning lines listed in :data:`NOISE`."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.getMessage()).startswith(NOISE)


def build_cli_class() -> type:
    """``LightningCLI`` with the vocabularies linked from the data module into the model (those
    of ``--ckpt_path`` when evaluating one: ``QADataModule(vocabularies_from=...)``)."""
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

        def before_instantiate_classes(self) -> None:
            # evaluating a checkpoint: read the data with its vocabularies, not the folder's
            # (e.g. ``--data.synonyms true`` adds words a model trained without it never saw)
            if self.subcommand not in ("validate", "test", "predict"):
                return
            config = self.config[self.subcommand]
            if config.get("ckpt_path") and config.data.get("vocabularies_from") is None:
                config.data.vocabularies_from = config.ckpt_path

    return STAIRCLI


def quiet_lightning(level: int = logging.INFO) -> None:
    """Lightning's messages once (its own handler, not again through the root one), at
    ``level`` and up, without the warnings that do not concern a STAIR user."""
    import lightning  # noqa: F401  (installs that handler)

    logging.getLogger("lightning").propagate = False
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(level)
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropNoise) for f in logger.filters):
            logger.addFilter(_DropNoise())
    for message in (
        r".*overridden `transfer_batch_to_device`",  # QABatch moves itself, on purpose
        r".*isinstance\(treespec, LeafSpec\)",  # Lightning's own use of a torch API
        r"LightningCLI's args parameter",  # `stair fit ...` hands its arguments on, on purpose
        r"The dirpath has changed from",  # testing a checkpoint saved elsewhere: nothing lost
        r"Found \d+ module\(s\) in eval mode",  # a frozen pretrained encoder, on purpose
    ):
        warnings.filterwarnings("ignore", message=message)


def lightning_cli(cli_class: type, model: type, data: type, args: list[str], prog: str) -> int:
    """Run ``cli_class`` (a ``LightningCLI``) over ``model`` and ``data`` on ``args`` (sub-command
    first); returns the exit code (``--help`` and argument errors end it, not the process)."""
    quiet_lightning()
    if args[:1] in (["test"], ["validate"]):
        if not any(a.startswith("--verbose") for a in args):
            # Lightning's table repeats every metric once per split; the model logs one table
            args = [args[0], "--verbose=false", *args[1:]]
        if not any(a.startswith("--trainer.logger") for a in args):
            args = [*args, "--trainer.logger=false"]  # last, over the config's: no new version_N
    from lightning.pytorch.cli import SaveConfigCallback

    from stair.train.callbacks import hide_version
    from stair.train.checkpoint import safe_cli

    class QuietCLI(safe_cli(cli_class)):
        def instantiate_trainer(self, **kwargs):
            trainer = super().instantiate_trainer(**kwargs)
            hide_version(trainer)
            return trainer

    try:
        # only a fit saves its config (next to its logs); a test would write it where it is run
        saving = SaveConfigCallback if args[:1] == ["fit"] else None
        cli = QuietCLI(
            model, data, args=args, seed_everything_default=0, save_config_callback=saving,
            save_config_kwargs={"overwrite": True}, parser_kwargs={"prog": prog},
        )  # fmt: skip
    except SystemExit as done:  # --help, --print_config, argument errors
        code = done.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    validated = getattr(cli.model, "results", {}).get("val")
    if args[:1] == ["fit"] and validated and cli.trainer.is_global_zero:
        from stair.engine.metrics import results_table

        log.info("validation results (last epoch):\n%s", results_table(validated))
    return 0
