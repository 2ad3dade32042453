"""trainer.preflight: what the data makes a run do is said before training (notes), and what
it cannot do stops it (problems), each naming the key and the file."""
from dataclasses import replace

from attention_swap_reid.dali_pipes import read_manifest, write_manifest
from attention_swap_reid.trainer.config import from_dict
from attention_swap_reid.trainer.preflight import check_data, check_machine


def config(manifest, **sections):
    raw = {"data": {"manifest": str(manifest)}, "loader": {"batch_p": 4, "batch_k": 4, "device": "cpu"},
           "train": {"device": "cpu"}}
    for key, value in sections.items():
        raw[key] = raw.get(key, {}) | value
    return from_dict(raw)


def test_batch_k_above_an_identitys_image_count_is_said(tiny_world):
    problems, notes = check_data(config(tiny_world, loader={"batch_k": 8}))
    assert problems == []
    assert notes == [f"loader.batch_k: K=8 images per identity, but 8 of 8 training identities of {str(tiny_world)!r} "
                     f"have fewer (fewest: pid 1 with 6); the sampler repeats their images to fill the K places "
                     f"of a batch"]
    assert check_data(config(tiny_world)) == ([], [])


def test_queries_without_a_cross_camera_match_stop_the_run_or_are_left_out(tiny_world, tmp_path):
    rows = read_manifest(tiny_world)
    query = next(s for s in rows if s.split == "query")
    same_pid = [s for s in rows if s.pid == query.pid and s.split in ("query", "gallery")]
    rows = [replace(s, camid=query.camid) if s in same_pid else s for s in rows]
    write_manifest(tmp_path / "m.csv", rows)
    unmatched = sum(s.split == "query" for s in same_pid)
    total = sum(s.split == "query" for s in rows)
    problems, notes = check_data(config(tmp_path / "m.csv"))
    [problem] = problems
    assert problem.startswith(f"data.manifest: {unmatched} of {total} query row(s) of ")
    assert f"(first: row {query.row};" in problem
    assert problem.endswith("allowed: eval.unmatched_queries: drop (leave them out of the evaluation, counted in "
                            "the log)")
    assert check_data(config(tmp_path / "m.csv", eval={"unmatched_queries": "drop"})) == ([], [])


def test_unmasked_drop_with_no_mask_left_stops(tiny_world, tmp_path):
    rows = [replace(s, mask="") if s.split == "train" else s for s in read_manifest(tiny_world)]
    write_manifest(tmp_path / "m.csv", rows)
    problems, _ = check_data(config(tmp_path / "m.csv", data={"unmasked": "drop"}))
    first = min(s.row for s in rows if s.split == "train")
    assert problems == [f"data.unmasked: drop: no training row has a person mask, so nothing would be left to "
                        f"train; allowed: keep (train them without the augmentation) (first: row {first} of "
                        f"{str(tmp_path / 'm.csv')!r}; augment.p = 0.5 needs masks)"]
    assert check_data(config(tmp_path / "m.csv", data={"unmasked": "keep"}))[0] == []


def test_unreadable_manifest_is_one_line(tiny_world, monkeypatch):
    real_open = open

    def denied(path, *args, **kwargs):
        if str(path) == str(tiny_world):
            raise PermissionError(13, "Permission denied")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("attention_swap_reid.trainer.preflight.open", denied, raising=False)  # root ignores chmod
    assert check_machine(config(tiny_world)) == [f"data.manifest: cannot read {str(tiny_world)!r}: Permission denied"]


def test_test_identities_seen_in_training_stop_the_run_unless_numbered_apart(tiny_world, tmp_path):
    rows = read_manifest(tiny_world)
    train_pid = next(s.pid for s in rows if s.split == "train")
    query = next(s for s in rows if s.split == "query")
    rows = [replace(s, pid=train_pid) if s.pid == query.pid and s.split != "train" else s for s in rows]
    write_manifest(tmp_path / "m.csv", rows)
    problems, _ = check_data(config(tmp_path / "m.csv"))
    assert len(problems) == 1 and problems[0].startswith("data.manifest: 1 repeated image(s) or test identities")
    assert f"pid {train_pid} is also a training identity" in problems[0] and "data.separate_test_ids" in problems[0]
    assert check_data(config(tmp_path / "m.csv", data={"separate_test_ids": True}))[0] == []


def test_an_image_in_training_and_in_the_gallery_stops_the_run(tiny_world, tmp_path):
    rows = read_manifest(tiny_world)
    train = next(s for s in rows if s.split == "train")
    rows = [replace(s, image=train.image) if s is next(g for g in rows if g.split == "gallery") else s for s in rows]
    write_manifest(tmp_path / "m.csv", rows)
    problems, _ = check_data(config(tmp_path / "m.csv", data={"separate_test_ids": True}))
    assert len(problems) == 1 and "is also the image of row" in problems[0]
