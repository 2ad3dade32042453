"""trainer.extract and trainer.visrank on a run of one epoch on the tiny world; one training
step and feature extraction of a tiny timm model."""
import dataclasses

import cv2
import numpy as np
import pytest
import torch

from attention_swap_reid.dali_pipes import EvalLoader, Placement, ReIDLoader, read_manifest
from tests.trainer.conftest import checkpoint_of
from attention_swap_reid.trainer import extract, visrank
from attention_swap_reid.trainer.attention import feature_maps_of
from attention_swap_reid.trainer.features import extract_features
from attention_swap_reid.trainer.losses import ReIDLoss
from attention_swap_reid.trainer.model import build_model


def test_extract_cli_writes_features_in_manifest_order(trained_run, tiny_world, tmp_path, capsys):
    out = tmp_path / "feats"  # no .npz suffix: the file is written under the name given
    assert extract.main([str(checkpoint_of(trained_run)), str(tiny_world), "--split", "gallery",
                         "--out", str(out), "--flip-test"]) == 0
    assert "features (gallery)" in capsys.readouterr().out
    feats = extract.Features.load(out)
    rows = read_manifest(tiny_world, ["gallery"])
    assert feats.features.shape == (len(rows), 512) and feats.features.dtype == np.float32
    assert np.allclose(np.linalg.norm(feats.features, axis=1), 1, atol=1e-5)
    assert feats.paths.tolist() == [s.image for s in rows]
    assert feats.pids.tolist() == [s.pid for s in rows] and feats.camids.tolist() == [s.camid for s in rows]


def test_extract_function_on_the_train_split(trained_run, tiny_world):
    train = extract.extract(checkpoint_of(trained_run), tiny_world, "train", progress=False)
    assert len(train.pids) == len(read_manifest(tiny_world, ["train"]))


def test_extract_errors_are_one_line(trained_run, tiny_world, tmp_path, capsys):
    stray = tmp_path / "stray.pt"
    stray.write_bytes(checkpoint_of(trained_run).read_bytes())
    assert extract.main([str(stray), str(tiny_world), "--out", str(tmp_path / "f.npz")]) == 2
    assert capsys.readouterr().err.startswith(f"error: {stray}: no config.yaml in the folders above it")
    assert extract.main([str(tmp_path / "none.pt"), str(tiny_world), "--out", str(tmp_path / "f.npz"),
                         "--config", str(trained_run / "config.yaml")]) == 2
    assert capsys.readouterr().err.startswith(f"error: checkpoint not found: {tmp_path / 'none.pt'}")


def test_extract_images_and_folders_gives_the_manifest_features(trained_run, tiny_world, tmp_path, capsys):
    import shutil
    gallery = extract.extract(checkpoint_of(trained_run), tiny_world, "gallery", progress=False)
    folder = tmp_path / "photos" / "nested"
    folder.mkdir(parents=True)
    picked = [2, 0, 5]
    for i in picked:  # renamed so that the folder's sorted order is `picked`'s
        shutil.copy(gallery.paths[i], folder / f"{picked.index(i)}_{i}.jpg")
    (folder / "notes.txt").write_text("not an image")
    out = tmp_path / "new" / "dir" / "f.npz"  # a missing folder is made
    assert extract.main([str(checkpoint_of(trained_run)), str(tmp_path / "photos"), str(gallery.paths[1]),
                         "--out", str(out)]) == 0
    assert "4 x 512 features (images)" in capsys.readouterr().out
    feats = extract.Features.load(out)
    assert np.allclose(feats.features, gallery.features[picked + [1]], atol=1e-5)
    assert feats.pids.tolist() == [-1] * 4 and feats.camids.tolist() == [-1] * 4
    assert feats.paths.tolist()[-1] == gallery.paths[1] and feats.paths[0].endswith("0_2.jpg")


def test_extract_source_errors_name_the_source(trained_run, tiny_world, tmp_path, capsys):
    ckpt, out = str(checkpoint_of(trained_run)), str(tmp_path / "f.npz")
    (tmp_path / "empty").mkdir()
    for sources, named in (([str(tmp_path / "gone.jpg")], f"{tmp_path / 'gone.jpg'}: no such image file or folder"),
                           ([str(tmp_path / "empty")], f"{tmp_path / 'empty'}: no images (.jpg"),
                           ([str(tiny_world), str(tmp_path)], f"{tiny_world}: a manifest is given alone")):
        assert extract.main([ckpt, *sources, "--out", out]) == 2
        assert capsys.readouterr().err.startswith(f"error: {named}")
    assert not (tmp_path / "f.npz").exists()


def test_extract_checks_out_before_any_work(trained_run, tiny_world, tmp_path, capsys, monkeypatch):
    def no_work(*args, **kwargs):
        raise AssertionError("features computed before --out was checked")
    monkeypatch.setattr(extract, "extract", no_work)
    ckpt = str(checkpoint_of(trained_run))
    blocker = tmp_path / "a-file"
    blocker.write_text("a file where a folder should be")
    assert extract.main([ckpt, str(tiny_world), "--out", str(blocker / "f.npz")]) == 2
    assert capsys.readouterr().err.startswith(f"error: output {blocker / 'f.npz'}: cannot write in {blocker}: ")
    foreign = tmp_path / "scores.npz"
    np.savez(foreign, scores=np.arange(3))  # an .npz, but not one of extract's
    before = foreign.read_bytes()
    assert extract.main([ckpt, str(tiny_world), "--out", str(foreign)]) == 2
    assert "exists and is not a features file" in capsys.readouterr().err and foreign.read_bytes() == before
    assert extract.main([ckpt, str(tiny_world), "--out", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "scores.npz"]  # no probe left behind


def test_extract_replaces_its_own_file_and_a_foreign_one_only_with_force(trained_run, tiny_world, tmp_path):
    ckpt, out = str(checkpoint_of(trained_run)), tmp_path / "f.npz"
    out.write_bytes(b"my notes")
    assert extract.main([ckpt, str(tiny_world), "--out", str(out)]) == 2 and out.read_bytes() == b"my notes"
    assert extract.main([ckpt, str(tiny_world), "--out", str(out), "--force"]) == 0
    assert extract.is_features_file(out)
    assert extract.main([ckpt, str(tiny_world), "--split", "gallery", "--out", str(out)]) == 0  # its own: replaced
    assert len(extract.Features.load(out).pids) == len(read_manifest(tiny_world, ["gallery"]))


def test_visrank_marks_hits_green_and_misses_red(trained_run, tmp_path, capsys):
    out = tmp_path / "ranks.png"
    assert visrank.main([str(trained_run), "--out", str(out), "--queries", "3", "--top", "4"]) == 0
    assert "3 queries, top 4" in capsys.readouterr().out
    picks = visrank.visrank(checkpoint_of(trained_run), out, queries=3, top=4, progress=False)
    assert [p.kind for p in picks] == ["worst", "best", "random"]
    image = cv2.imread(str(out))
    row_h = visrank.TEXT_H + 128 + visrank.LABEL_H + visrank.GAP
    assert image.shape == (3 * row_h, 5 * 64 + visrank.GAP, 3)
    for r, p in enumerate(picks):
        y = r * row_h + visrank.TEXT_H + 1
        assert tuple(image[y, 1]) == visrank.QUERY
        for k, hit in enumerate(p.hits):
            assert tuple(image[y, (1 + k) * 64 + visrank.GAP + 1]) == (visrank.HIT if hit else visrank.MISS)


def test_visrank_labels_rank_camera_and_distance(trained_run, tiny_world):
    query, gallery = (extract.extract(checkpoint_of(trained_run), tiny_world, split, progress=False)
                      for split in ("query", "gallery"))
    picks = visrank.pick_queries(visrank.rank_queries(query, gallery, top=3), 2)
    for p in picks:  # the distances shown are those of the features, in rank order
        expected = ((query.features[p.index] - gallery.features[p.gallery]) ** 2).sum(axis=1)
        assert np.allclose(p.distances, expected, atol=1e-5) and (np.diff(p.distances) >= 0).all()
    image = visrank.render(picks, query, gallery)
    row_h = visrank.TEXT_H + 128 + visrank.LABEL_H + visrank.GAP
    plain = visrank.render([dataclasses.replace(p, kind="") for p in picks], query, gallery)
    for r in range(len(picks)):
        band = image[r * row_h + visrank.TEXT_H + 128:r * row_h + visrank.TEXT_H + 128 + visrank.LABEL_H]
        for k in range(4):  # the query's label, then one per gallery image: dark text in each tile's band
            x0 = 0 if k == 0 else k * 64 + visrank.GAP
            assert (band[:, x0:x0 + 64] < 128).any()
        assert np.array_equal(band, plain[r * row_h + visrank.TEXT_H + 128:][:visrank.LABEL_H])
    shifted = visrank.render([dataclasses.replace(picks[0], distances=picks[0].distances + 1)], query, gallery)
    assert not np.array_equal(shifted[:row_h], image[:row_h])  # the label follows the distance


def test_visrank_checks_out_before_any_work(trained_run, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(visrank, "find_checkpoint", lambda *a: pytest.fail("work began before --out was checked"))
    photo = tmp_path / "0002_c1s1_000451_03.jpg"
    photo.write_bytes(b"\xff\xd8 a dataset image")
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for out, named in ((tmp_path / "ranks", "a picture needs one of the suffixes .png, .jpg, .jpeg"),
                       (tmp_path / "ranks.gif", "a picture needs one of the suffixes"),
                       (photo, "exists and is not a picture this command wrote"),
                       (blocker / "ranks.png", f"cannot write in {blocker}")):
        assert visrank.main([str(trained_run), "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: output {out}") and named in err and err.count("\n") == 1
    assert photo.read_bytes() == b"\xff\xd8 a dataset image"


def test_visrank_replaces_its_own_pictures_and_others_only_with_force(trained_run, tmp_path):
    args = [str(trained_run), "--queries", "1", "--top", "2", "--out"]
    for name in ("r.png", "r.jpg"):
        out = tmp_path / name
        assert visrank.main(args + [str(out)]) == 0 and visrank.main(args + [str(out)]) == 0  # its own: replaced
        assert cv2.imread(str(out)).shape[1] == 3 * 64 + visrank.GAP
    other = tmp_path / "other.png"
    cv2.imwrite(str(other), np.zeros((4, 4, 3), np.uint8))
    assert visrank.main(args + [str(other)]) == 2 and cv2.imread(str(other)).shape == (4, 4, 3)
    assert visrank.main(args + [str(other), "--force"]) == 0 and cv2.imread(str(other)).shape[1] == 3 * 64 + visrank.GAP


def test_pick_and_rank_queries_on_hand_made_features():
    def feats(x, pids, cams):
        x = np.asarray(x, np.float32)[:, None]
        return extract.Features(x, np.array(pids), np.array(cams), np.array([f"{i}.jpg" for i in range(len(x))]))
    gallery = feats([0.0, 1.0, 2.0, 3.0], [1, 1, 2, 2], [0, 1, 1, 0])
    query = feats([0.1, 2.9, 1.1], [1, 2, 3], [0, 0, 0])
    ranked = visrank.rank_queries(query, gallery, top=3)
    assert [r.index for r in ranked] == [0, 1]  # pid 3 has no gallery match: left out
    assert ranked[0].gallery.tolist() == [1, 2, 3]  # row 0 (pid 1, camera 0) is the query's own camera
    assert ranked[0].hits.tolist() == [True, False, False] and ranked[0].ap == 1.0
    assert ranked[1].gallery.tolist() == [2, 1, 0] and ranked[1].ap == 1.0  # row 3: same pid and camera
    picks = visrank.pick_queries(ranked + [dataclasses.replace(ranked[0], index=2, ap=0.5)], 3)
    assert [(p.index, p.kind) for p in picks] == [(2, "worst"), (1, "best"), (0, "random")]


def test_a_tiny_timm_model_trains_a_step_and_gives_features(tiny_world):
    pytest.importorskip("timm")
    loader = ReIDLoader(tiny_world, batch_size=8, num_instances=4, size=(64, 32), device="cpu",
                        placement=Placement(num_threads=1))
    model = build_model("timm/resnet10t", loader.num_classes)
    loss_fn = ReIDLoss(loader.num_classes, model.feat_dim)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    batch = next(iter(loader))
    loss, _ = loss_fn(*model(batch["images"]), batch["labels"])
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    query = EvalLoader(tiny_world, "query", batch_size=16, size=(64, 32), device="cpu",
                       placement=Placement(num_threads=1))
    feats, pids, _ = extract_features(model, query, "cpu")
    assert torch.isfinite(loss) and feats.shape == (len(query.samples), 512) and len(pids) == len(query.samples)
    assert feature_maps_of(model) is None  # it pools itself: evaluation leaves out the attention shares
