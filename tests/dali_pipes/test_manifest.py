import os

import pytest

from attention_swap_reid.dali_pipes.manifest import (UNREADABLE, ManifestError, OutputError, Sample,
                                                     check_output, parse_manifest, read_manifest,
                                                     write_manifest)
from tests.dali_pipes.conftest import write_csv


def test_read_typed_records_with_resolved_paths_and_extra_columns(tmp_path):
    path = write_csv(tmp_path / "m.csv", [["a.jpg", "a.png", "3", "1", "", "train", "x"],
                                          ["b.jpg", "", "4", "2", "2", "query", "y"]],
                     header=("image", "mask", "pid", "camid", "viewpoint", "split", "note"))
    samples = read_manifest(path)
    assert samples[0] == Sample(str(tmp_path / "a.jpg"), str(tmp_path / "a.png"), 3, 1, -1, "train", row=2)
    assert samples[1].mask == "" and samples[1].viewpoint == 2 and samples[1].row == 3
    assert samples[0].extra == {"note": "x"}
    assert [s.pid for s in read_manifest(path, ["query"])] == [4]


def test_every_bad_row_is_reported_with_its_line(tmp_path):
    path = write_csv(tmp_path / "m.csv", [["a.jpg", "a.png", "x1", "1", "0", "train"],
                                          ["b.jpg", "b.png", "1", "1", "0", "training"],
                                          ["c.jpg", "c.png", "1", "1", "0", "train"],
                                          ["", "d.png", "1", "1.5", "0", "train"]])
    samples, problems = parse_manifest(path)
    assert [s.row for s in samples] == [4]
    assert [p.row for p in problems] == [2, 3, 5]
    assert "pid" in problems[0].message and "'x1'" in problems[0].message
    assert "split" in problems[1].message and "training" in problems[1].message
    with pytest.raises(ManifestError, match="m.csv:2"):
        read_manifest(path)


def test_missing_columns_and_missing_file(tmp_path):
    path = write_csv(tmp_path / "m.csv", [["a.jpg", "1"]], header=("image", "pid"))
    with pytest.raises(ManifestError, match="lacks column"):
        read_manifest(path)
    with pytest.raises(ManifestError, match="not found"):
        read_manifest(tmp_path / "nope.csv")
    with pytest.raises(ValueError, match="unknown split"):
        read_manifest(write_csv(tmp_path / "ok.csv", [["a.jpg", "", "1", "1", "0", "query"]]), ["test"])


def test_write_then_read_round_trip(tmp_path):
    rows = [Sample(str(tmp_path / "img" / "a.jpg"), str(tmp_path / "m" / "a.png"), 5, 2, 1, "train",
                   extra={"scene": "7"}),
            Sample(str(tmp_path / "img" / "b.jpg"), "", 6, 0, -1, "gallery", extra={"scene": "8"})]
    path = tmp_path / "out" / "manifest.csv"
    write_manifest(path, rows, extra_columns=["scene"])
    text = path.read_text().splitlines()
    assert text[0] == "image,mask,pid,camid,viewpoint,split,scene"
    assert text[1] == f"..{os.sep}img{os.sep}a.jpg,..{os.sep}m{os.sep}a.png,5,2,1,train,7"
    back = read_manifest(path)
    assert [(s.image, s.mask, s.pid, s.camid, s.viewpoint, s.split, s.extra) for s in back] == \
           [(os.path.normpath(r.image), os.path.normpath(r.mask) if r.mask else "", r.pid, r.camid,
             r.viewpoint, r.split, r.extra) for r in rows]


def test_viewpoint_and_mask_columns_may_be_left_out_and_a_bom_is_ignored(tmp_path):
    path = tmp_path / "m.csv"
    path.write_bytes("\ufeffsplit,pid,camid,image,quality\r\ngallery,7,1,b.jpg,0.9\r\n".encode("utf-8"))
    [sample] = read_manifest(path)
    assert (sample.image, sample.mask, sample.pid, sample.camid, sample.viewpoint, sample.split, sample.row) == \
           (str(tmp_path / "b.jpg"), "", 7, 1, -1, "gallery", 2)
    assert sample.extra == {"quality": "0.9"}
    with pytest.raises(ManifestError, match=r"lacks column\(s\) \['camid'\]"):
        read_manifest(write_csv(tmp_path / "bad.csv", [["a.jpg", "1", "train"]], header=("image", "pid", "split")))


def test_a_manifest_in_another_encoding_is_one_clear_problem(tmp_path):
    path = tmp_path / "m.csv"
    path.write_bytes("image,mask,pid,camid,viewpoint,split\n\xe9.jpg,,1,0,0,train\n".encode("cp1252"))
    with pytest.raises(ManifestError) as error:
        read_manifest(path)
    assert str(error.value) == (f"{path}:2: manifest is not UTF-8 text: byte 0xe9 at offset 37 is not UTF-8; "
                                f"save it as UTF-8")
    [problem] = error.value.problems
    assert problem.kind == UNREADABLE


def test_write_manifest_refuses_a_folder_and_leaves_no_temporary_file(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    with pytest.raises(OutputError, match="is a folder"):
        write_manifest(folder, [Sample(str(tmp_path / "a.jpg"), "", 1, 0, -1, "train")])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"] and not any(folder.iterdir())


def test_check_output_replaces_only_manifests_unless_forced(tmp_path):
    photo = tmp_path / "0002_c1s1_000451_03.jpg"
    photo.write_bytes(b"\xff\xd8 a dataset image")
    with pytest.raises(OutputError, match="exists and is not a manifest: not replaced"):
        check_output(photo)
    check_output(photo, force=True)
    manifest = write_csv(tmp_path / "m.csv", [["a.jpg", "", 1, 0, 0, "train"]])
    check_output(manifest)
    check_output(tmp_path / "new.csv")
    with pytest.raises(OutputError, match="is a folder"):
        check_output(tmp_path, force=True)


def test_a_missing_dali_names_the_extra_to_install(monkeypatch):
    import sys

    from attention_swap_reid import dali_pipes

    monkeypatch.setitem(sys.modules, "nvidia.dali", None)  # import of it raises ModuleNotFoundError
    monkeypatch.delitem(sys.modules, "attention_swap_reid.dali_pipes.loader", raising=False)
    monkeypatch.delitem(sys.modules, "attention_swap_reid.dali_pipes.pipeline", raising=False)
    with pytest.raises(ImportError, match=r"pip install nvidia-dali-cuda120 .* pip install -e '\.\[cuda12\]'"):
        dali_pipes.ReIDLoader
