"""The trainer's one-line errors: faults of its input that the CLI reports without a traceback."""
from __future__ import annotations


class TrainerError(Exception):
    """A fault of the trainer's input (a file, a folder, a checkpoint, the data), in one line
    that names what is wrong; `trainer/run.py` prints it and exits with `exit_code`."""

    exit_code = 2


class Diverged(TrainerError):
    """Training stopped because its loss or weights stopped being finite; the message names
    the step and epoch and the last good checkpoint, which is left as it was."""

    exit_code = 3
