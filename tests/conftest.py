"""Shared fixtures: small synthetic worlds (`prepare.synthetic`), made once per test session."""
import os
import pathlib
import sys

import pytest

from attention_swap_reid.prepare.synthetic import make_world

TINY = dict(train_ids=8, test_ids=4, images_per_id=6, height=64, width=32, seed=0)
SMALL = dict(train_ids=30, test_ids=20, images_per_id=12, height=64, width=32, seed=0)


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory):
    """Path of the manifest.csv of a tiny world: 8 train ids, 4 test ids, 6 images each, 64x32 (~0.3 s)."""
    return make_world(tmp_path_factory.mktemp("tiny_world") / "world", progress=False, **TINY)


@pytest.fixture(scope="session")
def small_world(tmp_path_factory):
    """Path of the manifest.csv of a small world: 30 train ids, 20 test ids, 12 images each, 64x32 (~2 s)."""
    return make_world(tmp_path_factory.mktemp("small_world") / "world", progress=False, **SMALL)


def patch_mkdir(monkeypatch, fake):
    """Have every folder creation call `fake(path, mode)` (root ignores chmod, so tests fake a
    refusal): `os.mkdir`, and on Python 3.10 pathlib's own reference to it (3.11 made `Path.mkdir`
    call `os.mkdir`)."""
    monkeypatch.setattr(os, "mkdir", fake)
    if sys.version_info < (3, 11):
        monkeypatch.setattr(pathlib._NormalAccessor, "mkdir", staticmethod(fake))


@pytest.fixture
def full_disk(monkeypatch):
    """`full_disk(folder, free=0)`: from then on, writes into files under `folder` fail as on a
    full disk (OSError ENOSPC, "No space left on device") once `free` more bytes have gone in;
    the write that crosses the line writes what fits first, as the kernel does. It covers
    Python's file objects (`open`, `io.open`: what torch.save, json, csv and the like write
    through) and `os.write`; writes elsewhere are untouched. `full_disk.free()` lifts it.
    (`tests/trainer/test_full_disk.py` checks the same cases on a real full tmpfs where it
    can mount one.)"""
    import builtins
    import errno
    import io
    import os
    import pathlib
    from pathlib import Path

    state = {"folder": None, "left": 0}
    real_open, real_write = builtins.open, os.write

    def inside(path) -> bool:
        return state["folder"] is not None and Path(os.path.abspath(path)).is_relative_to(state["folder"])

    def take(size: int) -> int:
        """How much of a `size`-byte write fits; raises ENOSPC when nothing does."""
        if state["left"] <= 0 and size:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        fits = min(size, state["left"])
        state["left"] -= fits
        return fits

    class FullFile:
        def __init__(self, f):
            self._f = f

        def write(self, data):
            size = len(data.encode() if isinstance(data, str) else data)
            fits = take(size)
            if fits < size:
                self._f.write(data[:fits])
                self._f.flush()
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return self._f.write(data)

        def __getattr__(self, name):
            return getattr(self._f, name)

        def __iter__(self):
            return iter(self._f)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self._f.close()

    def fake_open(file, mode="r", *args, **kwargs):
        f = real_open(file, mode, *args, **kwargs)
        writing = any(c in mode for c in "wax+")
        return FullFile(f) if writing and isinstance(file, (str, os.PathLike)) and inside(file) else f

    def fake_write(fd, data):
        try:
            path = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            path = None
        if path is None or not inside(path):
            return real_write(fd, data)
        fits = take(len(data))
        return real_write(fd, bytes(data[:fits])) if fits else 0

    monkeypatch.setattr(builtins, "open", fake_open)
    monkeypatch.setattr(io, "open", fake_open)
    monkeypatch.setattr(os, "write", fake_write)
    accessor = getattr(pathlib, "_NormalAccessor", None)  # Python 3.10: Path.open calls its own io.open
    if accessor is not None:
        monkeypatch.setattr(accessor, "open", staticmethod(fake_open))

    def fill(folder, free: int = 0) -> None:
        state["folder"], state["left"] = Path(os.path.abspath(folder)), free

    fill.free = lambda: state.update(folder=None)
    return fill
