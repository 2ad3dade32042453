"""The layers of `sweeps/`: the modules that read nothing (`stats`, `spec`, `plan`) import only
each other, and planning a loaded sweep touches no file."""
import json
import os
import pathlib
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

from attention_swap_reid import sweeps
from attention_swap_reid.sweeps.inputs import load_sweep
from attention_swap_reid.sweeps.plan import expand
from attention_swap_reid.sweeps.spec import parse_sweep
from attention_swap_reid.trainer.safe_yaml import read_yaml
from attention_swap_reid.trainer.typed_tree import ConfigError
from tests.sweeps.test_variants import _write_sweep
from tests.test_import_graph import import_graph

PURE = {"stats", "spec", "plan"}  # read and write no file, start no process


def test_the_pure_modules_import_only_each_other():
    """(No cycle in `sweeps/` at all: tests/test_import_graph.py.)"""
    graph, _ = import_graph(Path(sweeps.__file__).parent, "sweeps")
    assert {"cli", "plan", "spec", "inputs"} <= graph.keys() and "plan" in graph["cli"]  # the graph is read
    assert {name: graph[name] - PURE for name in PURE} == {name: set() for name in PURE}


FILE_EVENTS = ("open", "os.", "shutil.", "glob.", "pathlib.", "subprocess.", "tempfile.")
_WATCHES: list[list[str]] = []  # the event lists of the `no_file_access` blocks going on


def _audit(event: str, args: tuple) -> None:
    if _WATCHES and event.startswith(FILE_EVENTS):
        _WATCHES[-1].append(f"{event}{args!r:.120}")
        raise PermissionError(f"file access while planning: {event}")


sys.addaudithook(_audit)  # a hook cannot be removed; it acts only inside `no_file_access`


@contextmanager
def no_file_access(monkeypatch):
    """`with no_file_access(monkeypatch) as seen:` refuses (PermissionError) and records in `seen`
    every file access in the block: the audit events of opening, listing, creating and removing
    files and of starting processes, and `os.stat` / `os.lstat` (`Path.is_file`,
    `os.path.exists`), which raise no audit event."""
    seen: list[str] = []

    def refuse(path, *args, **kwargs):
        seen.append(f"os.stat({path!r})")
        raise PermissionError(f"file access while planning: stat {path}")
    with monkeypatch.context() as m:
        m.setattr(os, "stat", refuse)
        m.setattr(os, "lstat", refuse)
        accessor = getattr(pathlib, "_NormalAccessor", None)  # Python 3.10: Path.stat calls its own os.stat
        if accessor is not None:
            m.setattr(accessor, "stat", staticmethod(refuse))  # (Path.lstat goes through its stat)
        _WATCHES.append(seen)
        try:
            yield seen
        finally:
            _WATCHES.remove(seen)


def test_the_file_access_guard_sees_opens_and_stats(tmp_path, monkeypatch):
    (tmp_path / "x").write_text("x")
    with no_file_access(monkeypatch) as seen:
        with pytest.raises(PermissionError):
            open(tmp_path / "x").close()
        with pytest.raises(PermissionError):
            (tmp_path / "x").is_file()
    assert [s.split("(")[0] for s in seen] == ["open", "os.stat"]
    assert (tmp_path / "x").read_text() == "x"  # and nothing after the block


def test_planning_a_loaded_sweep_reads_and_writes_no_file(tmp_path, monkeypatch):
    """A sweep with a synthetic world and a variant with degraded masks: what planning needs from
    its trainer configs (the robustness manifest the degraded runs still score) was read by
    `load_sweep`; `expand` then touches no file."""
    world = tmp_path / "w"
    sweep = load_sweep(_write_sweep(tmp_path, set={"train.epochs": 2, "data.manifest": str(world / "manifest.csv"),
                                                   "data.synthetic": {"train_ids": 32, "test_ids": 4}}))
    with no_file_access(monkeypatch) as seen:
        specs = expand(sweep)
    assert seen == []
    eroded = next(s for s in specs if s.run_id == "full-p0.5-erode-0.3-s0")
    last = dict(item.split("=", 1) for item in eroded.overrides)  # the trainer applies them in order
    degraded = tmp_path / "runs" / "sweep" / "masks" / "erode-0.3" / "manifest.csv"
    assert (last["data.manifest"], last["data.synthetic"], last["data.robustness_manifest"]) == (
        json.dumps(str(degraded)), "null", json.dumps(str(world / "robustness.csv")))
    assert not world.exists() and not degraded.exists()


def test_the_sweep_file_is_validated_without_reading_a_file(tmp_path, monkeypatch):
    """`parse_sweep` checks the mapping it is given; a sweep parsed but not loaded cannot be
    planned where a variant degrades masks (what the runs score is read by `load_sweep`)."""
    path = _write_sweep(tmp_path)
    raw = read_yaml(path)
    with no_file_access(monkeypatch) as seen:
        sweep = parse_sweep(raw, str(path))
        with pytest.raises(ConfigError, match="grid.p: expected a non-empty list"):
            parse_sweep(raw | {"grid": {"roi": ["full"]}}, str(path))
    assert seen == []
    assert sweep.variant("erode-0.3").degrade.kind == "erode"
    with pytest.raises(ValueError, match="'erode-0.3' has `degrade` but the sweep was not loaded with inputs.load_sweep"):
        expand(sweep)
