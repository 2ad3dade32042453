"""benchmarks/throughput.py: a --quick run end to end writes every figure (no timing assertions)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ROWS = ("authors_aug", "authors_plain", "ours_plain", "ours_aug", "ours_aug_augment_in_iterator",
        "ours_aug_mask_source_png", "ours_aug_augment_in_iterator_mask_source_png",
        "kernel_ours", "kernel_ours_telea", "kernel_authors")
RATIOS = ("ours_aug_over_ours_plain", "ours_aug_over_authors_aug", "ours_plain_over_authors_plain",
          "kernel_over_authors_core", "aug_added_time")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory, tiny_world):
    tmp = tmp_path_factory.mktemp("bench")
    argv = ["--quick", "--device", "cpu", "--size", "64x32", "--workers", "2",
            "--manifest", str(tiny_world), "--out", str(tmp / "results")]
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "throughput.py"), *argv], cwd=tmp,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    folders = list((tmp / "results").iterdir())
    assert len(folders) == 1 and folders[0].name.startswith("cpu-")
    return folders[0], argv, done.stdout


@pytest.mark.slow
def test_quick_run_writes_every_figure(quick_run):
    folder, argv, stdout = quick_run
    record = json.loads((folder / "throughput.json").read_text())
    rows = {r["key"]: r for r in record["rows"]}
    assert set(ROWS) <= set(rows)
    for row in rows.values():
        rate = row["rate"]
        assert 0 < rate["min"] <= rate["q1"] <= rate["median"] <= rate["q3"] <= rate["max"]
        assert len(rate["per_window"]) == record["config"]["timing"]["windows"] and rate["images"] > 0
    assert set(RATIOS) <= set(record["ratios"])
    r = record["ratios"]
    assert r["ours_aug_over_ours_plain"]["value"] == pytest.approx(rows["ours_aug"]["rate"]["median"]
                                                                   / rows["ours_plain"]["rate"]["median"])
    assert "skipped" in record["trainer"]
    assert record["device"]["kind"] == "cpu" and record["device"]["name"]
    for lib in ("torch", "numpy", "dali", "cupy", "opencv"):
        assert record["versions"][lib]
    assert record["git_commit"] and record["command"].split()[2:] == argv
    cfg = record["config"]
    assert cfg["size"] == [64, 32] and cfg["batch"] == 16 and cfg["workers"] == 2 and cfg["train_images"] > 0
    assert len(cfg["manifest_sha256"]) == 64
    assert (folder / "command.txt").read_text().strip() == record["command"]
    assert "(4)/(3)" in stdout and "(4)/(1)" in stdout


@pytest.mark.slow
def test_quick_run_markdown_and_chart(quick_run):
    folder, _, _ = quick_run
    table = (folder / "throughput.md").read_text()
    record = json.loads((folder / "throughput.json").read_text())
    for row in record["rows"]:
        assert f"| {row['id']} | {row['label']}" in table
    assert (folder / "throughput.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("argv, message", [
    (["--size", "256by128"], "--size"), (["--size", "8x8"], "--size"),
    (["--batch", "30"], "--batch"), (["--workers", "0"], "--workers"), (["--windows", "0"], "--windows"),
    (["--manifest", "a.csv", "--world", "w"], "not allowed with"),
    (["--plan", "long"], "--plan"), (["--rows", ","], "--rows"),
])
def test_bad_arguments_exit_with_a_message(argv, message, capsys):
    from attention_swap_reid.benchmarks.throughput_cli import parse_args

    with pytest.raises(SystemExit) as e:
        parse_args(argv)
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_device_info_names_the_cpu():
    from attention_swap_reid.benchmarks.throughput_cli import device_info

    info = device_info("cpu")
    assert info["kind"] == "cpu" and info["slug"].startswith("cpu-") and "cores" in info["name"]
    assert all(c.isalnum() or c == "-" for c in info["slug"])


def test_rows_and_plan_pick_what_is_measured(tmp_path):
    from attention_swap_reid.benchmarks.throughput_cli import PLANS, parse_args, rows

    args = parse_args(["--rows", "3, 5", "--plan", "short", "--device", "cpu"])
    assert args.rows == ["3", "5"] and PLANS[args.plan].window_s < PLANS["full"].window_s
    assert [r.id for r in rows(args, "cpu", "unused.csv", samples=[])] == ["3", "5"]
    with pytest.raises(SystemExit, match="unknown row id"):
        rows(parse_args(["--rows", "3,9"]), "cpu", "unused.csv", samples=[])


def test_a_world_made_for_another_size_is_refused_not_replaced(tiny_world, tmp_path, capsys):
    from attention_swap_reid.benchmarks.throughput_cli import main
    world = tiny_world.parent  # made at 64x32
    stamp = (world / "world.json").read_text()
    assert main(["--quick", "--device", "cpu", "--size", "32x16", "--world", str(world),
                 "--out", str(tmp_path / "results")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {world}: holds a synthetic world made with other parameters, not replaced: ")
    assert "height=64 (wanted: 32)" in err and "give --world another folder" in err
    assert (world / "world.json").read_text() == stamp and not (tmp_path / "results").exists()


def test_a_folder_of_other_files_is_refused_not_made_over(tmp_path, capsys):
    from attention_swap_reid.benchmarks.throughput_cli import main
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    assert main(["--quick", "--device", "cpu", "--world", str(tmp_path / "mine"), "--out", str(tmp_path / "r")]) == 2
    assert capsys.readouterr().err == (f"error: {tmp_path / 'mine'}: holds other files and no synthetic world (no "
                                       f"world.json), not made over; give --world another folder (or remove this "
                                       f"one)\n")
    assert os.listdir(tmp_path / "mine") == ["notes.txt"] and not (tmp_path / "r").exists()
