"""Run folders: created without ever looping, locked while a process trains in them, and
cleaned up or annotated when a run stops with an error.

`create_run_folder(parent, name)` makes `<parent>/<name>` (or `<name>-1`, `-2`, ... when taken)
with a bounded number of attempts and one clear `RunFolderError` for a parent that is a broken
link, not a folder, or not writable. `RunFolder(path, created=...)` is the context a run works
in: it holds an exclusive lock (`run.lock`, with the holder's pid in it), so a second process
on the same folder is refused; when the run ends with an error it writes the error into
`train.log`, or removes a folder this run created that holds no results yet, and a Ctrl-C
(or a SIGTERM or SIGHUP, see `stop_on_signals`) becomes `Interrupted` carrying the command that
resumes the run. Temporary files that a process killed outright left behind (`trainer.disk`)
are removed once the lock is held.
"""
from __future__ import annotations

import fcntl
import os
import shutil
import signal
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Iterator

from attention_swap_reid.trainer.disk import remove_leftovers
from attention_swap_reid.trainer.errors import TrainerError

LOCK_FILE = "run.lock"
RESULT_GLOBS = ("final.json", "*/checkpoints/*.pt")
MAX_ATTEMPTS = 100


class RunFolderError(TrainerError):
    """A run folder that cannot be created or is in use by another process."""


class Interrupted(TrainerError):
    """The run was stopped with Ctrl-C or a signal; the message says how to continue it.
    `exit_code`: 128 + the signal's number, as a shell reports a process ended by it."""

    def __init__(self, message: str, exit_code: int = 130):
        super().__init__(message)
        self.exit_code = exit_code


class Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP arrived (`signum`): handled as a Ctrl-C (a KeyboardInterrupt) is."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
"""What ends a run as Ctrl-C does: SLURM's preemption and `docker stop` (SIGTERM), a closed
terminal or SSH session (SIGHUP)."""


def stopping(exc: KeyboardInterrupt) -> tuple[str, int]:
    """(what stopped the run, its exit code) of a Ctrl-C or a `Stopped`."""
    if isinstance(exc, Stopped):
        return f"stopped by {signal.Signals(exc.signum).name}", 128 + exc.signum
    return "interrupted", 130


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within the block (in the main thread), `STOP_SIGNALS` raise `Stopped` where the program
    is, as Ctrl-C raises KeyboardInterrupt: the step under way is abandoned, `finally` blocks
    and context managers clean up. The earlier handlers are restored afterwards."""
    def stop(signum, frame):
        raise Stopped(signum)

    previous = {signum: signal.signal(signum, stop) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)


def _check_parent(parent: Path) -> None:
    """Create `parent` if needed; `RunFolderError` when that is impossible."""
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        for p in (parent, *parent.parents):
            if p.is_symlink() and not p.exists():
                raise RunFolderError(f"output.dir: {p} is a broken symbolic link (to {os.readlink(p)}); "
                                     f"remove it or point output.dir elsewhere") from None
        raise RunFolderError(f"output.dir: {parent} exists and is not a folder") from None
    except OSError as e:
        raise RunFolderError(f"output.dir: cannot create {parent}: {e.strerror or e}") from None


def create_run_folder(parent: str | os.PathLike, name: str) -> Path:
    """Make and return a new folder `<parent>/<name>`, suffixed `-1`, `-2`, ... when taken."""
    parent = Path(parent)
    _check_parent(parent)
    for n in range(MAX_ATTEMPTS):
        path = parent / (name if n == 0 else f"{name}-{n}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
        except OSError as e:
            raise RunFolderError(f"output.dir: cannot create a run folder in {parent}: {e.strerror or e}") from None
    raise RunFolderError(f"output.dir: {parent} already holds {name} and {name}-1 .. {name}-{MAX_ATTEMPTS - 1}")


def has_results(path: Path) -> bool:
    """Does the run folder hold anything worth keeping (a checkpoint or final results)?"""
    return any(next(path.glob(pattern), None) is not None for pattern in RESULT_GLOBS)


class RunLock:
    """An exclusive `flock` on `<folder>/<name>` (`run.lock`), which holds the holder's pid."""

    def __init__(self, folder: str | os.PathLike, name: str = LOCK_FILE):
        self.path = Path(folder) / name
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise `RunFolderError` naming the process that holds it."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise RunFolderError(f"{self.path}: cannot create the run's lock file: {e.strerror or e}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise RunFolderError(f"{self.path.parent} is in use by process {holder} (it holds {self.path}); "
                                 f"wait for it to end or stop it first") from None
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError as e:  # a full disk: the folder is removed again (RunFolder)
            os.close(fd)
            raise RunFolderError(f"{self.path}: cannot write: {e.strerror or e}") from None
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


class RunFolder:
    """The context a run works in (see the module docstring). `created`: this process made
    the folder, so it may remove it when the run fails before writing any result."""

    def __init__(self, path: str | os.PathLike, created: bool, resume_command: str):
        self.path, self.created, self.resume_command = Path(path), created, resume_command
        self._lock = RunLock(self.path)
        self.leftovers: list[Path] = []  # temporary files of a killed process, removed on entry

    def __enter__(self) -> RunFolder:
        try:
            self._lock.acquire()
        except RunFolderError:
            self._remove_if_empty()
            raise
        self.leftovers = remove_leftovers(self.path)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._lock.release()
        if exc is None:
            return
        kept = not self._remove_if_empty()
        if isinstance(exc, KeyboardInterrupt):
            what, code = stopping(exc)
            message = (f"{what}; continue with: {self.resume_command}" if kept else
                       f"{what} before the first checkpoint; {self.path} removed, nothing to resume")
            if kept:
                self.note(message)
            raise Interrupted(message, code) from None
        if kept:
            self.note(f"error: {exc if isinstance(exc, TrainerError) else f'{type(exc).__name__}: {exc}'}")

    def note(self, message: str) -> None:
        """Append one line to the run's train.log (skipped where it cannot be written: the
        message is shown on the terminal anyway)."""
        try:
            with open(self.path / "train.log", "a") as f:
                f.write(f"{datetime.now():%H:%M:%S} {message}\n")
        except OSError:
            pass

    def _remove_if_empty(self) -> bool:
        """Remove the folder when this run created it and it holds no results; True if removed."""
        if not self.created or has_results(self.path):
            return False
        shutil.rmtree(self.path, ignore_errors=True)
        return True
