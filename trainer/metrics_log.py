"""Per-epoch metrics to a CSV file and TensorBoard.

The CSV has one row per epoch and a fixed set of columns (empty where a metric was not
measured that epoch, e.g. evaluation between `eval_every` epochs). On resume, rows after the
resumed epoch are dropped, so the file matches an uninterrupted run.
"""
from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Sequence

from torch.utils.tensorboard import SummaryWriter


class MetricsLog:
    """Appends `{column: value}` rows to `<folder>/metrics.csv` and `<folder>/tensorboard/`.

    `columns` must start with "epoch". `resume_epoch`: keep only rows with epoch <= it (None:
    start a new file).
    """

    def __init__(self, folder: str | os.PathLike, columns: Sequence[str], resume_epoch: int | None = None):
        if not columns or columns[0] != "epoch":
            raise ValueError(f"columns must start with 'epoch', got {list(columns)}")
        self.columns = list(columns)
        self.path = Path(folder) / "metrics.csv"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        rows = []
        if resume_epoch is not None and self.path.is_file():
            with open(self.path, newline="") as f:
                rows = [r for r in csv.DictReader(f) if int(r["epoch"]) <= resume_epoch]
        with open(self.path, "w", newline="") as f:
            writer = csv.DictWriter(f, self.columns)
            writer.writeheader()
            writer.writerows({c: r.get(c, "") for c in self.columns} for r in rows)
        purge = None if resume_epoch is None else resume_epoch + 1
        self.writer = SummaryWriter(str(Path(folder) / "tensorboard"), purge_step=purge)

    def log(self, epoch: int, values: dict[str, float]) -> None:
        """Write one epoch's row; keys must be columns (other than "epoch")."""
        unknown = set(values) - set(self.columns[1:])
        if unknown:
            raise KeyError(f"unknown metric(s) {sorted(unknown)}; columns: {self.columns}")
        with open(self.path, "a", newline="") as f:
            csv.DictWriter(f, self.columns).writerow({"epoch": epoch, **values})
        for key, value in values.items():
            self.writer.add_scalar(key.replace(".", "/"), value, epoch)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def column_values(folder: str | os.PathLike, column: str) -> list[float]:
    """The non-empty values of `column` in `<folder>/metrics.csv`, in epoch order ([] without the
    file or the column)."""
    path = Path(folder) / "metrics.csv"
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return [float(r[column]) for r in csv.DictReader(f) if r.get(column) not in (None, "")]
