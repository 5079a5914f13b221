"""Reading torch files (checkpoints, weights) without ever running code from them.

A ``.ckpt`` or ``.pt`` file is a pickle, and unpickling can run any code the file names. Every
torch file STAIR reads goes through :func:`read_torch_file` or :func:`load_lightning`, which load
with ``torch.load(..., weights_only=True)``: only tensors, plain containers and scalars are built,
and a file naming any other Python object is refused before anything runs. That allow-list is
all a checkpoint needs: STAIR keeps hyper-parameters as plain lists and dicts ("checkpoints store
hyper-parameters, never pickled model objects"), and Lightning's own entries (loops, optimiser,
scheduler and callback states) are plain too (``tests/test_checkpoints.py`` checks a real one),
so no global is added to it. Passing
``weights_only`` explicitly also holds when ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` asks torch for
its old, unsafe default. Any failure (no such file, not a torch file, a refused global, not a
checkpoint of the expected module) is a :class:`~stair.errors.CheckpointError` naming the file.

This sits in the base layer, below everything that reads a torch file: the trainer's and the
program generator's loaders and the backbones' weights files share it.
:class:`SafeCheckpointIO` makes a Lightning ``Trainer`` read ``--ckpt_path`` the same way.
"""

from __future__ import annotations

import os
import pickle
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

from stair.errors import CheckpointError

__all__ = ["SafeCheckpointIO", "load_lightning", "read_torch_file"]

Module = TypeVar("Module")
_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")
#: what torch.load, and Lightning building a module from what it read, raise on a bad file
_LOAD_ERRORS = (pickle.UnpicklingError, EOFError, OSError, RuntimeError, ValueError, KeyError,
                TypeError, AttributeError, IndexError)  # fmt: skip


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def _reason(err: BaseException) -> str:
    """Why ``torch.load`` (or the module built from what it read) refused a file, in one line."""
    text = _one_line(err)
    refused = _GLOBAL.search(str(err)) if isinstance(err, pickle.UnpicklingError) else None
    if refused:
        return (f"refused to load it: it names the Python object {refused.group(1)}, which a "
                "checkpoint has no need of (the file may be crafted)")  # fmt: skip
    if isinstance(err, (KeyError, TypeError)):
        return f"not a checkpoint of this model ({type(err).__name__}: {text})"
    return f"cannot load it ({text})"


def _check_file(path: Path) -> None:
    if not path.exists():
        raise CheckpointError(path, "no such file")
    if not path.is_file():
        raise CheckpointError(path, "not a file")


def read_torch_file(path: str | os.PathLike, map_location: Any = "cpu") -> Any:
    """The content of a torch file, loaded safely (see the module docstring)."""
    path = Path(path)
    _check_file(path)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except _LOAD_ERRORS as err:
        raise CheckpointError(path, _reason(err)) from None


def load_lightning(
    load: Callable[..., Module],
    path: str | os.PathLike,
    map_location: Any = None,
    **kwargs: Any,
) -> Module:
    """``load(path, map_location=..., weights_only=True, **kwargs)`` (a Lightning
    ``load_from_checkpoint``), with every failure a :class:`CheckpointError` naming ``path``."""
    path = Path(path)
    _check_file(path)
    try:
        return load(path, map_location=map_location, weights_only=True, **kwargs)
    except _LOAD_ERRORS as err:
        raise CheckpointError(path, _reason(err)) from None


class SafeCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint I/O, reading through :func:`read_torch_file` (for ``ckpt_path``)."""

    def load_checkpoint(
        self, path: str | os.PathLike, map_location: Any = None, weights_only: bool | None = None
    ) -> dict[str, Any]:
        checkpoint = read_torch_file(path, map_location or (lambda storage, loc: storage))
        if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
            raise CheckpointError(path, "not a Lightning checkpoint (it holds no state_dict)")
        return checkpoint
