"""trainer.run_folder: creation never loops, one lock per run folder, and a failed run leaves
either nothing or its error in train.log."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from attention_swap_reid.trainer import run_folder
from attention_swap_reid.trainer.run_folder import (Interrupted, RunFolder, RunFolderError, RunLock,
                                                    create_run_folder)
from tests.conftest import patch_mkdir

ROOT = Path(__file__).resolve().parents[2]


def test_creates_numbered_folders(tmp_path):
    assert create_run_folder(tmp_path / "runs", "t") == tmp_path / "runs" / "t"
    assert create_run_folder(tmp_path / "runs", "t") == tmp_path / "runs" / "t-1"


def test_attempts_are_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(run_folder, "MAX_ATTEMPTS", 3)
    for name in ("t", "t-1", "t-2"):
        (tmp_path / name).mkdir()
    with pytest.raises(RunFolderError, match=r"already holds t and t-1 .. t-2"):
        create_run_folder(tmp_path, "t")


@pytest.mark.parametrize("parent", ["link", "link/deeper"])
def test_broken_link_as_output_dir(tmp_path, parent):
    (tmp_path / "link").symlink_to(tmp_path / "gone")
    with pytest.raises(RunFolderError, match=rf"output.dir: {tmp_path / 'link'} is a broken symbolic link "
                                             rf"\(to {tmp_path / 'gone'}\)"):
        create_run_folder(tmp_path / parent, "t")


def test_output_dir_that_is_a_file(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(RunFolderError, match="exists and is not a folder"):
        create_run_folder(tmp_path / "f", "t")


def test_unwritable_output_dir(tmp_path, monkeypatch):
    def read_only(path, mode=0o777):
        raise OSError(30, "Read-only file system")

    patch_mkdir(monkeypatch, read_only)
    with pytest.raises(RunFolderError, match="output.dir: cannot create a run folder in .*: Read-only file system"):
        create_run_folder(tmp_path, "t")


def test_a_second_process_is_refused_with_the_holders_pid(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from attention_swap_reid.trainer.run_folder import RunLock; "
                               "RunLock(sys.argv[1]).acquire(); print('held', flush=True); time.sleep(60)",
                               str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunFolderError, match=rf"^{tmp_path} is in use by process {holder.pid} "):
            RunLock(tmp_path).acquire()
    finally:
        holder.kill()
        holder.wait()
    with RunLock(tmp_path):  # free again once the holder is gone
        assert (tmp_path / "run.lock").read_text() == f"{os.getpid()}\n"


def test_failed_new_run_without_results_leaves_nothing(tmp_path):
    path = create_run_folder(tmp_path, "t")
    with pytest.raises(ValueError):
        with RunFolder(path, created=True, resume_command="resume"):
            (path / "train.log").write_text("started\n")
            raise ValueError("bad data")
    assert list(tmp_path.iterdir()) == []


def test_failed_run_with_results_keeps_them_and_logs_the_error(tmp_path):
    (tmp_path / "attention" / "checkpoints").mkdir(parents=True)
    (tmp_path / "attention" / "checkpoints" / "latest.pt").write_bytes(b"x")
    with pytest.raises(ValueError):
        with RunFolder(tmp_path, created=False, resume_command="resume"):
            raise ValueError("bad data")
    assert (tmp_path / "train.log").read_text().endswith(" error: ValueError: bad data\n")


def test_ctrl_c_says_how_to_resume(tmp_path):
    (tmp_path / "final.json").write_text("{}")
    with pytest.raises(Interrupted, match=r"^interrupted; continue with: python trainer/run.py --resume R$"):
        with RunFolder(tmp_path, created=True, resume_command="python trainer/run.py --resume R"):
            raise KeyboardInterrupt
    assert "continue with: python trainer/run.py --resume R" in (tmp_path / "train.log").read_text()
    path = create_run_folder(tmp_path, "new")
    with pytest.raises(Interrupted, match="interrupted before the first checkpoint; .* removed, nothing to resume"):
        with RunFolder(path, created=True, resume_command="resume"):
            raise KeyboardInterrupt
    assert not path.exists()
