"""prepare.viewpoints: joining a CSV of image -> viewpoint onto a manifest."""
import pytest

from attention_swap_reid.dali_pipes.manifest import Sample, read_manifest, write_manifest
from attention_swap_reid.prepare.viewpoints import apply_labels, main, read_labels


def sample(path, split="train"):
    return Sample(image=path, mask="", pid=1, camid=0, viewpoint=-1, split=split)


ROWS = [sample("/d/bounding_box_train/0002_c1s1_000451_03.jpg"),
        sample("/d/query/0002_c2s1_000301_00.jpg", "query"),
        sample("/d/bounding_box_test/0002_c2s1_000301_00.jpg", "gallery")]


def test_labels_match_by_file_name_or_path_suffix():
    out = apply_labels(ROWS, {"0002_c1s1_000451_03.jpg": 1, "query/0002_c2s1_000301_00.jpg": 2})
    assert [s.viewpoint for s in out] == [1, 2, -1]
    assert [s.image for s in out] == [s.image for s in ROWS]


@pytest.mark.parametrize("labels, message", [
    ({"0002_c2s1_000301_00.jpg": 0}, "matches 2 rows"),  # in query and gallery: ambiguous
    ({"0009_c1s1_000001_00.jpg": 0}, "matches no manifest row"),
    ({"ry/0002_c2s1_000301_00.jpg": 0}, "matches no manifest row"),  # suffixes are whole folders
])
def test_ambiguous_or_unmatched_labels_are_errors(labels, message):
    with pytest.raises(ValueError, match=message):
        apply_labels(ROWS, labels)


def test_label_file_errors_name_the_line(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("image,viewpoint\na.jpg,1\nb.jpg,side\n")
    with pytest.raises(ValueError, match=r"labels.csv:3: viewpoint must be an integer, got 'side'"):
        read_labels(str(path))
    path.write_text("name,view\na.jpg,1\n")
    with pytest.raises(ValueError, match="header must hold image,viewpoint"):
        read_labels(str(path))


def test_cli_writes_a_new_manifest_keeping_extra_columns(tmp_path, capsys):
    manifest = tmp_path / "m.csv"
    rows = [sample(str(tmp_path / "imgs" / f"{i:04d}_c1s1_000001_00.jpg")) for i in range(3)]
    write_manifest(manifest, [Sample(**{**s.__dict__, "extra": {"note": str(i)}}) for i, s in enumerate(rows)],
                   extra_columns=["note"])
    (tmp_path / "labels.csv").write_text("image,viewpoint\n0001_c1s1_000001_00.jpg,3\n")
    assert main([str(manifest), str(tmp_path / "labels.csv"), "--out", str(tmp_path / "v.csv")]) == 0
    out = read_manifest(tmp_path / "v.csv")
    assert [s.viewpoint for s in out] == [-1, 3, -1]
    assert [s.extra["note"] for s in out] == ["0", "1", "2"]
    assert "1/3 rows have a viewpoint" in capsys.readouterr().out


def test_cli_out_refuses_a_file_that_is_not_a_manifest(tmp_path, capsys):
    manifest = tmp_path / "m.csv"
    write_manifest(manifest, [sample(str(tmp_path / "imgs" / "0001_c1s1_000001_00.jpg"))])
    (tmp_path / "labels.csv").write_text("image,viewpoint\n0001_c1s1_000001_00.jpg,3\n")
    assert main([str(manifest), str(tmp_path / "labels.csv"), "--out", str(tmp_path / "labels.csv")]) == 2
    assert "labels.csv exists and is not a manifest" in capsys.readouterr().err
    assert (tmp_path / "labels.csv").read_text() == "image,viewpoint\n0001_c1s1_000001_00.jpg,3\n"
    assert main([str(manifest), str(tmp_path / "labels.csv"), "--out", str(manifest)]) == 0  # in place
    assert [s.viewpoint for s in read_manifest(manifest)] == [3]
