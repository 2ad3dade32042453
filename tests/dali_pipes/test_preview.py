import cv2
import numpy as np

from attention_swap_reid.dali_pipes import read_manifest
from attention_swap_reid.dali_pipes.preview import COLUMNS, HEADER_H, load_batch, main, preview_grid
from attention_swap_reid.kernels import ROI_MODES


def test_grid_shows_original_mask_donor_augmented_per_mode(tiny_world):
    grid = preview_grid(str(tiny_world), rows=2, size=(64, 32), min_iou=0.0, min_area_ratio=0.0)
    assert grid.shape == (HEADER_H + len(ROI_MODES) * 2 * 64, 4 * 32, 3) and grid.dtype == np.uint8
    # the mask column is binary (0/255) below the caption
    assert set(np.unique(grid[HEADER_H + 20:HEADER_H + 64, 32:64])) <= {0, 255}


def test_each_column_has_its_header(tiny_world):
    grid = preview_grid(str(tiny_world), rows=1, size=(64, 32))
    header = grid[:HEADER_H]
    assert len(COLUMNS) == 4 and header.max() == 255
    for k in range(len(COLUMNS)):  # dark text inside every column's own band, nowhere near its edges
        column = header[:, k * 32:(k + 1) * 32]
        assert (column < 128).any() and (column[:, [0, -1]] == 255).all()
    assert (grid[HEADER_H:HEADER_H + 64, :32] != 255).any()  # the first row's images follow at once


def test_load_batch_matches_opencv(tiny_world):
    sample = read_manifest(tiny_world, ["train"])[0]
    images, masks = load_batch([sample], (64, 32))
    expected = cv2.resize(cv2.imread(sample.mask, cv2.IMREAD_GRAYSCALE), (32, 64), interpolation=cv2.INTER_NEAREST)
    assert np.array_equal(masks[0], (expected > 0).astype(np.uint8))
    assert images.shape == (1, 64, 32, 3)


def test_cli_writes_png(tiny_world, tmp_path, capsys):
    out = tmp_path / "grid.png"
    assert main([str(tiny_world), "--out", str(out), "--rows", "1", "--size", "64x32"]) == 0
    assert cv2.imread(str(out)).shape == (HEADER_H + 3 * 64, 4 * 32, 3)
    assert main([str(tmp_path / "missing.csv"), "--out", str(tmp_path / "m.png")]) == 2


def test_rows_without_a_mask_show_an_empty_mask(tiny_world):
    from dataclasses import replace
    sample = replace(read_manifest(tiny_world, ["train"])[0], mask="")
    images, masks = load_batch([sample], (64, 32))
    assert images.shape == (1, 64, 32, 3) and masks.shape == (1, 64, 32) and not masks.any()


def test_a_trainer_config_gives_the_manifest_size_and_augment_settings(tiny_world, tmp_path, capsys):
    import yaml
    config = tmp_path / "cfg.yaml"
    config.write_text(yaml.safe_dump({"data": {"manifest": str(tiny_world), "size": [32, 16]},
                                      "augment": {"p": 0.3, "dilate": 5, "min_iou": 0.0, "bank_size": 0}}))
    out = tmp_path / "grid.png"
    assert main([str(config), "--out", str(out), "--rows", "1"]) == 0
    assert cv2.imread(str(out)).shape == (HEADER_H + 3 * 32, 4 * 16, 3)  # the config's data.size
    expected = preview_grid(str(tiny_world), rows=1, size=(32, 16), dilate=5, min_iou=0.0)
    assert np.array_equal(cv2.cvtColor(cv2.imread(str(out)), cv2.COLOR_BGR2RGB), expected)


def test_a_bad_augment_setting_stops_naming_the_key(tiny_world, tmp_path, capsys):
    import yaml
    config = tmp_path / "cfg.yaml"
    for augment, named in (({"dilate": 4}, "AugmentConfig.dilate=4: expected an odd integer >= 1"),
                           ({"rio": "upper"}, "AugmentConfig.rio: unknown field (did you mean 'roi'?)")):
        config.write_text(yaml.safe_dump({"data": {"manifest": str(tiny_world)}, "augment": augment}))
        assert main([str(config), "--out", str(tmp_path / "g.png"), "--rows", "1"]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: {config}: augment: ") and named in err
    assert not (tmp_path / "g.png").exists()


def test_cli_names_an_unreadable_image(tiny_world, tmp_path, capsys):
    from dataclasses import replace

    from attention_swap_reid.dali_pipes import write_manifest
    rows = [replace(s, image=str(tmp_path / "gone.jpg")) for s in read_manifest(tiny_world, ["train"])]
    write_manifest(tmp_path / "m.csv", rows)
    assert main([str(tmp_path / "m.csv"), "--out", str(tmp_path / "g.png"), "--rows", "1", "--size", "64x32"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: row ") and "cannot read" in err and "gone.jpg" in err
    assert not (tmp_path / "g.png").exists()


def test_out_replaces_only_its_own_pngs_unless_forced(tiny_world, tmp_path, capsys):
    photo = tmp_path / "0002_c1s1_000451_03.jpg"
    photo.write_bytes(b"\xff\xd8 a dataset image")
    args = [str(tiny_world), "--rows", "1", "--size", "64x32", "--out"]
    assert main(args + [str(photo)]) == 2  # not even a PNG
    assert main(args + [str(photo.with_suffix(".png"))]) == 0
    photo.with_suffix(".png").write_bytes(cv2.imencode(".png", np.zeros((4, 4), np.uint8))[1].tobytes())
    assert main(args + [str(photo.with_suffix(".png"))]) == 2  # a PNG this command did not write
    err = capsys.readouterr().err
    assert err.count("\n") == 2 and "must be a .png file" in err and "exists and is not a preview" in err
    assert photo.read_bytes() == b"\xff\xd8 a dataset image"
    assert cv2.imread(str(photo.with_suffix(".png"))).shape == (4, 4, 3)
    assert main(args + [str(photo.with_suffix(".png")), "--force"]) == 0
    assert main(args + [str(photo.with_suffix(".png"))]) == 0  # its own output: replaced
    assert cv2.imread(str(photo.with_suffix(".png"))).shape == (HEADER_H + 3 * 64, 4 * 32, 3)


def test_out_folder_is_refused_and_leaves_nothing(tiny_world, tmp_path, capsys):
    folder = tmp_path / "grid.png"
    folder.mkdir()
    assert main([str(tiny_world), "--rows", "1", "--size", "64x32", "--out", str(folder), "--force"]) == 2
    assert "is a folder" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grid.png"] and not any(folder.iterdir())


def test_a_manifest_in_another_encoding_is_one_line(tmp_path, capsys):
    path = tmp_path / "m.csv"
    path.write_bytes("image,mask,pid,camid,viewpoint,split\n\xe9.jpg,,1,0,0,train\n".encode("latin-1"))
    assert main([str(path), "--out", str(tmp_path / "g.png")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "m.csv:2: manifest is not UTF-8 text" in err
    assert not (tmp_path / "g.png").exists()


def test_a_broken_config_is_one_line(tmp_path, capsys):
    config = tmp_path / "cfg.yaml"
    config.write_text("data:\n  manifest: [unclosed\n")
    assert main([str(config), "--out", str(tmp_path / "g.png")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cfg.yaml is not a readable YAML config" in err
