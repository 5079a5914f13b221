"""The root of every error STAIR raises on bad input.

Each subsystem defines typed subclasses (``ProgramError`` in ``stair.programs``,
``VideoDecodeError`` in ``stair.data``, ...). Their messages name the file, video, question or
program position at fault, so that a user never has to read a traceback to know what went wrong.
The CLI turns any ``StairError`` into a one-line message and exit code 2.
"""

from __future__ import annotations


class StairError(Exception):
    """Bad input or configuration, reported to the user in one clear line."""


class CheckpointError(StairError):
    """A checkpoint or weights file that is missing, unreadable, not a checkpoint of the expected
    kind, or that names Python objects outside the allow-list (it could run code)."""

    def __init__(self, path: object, reason: str) -> None:
        self.path, self.reason = str(path), reason
        super().__init__(f"checkpoint {self.path}: {reason}")

    def __reduce__(self):
        return (type(self), (self.path, self.reason))


class DatasetFormatError(StairError):
    """A dataset file that does not have the documented format, with where and what.

    ``where`` locates the fault inside ``path`` (``"line 3"``, ``"record 12 (character 4096)"``;
    empty when the whole file is at fault).
    """

    def __init__(self, path: object, where: str, reason: str) -> None:
        self.path, self.where, self.reason = str(path), where, reason
        super().__init__(f"{self.path}: {where}: {reason}" if where else f"{self.path}: {reason}")

    def __reduce__(self):
        return (type(self), (self.path, self.where, self.reason))
