"""Per-epoch metrics to a CSV file and TensorBoard.

The CSV has one row per epoch and a fixed set of columns (empty where a metric was not
measured that epoch, e.g. evaluation between `eval_every` epochs). On resume, rows after the
resumed epoch are dropped, so the file matches an uninterrupted run.

Both files are written by the calling thread, a whole row or event at a time
(`trainer.disk.append_whole`): a write that fails (a full disk) is a one-line `DiskError` and
leaves no part of a row or event behind. TensorBoard's own writer writes from a thread of its
own, where a failed write is a traceback of that thread; the events here are the same
records (`events.out.tfevents.*`, read by TensorBoard as usual).
"""
from __future__ import annotations

import csv
import io
import os
import socket
import time
from pathlib import Path
from typing import Sequence

from tensorboard.compat.proto.event_pb2 import Event, SessionLog
from tensorboard.compat.proto.summary_pb2 import Summary
from tensorboard.summary.writer.record_writer import RecordWriter

from attention_swap_reid.trainer.disk import append_whole, atomic_write_text, disk_error


class EventFile:
    """Scalars per step in a TensorBoard event file of `folder` (made if missing).

    `purge_step`: TensorBoard drops the events of this step and later ones found in the
    folder's earlier files (a resumed run's epochs after its checkpoint)."""

    def __init__(self, folder: str | os.PathLike, purge_step: int | None = None):
        folder = Path(folder)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise disk_error(folder, e) from None
        self.path = folder / f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}.{os.getpid()}.0"
        self._write(Event(wall_time=time.time(), file_version="brain.Event:2"))
        if purge_step is not None:
            self._write(Event(wall_time=time.time(), step=purge_step, session_log=SessionLog(status=SessionLog.START)))

    def scalars(self, step: int, values: dict[str, float]) -> None:
        """One event holding every `tag: value` of `values` at `step`."""
        summary = Summary(value=[Summary.Value(tag=tag, simple_value=value) for tag, value in values.items()])
        self._write(Event(wall_time=time.time(), step=step, summary=summary))

    def _write(self, event: Event) -> None:
        record = io.BytesIO()
        RecordWriter(record).write(event.SerializeToString())
        append_whole(self.path, record.getvalue())


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
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise disk_error(self.path.parent, e) from None
        rows = []
        if resume_epoch is not None and self.path.is_file():
            with open(self.path, newline="") as f:
                rows = [r for r in csv.DictReader(f) if int(r["epoch"]) <= resume_epoch]
        atomic_write_text(self.path, self._csv([dict(zip(self.columns, self.columns))] +
                                               [{c: r.get(c, "") for c in self.columns} for r in rows]))
        self.events = EventFile(Path(folder) / "tensorboard", None if resume_epoch is None else resume_epoch + 1)

    def _csv(self, rows: list[dict]) -> str:
        text = io.StringIO(newline="")
        csv.DictWriter(text, self.columns).writerows(rows)
        return text.getvalue()

    def log(self, epoch: int, values: dict[str, float]) -> None:
        """Write one epoch's row; keys must be columns (other than "epoch")."""
        unknown = set(values) - set(self.columns[1:])
        if unknown:
            raise KeyError(f"unknown metric(s) {sorted(unknown)}; columns: {self.columns}")
        append_whole(self.path, self._csv([{"epoch": epoch, **values}]).encode("utf-8"))
        self.events.scalars(epoch, {key.replace(".", "/"): value for key, value in values.items()})


def column_values(folder: str | os.PathLike, column: str) -> list[float]:
    """The non-empty values of `column` in `<folder>/metrics.csv`, in epoch order ([] without the
    file or the column)."""
    path = Path(folder) / "metrics.csv"
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return [float(r[column]) for r in csv.DictReader(f) if r.get(column) not in (None, "")]
