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
