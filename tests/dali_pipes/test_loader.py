"""ReIDLoader / EvalLoader in CPU mode (the same DALI graph as on the GPU)."""
import os
import sys
import threading
from collections import Counter

import cv2
import numpy as np
import pytest
import torch

from attention_swap_reid.dali_pipes import (BotOptions, EvalLoader, ManifestError, OutputFormat, Placement, ReIDLoader,
                                            read_manifest)
from attention_swap_reid.kernels import AugmentConfig
from tests.dali_pipes.conftest import write_csv

SIZE = (64, 32)
LOOSE = dict(min_area_ratio=0.0, min_iou=0.0, same_viewpoint=False)


def _loader(manifest, **kw):
    args = dict(batch_size=16, num_instances=4, size=SIZE, device="cpu", seed=0)
    args.update(kw)
    return ReIDLoader(manifest, **args)


def _epoch(loader):
    return [{k: v.clone() for k, v in b.items()} for b in loader]


def test_batches_are_pk_and_the_epoch_covers_the_training_split(tiny_world):
    loader = _loader(tiny_world)
    train = read_manifest(tiny_world, ["train"])
    batches = _epoch(loader)
    assert len(batches) == len(loader)
    seen = set()
    for b in batches:
        assert b["images"].shape == (16, 3, *SIZE) and b["images"].dtype == torch.float32
        counts = Counter(b["pids"].tolist())
        assert len(counts) == 4 and set(counts.values()) == {4}
        assert torch.equal(b["pids"], torch.tensor([train[i].pid for i in b["indices"].tolist()]))
        assert torch.equal(b["camids"], torch.tensor([train[i].camid for i in b["indices"].tolist()]))
        assert b["labels"].min() >= 0 and b["labels"].max() < loader.num_classes
        seen |= set(b["indices"].tolist())
    assert seen == set(range(len(train)))
    assert loader.num_classes == len({s.pid for s in train})


def test_same_seed_same_batches_and_epochs_differ(tiny_world):
    a, b = _epoch(_loader(tiny_world)), _epoch(_loader(tiny_world))
    for x, y in zip(a, b):
        assert torch.equal(x["images"], y["images"]) and torch.equal(x["indices"], y["indices"])
    loader = _loader(tiny_world)
    first, second = _epoch(loader), _epoch(loader)  # the epoch advances by itself
    assert not torch.equal(first[0]["indices"], second[0]["indices"])


def test_two_shards_are_disjoint_and_cover_the_epoch(tiny_world):
    shards = [_loader(tiny_world, batch_size=8, shard_id=s, num_shards=2) for s in range(2)]
    seen = [set(torch.cat([b["indices"] for b in loader]).tolist()) for loader in shards]
    assert len(shards[0]) == len(shards[1])
    assert not seen[0] & seen[1]
    assert seen[0] | seen[1] == set(range(len(read_manifest(tiny_world, ["train"]))))


def test_resume_from_state_dict_gives_the_same_next_epoch(tiny_world):
    aug = AugmentConfig(p=0.5, seed=3, **LOOSE)
    straight = _loader(tiny_world, augment=aug)
    _epoch(straight)
    expected = _epoch(straight)
    state = straight.state_dict()
    assert state["epoch"] == 2
    resumed = _loader(tiny_world, augment=aug)
    state["epoch"] = 1
    resumed.load_state_dict(state)
    for x, y in zip(expected, _epoch(resumed)):
        assert torch.equal(x["images"], y["images"]) and torch.equal(x["swapped"], y["swapped"])
    with pytest.raises(ValueError, match="seed"):
        _loader(tiny_world, seed=9).load_state_dict(state)


def test_a_jump_to_another_epoch_gives_that_epoch(tiny_world):
    """The source's worker processes count DALI's epochs from the pipeline's build: a pass that
    is not the next one starts a fresh pipeline."""
    aug = AugmentConfig(p=0.5, seed=3, **LOOSE)
    loader = _loader(tiny_world, augment=aug)
    _epoch(loader)
    loader.set_epoch(5)
    jumped = _epoch(loader)
    fresh = _loader(tiny_world, augment=aug)
    fresh.set_epoch(5)
    for x, y in zip(jumped, _epoch(fresh), strict=True):
        assert torch.equal(x["images"], y["images"]) and torch.equal(x["indices"], y["indices"])


class MainThreadOpens:
    """The files the test process's main thread opens while `recording` (Python's "open" audit
    event: `open`, `np.fromfile`, ...). The hook is installed once per process and stays."""

    installed = False
    recording: list | None = None

    @classmethod
    def hook(cls, event, args):
        if event == "open" and cls.recording is not None and threading.current_thread() is threading.main_thread():
            cls.recording.append(os.fspath(args[0]) if isinstance(args[0], (str, os.PathLike)) else args[0])


@pytest.fixture
def main_thread_opens():
    if not MainThreadOpens.installed:
        sys.addaudithook(MainThreadOpens.hook)
        MainThreadOpens.installed = True
    MainThreadOpens.recording = []
    yield MainThreadOpens.recording
    MainThreadOpens.recording = None


@pytest.mark.parametrize("augment_in", ["pipeline", "iterator"])
def test_an_epoch_opens_no_image_or_mask_file_on_the_main_thread(tiny_world, main_thread_opens, augment_in):
    """The source runs in its worker processes: they read the files. On the main thread
    (source_workers=0, the reference) the same batches, and every file opened there."""
    files = {os.path.realpath(p) for s in read_manifest(tiny_world, ["train"]) for p in (s.image, s.mask)}
    epochs = {}
    for workers in (0, 1, 2):
        loader = _loader(tiny_world, augment=AugmentConfig(p=0.5, seed=4, **LOOSE),
                         placement=Placement(mask_source="png", augment_in=augment_in, source_workers=workers))
        main_thread_opens.clear()
        epochs[workers] = _epoch(loader) + _epoch(loader)
        opened = {os.path.realpath(p) for p in main_thread_opens if isinstance(p, str)} & files
        assert (len(opened) > 0) == (workers == 0), (workers, len(opened))
    for workers in (1, 2):
        for a, b in zip(epochs[0], epochs[workers], strict=True):
            assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), workers


def test_source_workers_hold_none_of_the_training_process_s_locks(tiny_world, tmp_path):
    """The workers come from a fork server: a lock the training process holds (a run folder's
    run.lock) is free again once the process lets it go, though the workers still run."""
    import fcntl

    lock = open(tmp_path / "run.lock", "w")
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    loader = _loader(tiny_world, augment=AugmentConfig(p=0.5, seed=5, **LOOSE), placement=Placement(source_workers=2))
    next(iter(loader))
    lock.close()
    with open(tmp_path / "run.lock", "w") as again:
        fcntl.flock(again, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises BlockingIOError while a worker holds it


def test_swap_rate_and_donors_come_from_other_training_identities(tiny_world):
    loader = _loader(tiny_world, augment=AugmentConfig(p=0.5, seed=1, **LOOSE))
    train_pids = {s.pid for s in read_manifest(tiny_world, ["train"])}
    swapped, total = 0, 0
    for _ in range(4):
        for b in loader:
            s = b["swapped"]
            assert torch.all(b["donor_pids"][~s] == -1)
            assert torch.all(b["donor_pids"][s] != b["pids"][s])
            assert set(b["donor_pids"][s].tolist()) <= train_pids
            swapped, total = swapped + int(s.sum()), total + len(s)
    # every sample has candidates with the loose thresholds: binomial(total, 0.5), 4 sigma
    assert abs(swapped / total - 0.5) < 4 * np.sqrt(0.25 / total)


def test_no_augmentation_means_nothing_swapped(tiny_world):
    b = next(iter(_loader(tiny_world, augment=AugmentConfig(p=0.0))))
    assert not b["swapped"].any() and torch.all(b["donor_pids"] == -1)


@pytest.fixture
def box_world(tmp_path):
    """PNG images: a red box (the person, = mask) on a blue background at random places."""
    rng = np.random.default_rng(0)
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    rows = []
    for i in range(16):
        image = np.zeros((64, 32, 3), np.uint8)
        image[..., 0] = 255  # blue (BGR)
        mask = np.zeros((64, 32), np.uint8)
        y, x = rng.integers(0, 30), rng.integers(0, 14)
        mask[y:y + 30, x:x + rng.integers(8, 18)] = 255
        image[mask > 0] = (0, 0, 255)
        cv2.imwrite(str(tmp_path / "images" / f"{i}.png"), image)
        cv2.imwrite(str(tmp_path / "masks" / f"{i}.png"), mask)
        rows.append([f"images/{i}.png", f"masks/{i}.png", i // 4, i % 2, 0, "train"])
    return write_csv(tmp_path / "manifest.csv", rows)


@pytest.mark.parametrize("augment_in", ["pipeline", "iterator"])
def test_image_and_mask_share_flip_and_crop(box_world, augment_in):
    loader = ReIDLoader(box_world, batch_size=8, num_instances=4, size=SIZE, device="cpu",
                        bot=BotOptions(erasing=0.0), return_masks=True, placement=Placement(augment_in=augment_in))
    flipped_or_shifted = 0
    for _ in range(3):
        for b in loader:
            red = b["images"][:, 0] > 1.0            # normalized red channel: the box
            mask = b["masks"][..., 0].bool()
            assert torch.equal(red, mask)
            flipped_or_shifted += int(mask.any())
    assert flipped_or_shifted > 0


@pytest.mark.parametrize("placement, letterbox", [(Placement(augment_in="iterator"), False),
                                                  (Placement(mask_source="bank"), False),
                                                  (Placement(augment_in="iterator", mask_source="bank"), False),
                                                  (Placement(mask_source="bank"), True)])
def test_where_the_augmentation_runs_does_not_change_the_batches(tiny_world, placement, letterbox):
    """The reference: in the DALI graph, PNG masks decoded per batch; after the iterator,
    only float rounding of the normalization may differ."""
    aug = AugmentConfig(p=0.5, seed=2, **LOOSE)
    reference = _loader(tiny_world, augment=aug, return_masks=True, placement=Placement(mask_source="png"),
                        letterbox=letterbox)
    other = _loader(tiny_world, augment=aug, return_masks=True, placement=placement, letterbox=letterbox)
    swapped = 0
    for _ in range(2):
        for a, b in zip(_epoch(reference), _epoch(other), strict=True):
            assert a.keys() == b.keys()
            for key in a:
                if key == "images":
                    assert torch.allclose(a[key], b[key], rtol=0, atol=1e-5)
                else:
                    assert torch.equal(a[key], b[key]), key
            swapped += int(a["swapped"].sum())
    assert swapped > 0


def test_unknown_placements_are_refused():
    with pytest.raises(ValueError, match=r"augment_in must be one of \['auto', 'pipeline', 'iterator'\], "
                                         r"got 'trainer'"):
        Placement(augment_in="trainer")
    with pytest.raises(ValueError, match="mask_source must be one of .*got 'jpeg'"):
        Placement(mask_source="jpeg")
    with pytest.raises(ValueError, match="source_workers must be an integer >= 0, got -1"):
        Placement(source_workers=-1)
    for name in ("num_threads", "prefetch"):
        for bad in (0, 1.5, True):
            with pytest.raises(ValueError, match=f"{name} must be an integer >= 1, got {bad!r}"):
                Placement(**{name: bad})


def test_eval_loader_yields_every_image_once_in_order(tiny_world):
    for split in ("query", "gallery"):
        rows = read_manifest(tiny_world, [split])
        loader = EvalLoader(tiny_world, split=split, batch_size=7, size=SIZE, device="cpu", flip_test=True)
        batches = list(loader)
        assert len(batches) == len(loader) == -(-len(rows) // 7)
        indices = torch.cat([b["indices"] for b in batches]).tolist()
        assert indices == list(range(len(rows)))
        assert torch.cat([b["pids"] for b in batches]).tolist() == [r.pid for r in rows]
        b = batches[0]
        assert torch.equal(b["images_flipped"], torch.flip(b["images"], dims=[3]))
        again = list(loader)
        assert torch.equal(again[0]["images"], batches[0]["images"])


def test_bad_manifest_fails_before_training_naming_the_file(tiny_world, tmp_path):
    rows = tiny_world.read_text().splitlines()
    header, first = rows[0], rows[1].split(",")
    root = tiny_world.parent
    first[0] = str(root / first[0])
    first[1] = str(root / "masks" / "does_not_exist.png")
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join([header, ",".join(first)] + [",".join([str(root / r.split(",")[0]), str(root / r.split(",")[1])] + r.split(",")[2:]) for r in rows[2:]]) + "\n")
    with pytest.raises(ManifestError, match=r"bad.csv:2: mask file not found.*does_not_exist.png"):
        _loader(bad, augment=AugmentConfig(p=0.5))
    with pytest.raises(ValueError, match="multiple of num_instances"):
        _loader(tiny_world, batch_size=10)
    with pytest.raises(ValueError, match="device must be one of"):
        _loader(tiny_world, device="tpu")


@pytest.fixture
def unmasked_world(tiny_world, tmp_path):
    """The tiny world with the first training pid's mask column cleared and the second's masks
    replaced by empty PNGs (what a person detector leaves where it finds nobody)."""
    rows = tiny_world.read_text().splitlines()
    root = tiny_world.parent
    train_pids = sorted({int(r.split(",")[2]) for r in rows[1:] if r.split(",")[5] == "train"})
    no_mask, empty_mask = train_pids[:2]
    empty = np.zeros((64, 32), np.uint8)
    out, unmasked_rows = [rows[0]], []
    for line, row in enumerate(rows[1:], start=2):
        fields = row.split(",")
        fields[0] = str(root / fields[0])
        fields[1] = str(root / fields[1]) if fields[1] else ""
        if fields[5] == "train" and int(fields[2]) in (no_mask, empty_mask):
            unmasked_rows.append(line)
            if int(fields[2]) == no_mask:
                fields[1] = ""
            else:
                fields[1] = str(tmp_path / f"empty{line}.png")
                cv2.imwrite(fields[1], empty)
        out.append(",".join(fields))
    path = tmp_path / "unmasked.csv"
    path.write_text("\n".join(out) + "\n")
    return path, {no_mask, empty_mask}, unmasked_rows


def test_rows_without_a_person_mask_are_an_error_by_default(unmasked_world):
    path, _, rows = unmasked_world
    with pytest.raises(ManifestError, match=r"(?s)unmasked.csv:%d: train row has no mask.*unmasked='error': 12 training row\(s\) have no person mask; allowed: keep" % rows[0]):
        _loader(path, augment=AugmentConfig(p=0.5))
    with pytest.raises(ValueError, match="unmasked must be one of"):
        _loader(path, augment=AugmentConfig(p=0.5), unmasked="ignore")
    # without the augmentation the masks are not read, so they are not needed
    assert _loader(path, augment=AugmentConfig(p=0.0)).unmasked_rows == []


@pytest.mark.parametrize("mask_source", ["bank", "png"])
def test_unmasked_keep_trains_them_without_swapping_and_never_as_donors(unmasked_world, mask_source):
    path, pids, rows = unmasked_world
    loader = _loader(path, augment=AugmentConfig(p=1.0, seed=0, **LOOSE), unmasked="keep",
                     placement=Placement(mask_source=mask_source))
    assert loader.unmasked_rows == rows and len(loader.samples) == len(read_manifest(path, ["train"]))
    seen, swapped_others = set(), 0
    for _ in range(2):
        for b in loader:
            theirs = torch.tensor([p in pids for p in b["pids"].tolist()])
            assert not b["swapped"][theirs].any()
            assert not any(p in pids for p in b["donor_pids"].tolist())
            swapped_others += int(b["swapped"][~theirs].sum())
            seen |= set(b["indices"].tolist())
    assert seen == set(range(len(loader.samples)))
    assert swapped_others > 0


def test_unmasked_drop_leaves_them_out(unmasked_world):
    path, pids, rows = unmasked_world
    loader = _loader(path, augment=AugmentConfig(p=0.5, **LOOSE), unmasked="drop")
    assert loader.unmasked_rows == rows
    assert {s.row for s in loader.samples} == {s.row for s in read_manifest(path, ["train"])} - set(rows)
    assert loader.num_classes == len({s.pid for s in read_manifest(path, ["train"])}) - len(pids)
    for b in loader:
        assert not any(p in pids for p in b["pids"].tolist())


@pytest.mark.parametrize("augment_in", ["pipeline", "iterator"])
def test_output_formats_are_the_normalized_batches_mapped_back(tiny_world, augment_in):
    from attention_swap_reid.dali_pipes.output_format import IMAGENET_MEAN, IMAGENET_STD

    options = dict(batch_size=16, num_instances=4, size=(64, 32), device="cpu", seed=1,
                   placement=Placement(augment_in=augment_in),
                   augment=AugmentConfig(p=0.5, seed=0, min_iou=0.0, min_area_ratio=0.0))
    reference = next(iter(ReIDLoader(tiny_world, **options)))["images"]
    raw = next(iter(ReIDLoader(tiny_world, output=OutputFormat(normalize=False), **options)))["images"]
    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    assert raw.dtype == torch.float32 and 0 <= raw.min() and raw.max() <= 255
    assert torch.allclose(raw, reference * std + mean, rtol=0, atol=1e-3)  # erased pixels hold the mean too
    last = next(iter(ReIDLoader(tiny_world, output=OutputFormat(channels_last=True, dtype="float16"),
                                **options)))["images"]
    assert last.shape == reference.shape and last.dtype == torch.float16
    assert last.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(last.float(), reference, rtol=0, atol=2e-3 * reference.abs().max())
    bf16 = next(iter(ReIDLoader(tiny_world, output=OutputFormat(dtype="bfloat16"), **options)))["images"]
    assert bf16.dtype == torch.bfloat16
    if augment_in == "iterator":  # the tail kernel writes the reduced types itself: what a cast gives, bit for bit
        assert torch.equal(last, reference.to(torch.float16)) and torch.equal(bf16, reference.to(torch.bfloat16))


def test_eval_loader_output_format(tiny_world):
    options = dict(split="gallery", batch_size=8, size=(64, 32), device="cpu")
    reference = next(iter(EvalLoader(tiny_world, **options)))["images"]
    last = next(iter(EvalLoader(tiny_world, output=OutputFormat(channels_last=True), **options)))["images"]
    assert last.is_contiguous(memory_format=torch.channels_last) and torch.equal(last, reference)
    with pytest.raises(ValueError, match=r"dtype must be one of \['float32', 'float16', 'bfloat16'\], got 'float64'"):
        OutputFormat(dtype="float64")
    with pytest.raises(TypeError, match="channels_last must be True or False, got 1"):
        OutputFormat(channels_last=1)


def test_eval_loader_returns_the_masks_resized_as_in_training(tiny_world):
    import cv2

    loader = EvalLoader(tiny_world, split="query", batch_size=8, size=(32, 16), device="cpu", return_masks=True)
    batch = next(iter(loader))
    assert batch["masks"].shape == (len(batch["pids"]), 32, 16, 1) and batch["masks"].dtype == torch.uint8
    for k, row in enumerate(batch["indices"].tolist()):
        mask = cv2.imread(loader.samples[row].mask, cv2.IMREAD_GRAYSCALE)
        expected = cv2.resize((mask != 0).astype("uint8"), (16, 32), interpolation=cv2.INTER_NEAREST_EXACT)
        assert np.array_equal(batch["masks"][k, ..., 0].numpy(), expected)


def test_device_names_and_a_config_that_is_no_augment_config(tiny_world):
    from attention_swap_reid.dali_pipes.devices import resolve_device

    assert resolve_device("cpu") is None
    for name in ("gpu", "cuda", "cuda:0"):
        if not torch.cuda.is_available():
            with pytest.raises(RuntimeError, match="no CUDA GPU"):
                resolve_device(name)
    with pytest.raises(ValueError, match="cuda:N"):
        resolve_device("cuda:x")
    with pytest.raises(TypeError, match="AugmentConfig"):
        ReIDLoader(tiny_world, batch_size=16, num_instances=4, size=(64, 32), device="cpu", augment={"p": 0.5})
