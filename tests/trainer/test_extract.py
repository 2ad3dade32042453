"""trainer.extract and trainer.visrank on a run of one epoch on the tiny world; one training
step and feature extraction of a tiny timm model."""
import cv2
import numpy as np
import pytest
import torch

from attention_swap_reid.dali_pipes import EvalLoader, ReIDLoader, read_manifest
from tests.trainer.test_run import tiny_run
from attention_swap_reid.trainer import extract, visrank
from attention_swap_reid.trainer.attention import feature_maps_of
from attention_swap_reid.trainer.features import extract_features
from attention_swap_reid.trainer.losses import ReIDLoss
from attention_swap_reid.trainer.model import build_model


@pytest.fixture(scope="module")
def trained_run(tiny_world, tmp_path_factory):
    """A run folder with a ResNet-18 baseline trained one epoch on the tiny world."""
    return tiny_run(tmp_path_factory.mktemp("extract"), tiny_world, epochs=1)


def checkpoint_of(run_dir):
    return run_dir / "baseline" / "checkpoints" / "latest.pt"


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


def test_visrank_marks_hits_green_and_misses_red(trained_run, tmp_path, capsys):
    out = tmp_path / "ranks.png"
    assert visrank.main([str(trained_run), "--out", str(out), "--queries", "3", "--top", "4"]) == 0
    assert "3 queries, top 4" in capsys.readouterr().out
    picks = visrank.visrank(checkpoint_of(trained_run), out, queries=3, top=4, progress=False)
    assert [p.kind for p in picks] == ["worst", "best", "random"]
    image = cv2.imread(str(out))
    row_h = visrank.TEXT_H + 128 + visrank.GAP
    assert image.shape == (3 * row_h, 5 * 64 + visrank.GAP, 3)
    for r, p in enumerate(picks):
        y = r * row_h + visrank.TEXT_H + 1
        assert tuple(image[y, 1]) == visrank.QUERY
        for k, hit in enumerate(p.hits):
            assert tuple(image[y, (1 + k) * 64 + visrank.GAP + 1]) == (visrank.HIT if hit else visrank.MISS)


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
    picks = visrank.pick_queries(ranked + [visrank.RankedQuery(2, 0.5, "", ranked[0].gallery, ranked[0].hits)], 3)
    assert [(p.index, p.kind) for p in picks] == [(2, "worst"), (1, "best"), (0, "random")]


def test_a_tiny_timm_model_trains_a_step_and_gives_features(tiny_world):
    pytest.importorskip("timm")
    loader = ReIDLoader(tiny_world, batch_size=8, num_instances=4, size=(64, 32), device="cpu", num_threads=1)
    model = build_model("timm/resnet10t", loader.num_classes)
    loss_fn = ReIDLoss(loader.num_classes, model.feat_dim)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    batch = next(iter(loader))
    loss, _ = loss_fn(*model(batch["images"]), batch["labels"])
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    query = EvalLoader(tiny_world, split="query", batch_size=16, size=(64, 32), device="cpu", num_threads=1)
    feats, pids, _ = extract_features(model, query, "cpu")
    assert torch.isfinite(loss) and feats.shape == (len(query.samples), 512) and len(pids) == len(query.samples)
    assert feature_maps_of(model) is None  # it pools itself: evaluation leaves out the attention shares
