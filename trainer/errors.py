"""The trainer's one-line errors: faults of its input that the CLI reports without a traceback."""
from __future__ import annotations


class TrainerError(Exception):
    """A fault of the trainer's input (a file, a folder, a checkpoint, the data), in one line
    that names what is wrong; `trainer/run.py` prints it and exits with `exit_code`."""

    exit_code = 2
