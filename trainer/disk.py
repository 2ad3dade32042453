"""Files written whole or not at all, and one line when the disk refuses a write.

Every file a run or a sweep writes goes through here: `atomic_write` (and `atomic_write_text`,
`atomic_path` for writers that take a path) writes a temporary file beside the target
(`.<name>.tmp<pid>`), flushes it to the disk and renames it over the target, so the target
holds its earlier content or the new one, never a part; `append_whole` appends a record to a
file and cuts the file back to where it was when the append fails. A failed write (a full
disk, a quota, a read-only file system) raises `DiskError` naming the file and the system's
reason, e.g. "runs/demo/attention/checkpoints/latest.pt: cannot write: No space left on
device", and leaves no temporary file. A process killed outright (SIGKILL, power loss) can
leave one: `remove_leftovers` clears them when the folder is used again.
"""
from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from attention_swap_reid.trainer.errors import TrainerError

_TEMPORARY = re.compile(r"^\..+\.tmp\d+(\.[A-Za-z0-9]+)?$")


class DiskError(TrainerError):
    """A file that could not be written (full disk, quota, read-only file system, ...)."""


def os_error_of(error: BaseException) -> OSError | None:
    """The OSError behind `error`: itself, or the one it was raised from or during (torch's
    writer turns a failed `write` into a RuntimeError raised while handling the OSError)."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, OSError):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def disk_error(path: str | os.PathLike, error: OSError) -> DiskError:
    """The one-line `DiskError` of a failed write of `path`."""
    return DiskError(f"{os.fspath(path)}: cannot write: {error.strerror or error}")


def temporary_name(path: Path) -> Path:
    """The temporary file beside `path` that `atomic_write` writes first (keeps the suffix, so
    writers that choose the format by it, e.g. Matplotlib, still do)."""
    return path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path to write in full, renamed to `path` when the block ends without an
    error, removed otherwise; a failed write raises `DiskError`."""
    path = Path(path)
    tmp = temporary_name(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except Exception as e:
        error = os_error_of(e)
        if error is None:
            raise
        raise disk_error(path, error) from None
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], object]) -> None:
    """Call `write(file)` on a temporary binary file beside `path`, flush it to the disk
    (fsync) and rename it to `path`; `DiskError` (and no temporary file) when that fails."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """`atomic_write` of UTF-8 text."""
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def append_whole(path: str | os.PathLike, data: bytes) -> None:
    """Append `data` to `path` (made if missing); when the write fails the file is cut back
    to its earlier length (no part of a record stays) and `DiskError` is raised."""
    fd = None
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        size = os.fstat(fd).st_size
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        except OSError:
            os.ftruncate(fd, size)
            raise
    except OSError as e:
        raise disk_error(path, e) from None
    finally:
        if fd is not None:
            os.close(fd)


def remove_leftovers(folder: str | os.PathLike) -> list[Path]:
    """Remove the temporary files of `atomic_write` under `folder` (what a process killed in
    the middle of a write leaves); returns them. Call it only while no other process writes
    there (e.g. holding the run's lock)."""
    found = [p for p in Path(folder).rglob(".*.tmp*") if p.is_file() and _TEMPORARY.match(p.name)]
    for p in found:
        p.unlink(missing_ok=True)
    return found
