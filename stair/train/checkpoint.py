"""The Lightning command line reads ``--ckpt_path`` without running code from the file.

``stair fit | validate | test | predict --ckpt_path F`` (and ``stair generator fit | test``) hand
the checkpoint to Lightning's ``Trainer``, which reads it through its checkpoint I/O plugin.
:func:`safe_cli` gives a ``LightningCLI`` class that checks ``--ckpt_path`` before Lightning reads
its hyper-parameters and whose trainers read it through
:class:`~stair.checkpoints.SafeCheckpointIO` (``weights_only=True``, a typed
``CheckpointError`` naming the file on any failure), like ``LitSTAIR.load_from_checkpoint``.

Lightning then puts the checkpoint's hyper-parameters over the command line's (the network a
checkpoint was trained with is the one its weights fit). A model class may name the ones that
only shape evaluation, ``EVALUATION_HPARAMS`` (the generator's ``num_beams``): for those, a value
given on the command line (``--model.num_beams 4``) is kept.
"""

from __future__ import annotations

import sys
from typing import Any

from stair.checkpoints import SafeCheckpointIO


def safe_cli(cli_class: type) -> type:
    """``cli_class`` (a ``LightningCLI``) whose trainers load checkpoints safely."""

    class SafeLoadingCLI(cli_class):
        def _parse_ckpt_path(self) -> None:
            # Lightning reads the hyper-parameters of --ckpt_path here: check the file first,
            # so that a bad one is a CheckpointError naming it, not a raw unpickling traceback
            subcommand = self.config.get("subcommand")
            path = self.config[subcommand].get("ckpt_path") if subcommand else None
            if path:
                SafeCheckpointIO().load_checkpoint(path)
            keep = {}
            if subcommand:
                names = getattr(self.model_class, "EVALUATION_HPARAMS", ())
                given = {a.removeprefix("--model.").split("=")[0] for a in self._command_line
                         if a.startswith("--model.")}  # fmt: skip
                keep = {n: self.config[subcommand].model[n] for n in names if n in given}
            super()._parse_ckpt_path()
            for name, value in keep.items():
                self.config[subcommand].model[name] = value

        def parse_arguments(self, parser: Any, args: Any) -> None:
            self._command_line = list(args) if isinstance(args, (list, tuple)) else sys.argv[1:]
            super().parse_arguments(parser, args)

        def instantiate_trainer(self, **kwargs: Any) -> Any:
            trainer = super().instantiate_trainer(**kwargs)
            trainer.strategy.checkpoint_io = SafeCheckpointIO()
            return trainer

    SafeLoadingCLI.__name__ = SafeLoadingCLI.__qualname__ = cli_class.__name__
    return SafeLoadingCLI
