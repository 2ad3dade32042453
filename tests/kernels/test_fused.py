"""The fused cupy path of `AttentionAugment`: bit-exact against the numpy backend end to end,
and its cost per batch on the host: device operations and host synchronizations, counted by
the CPU emulation of CuPy (kernels/testing/emulation.py).

What a batch may cost: at most `MAX_OPS` device operations (kernel launches and CuPy array
operations that launch work) and no host synchronization, at B = 64 and 256 (256 x 128
images), with and without a donor bank (empty and full), for every ROI mode and inpainting
method, with and without the BoT tail.
"""
import dataclasses
import itertools

import numpy as np
import pytest

from attention_swap_reid.kernels import INPAINTERS, ROI_MODES, AttentionAugment, AugmentConfig, Tail, bot_tail

MAX_OPS = 20
LOOSE = dict(min_area_ratio=0.5, min_iou=0.3)
TAIL_FIELDS = ("flip", "crop_anchor", "erase_anchor", "erase_shape")
CUPY_INPAINTERS = [name for name, inpainter in INPAINTERS.items() if "cupy" in inpainter.backends]
"""Every inpainting method the table says runs on cupy: each must run in the fused path."""
SETTINGS = [(10, None, "float32"), (0, "nchw", "bfloat16"), (30, "channels_last", "float16")]
"""(bank size, tail layout, tail dtype), taken in turn by the cases below."""
CASES = [(roi, inpaint, *SETTINGS[k % len(SETTINGS)])
         for k, (roi, inpaint) in enumerate(itertools.product(ROI_MODES, CUPY_INPAINTERS))]


def host_tail(b: int, h: int, w: int, seed: int, channels_last: bool = False, dtype: str = "float32") -> Tail:
    rng = np.random.default_rng(seed)
    crop = rng.integers(-10, 11, (b, 2)).astype(np.float32)
    erase_anchor = np.stack([rng.integers(0, h, b), rng.integers(0, w, b)], axis=1).astype(np.float32)
    erase_shape = np.stack([rng.integers(0, h // 2, b), rng.integers(0, w // 2, b)], axis=1).astype(np.float32)
    return Tail(rng.integers(0, 2, b).astype(np.int32), crop, erase_anchor, erase_shape, channels_last=channels_last,
                fill=(0.5, -2.0, 3.0) if channels_last else (0.0, 0.0, 0.0), dtype=dtype)


def on_device(cp, tail: Tail) -> Tail:
    return dataclasses.replace(tail, **{name: cp.asarray(getattr(tail, name)) for name in TAIL_FIELDS})


@pytest.fixture
def data(make_batch):
    d = make_batch(24, 64, 32, seed=21, ids=10, views=2)
    d["masks"][3] = 0  # an empty mask
    d["masks"][6] = 0
    d["masks"][6, 0:3, 0:2] = 1  # a tiny one in the corner
    return d


def assert_same(cp, got, expected, name):
    got = cp.asnumpy(got)
    assert got.dtype == expected.dtype and got.shape == expected.shape, name
    if hasattr(cp, "counting"):  # the emulation runs the very float operations of the numpy backend
        assert np.array_equal(got, expected), f"{name}: {np.argwhere(got != expected)[:5].tolist()}"
    else:  # a GPU: the pull-push fill may differ by a last-bit tie (1 grey level), then by a rounding of the type
        tolerance = {np.uint8: 1.0, np.float32: 1e-6, np.float16: 2.0 ** -9, np.uint16: 2.0 ** -6}[expected.dtype.type]
        tolerance += 0.0 if expected.dtype == np.uint8 else 1.0 / (0.224 * 255)
        assert np.abs(as_float(got) - as_float(expected)).max() <= tolerance, name


def as_float(values: np.ndarray) -> np.ndarray:
    """float64 values of uint8, float32, float16 or bfloat16 bits (uint16) arrays."""
    if values.dtype == np.uint16:
        values = (values.astype(np.uint32) << 16).view(np.float32)
    return values.astype(np.float64)


@pytest.mark.parametrize("roi, inpaint, bank_size, tail, dtype", CASES)
def test_fused_path_equals_the_numpy_backend(cp, data, roi, inpaint, bank_size, tail, dtype):
    config = AugmentConfig(p=0.8, roi=roi, split=0.4, dilate=9, inpaint=inpaint, bank_size=bank_size, seed=5, **LOOSE)
    host, gpu = AttentionAugment(config, backend="numpy"), AttentionAugment(config, backend="cupy")
    plain = AttentionAugment(config, backend="numpy")  # augment, then bot_tail
    for epoch, (start, stop) in enumerate([(0, 24), (0, 8), (8, 24), (4, 20), (0, 24)]):  # the bank fills, wraps
        part = {k: v[start:stop] for k, v in data.items()}
        args = [part[k] for k in ("images", "masks", "pids", "viewpoints")]
        index = None if epoch % 2 else np.arange(start, stop) + 1000 * epoch
        t = None if tail is None else host_tail(stop - start, 64, 32, seed=epoch, channels_last=tail == "channels_last",
                                                dtype=dtype)
        a = host(*args, epoch=epoch, index=index, tail=t)
        b = gpu(*(cp.asarray(x) for x in args), epoch=epoch, index=None if index is None else cp.asarray(index),
                tail=None if t is None else on_device(cp, t))
        assert type(b.images).__module__.split(".")[0] == "cupy"
        for field in ("donor", "swapped", "donor_pids", "wanted", "candidates"):
            assert np.array_equal(cp.asnumpy(getattr(b, field)), getattr(a, field)), field
        assert_same(cp, b.images, a.images, "images")
        assert b.images.strides == a.images.strides
        assert b.stats == a.stats
        if t is not None:
            c = plain(*args, epoch=epoch, index=index)
            assert np.array_equal(bot_tail(c.images, t), a.images)
        if bank_size:  # the same samples in the same slots (never-filled slots zero)
            for name in ("images", "rois", "boxes", "areas", "normalized", "pids", "viewpoints"):
                assert np.array_equal(cp.asnumpy(gpu.bank._store[name]), host.bank._store[name]), name
            assert gpu.bank.filled == host.bank.filled


def flat_fill(images, holes, radius):
    """A stand-in inpainting method for numpy and cupy alike: each hole pixel of image k gets the
    grey level min(255, floor(10 * radius[k]))."""
    from attention_swap_reid.kernels.arrays import array_module

    xp = array_module(images)
    grey = xp.minimum(xp.floor(radius * 10.0), 255.0).astype(np.uint8)[:, None, None, None]
    return xp.where(holes[..., None] != 0, grey, images)


def test_every_inpainter_the_table_runs_on_cupy_runs_in_the_fused_path(cp, data, monkeypatch):
    """A method added to INPAINTERS that says it runs on cupy (and has no fused form of its own)
    runs in the fused path: donor images gathered, filled by the method with the radius the
    numpy backend gives it (a quarter of the donor ROI's box width here), composited."""
    from attention_swap_reid.kernels.inpaint import FILLS
    from attention_swap_reid.kernels.tables import Inpainter

    monkeypatch.setitem(INPAINTERS, "flat", Inpainter(("numpy", "cupy"), radius=0.25))
    monkeypatch.setitem(FILLS, "flat", flat_fill)
    config = AugmentConfig(p=1.0, inpaint="flat", dilate=9, bank_size=8, seed=3, **LOOSE)
    host, gpu = AttentionAugment(config, backend="numpy"), AttentionAugment(config, backend="cupy")
    args = [data[k] for k in ("images", "masks", "pids", "viewpoints")]
    for epoch in range(3):
        a = host(*args, epoch=epoch, tail=host_tail(24, 64, 32, seed=epoch))
        b = gpu(*(cp.asarray(x) for x in args), epoch=epoch, tail=on_device(cp, host_tail(24, 64, 32, seed=epoch)))
        assert np.array_equal(cp.asnumpy(b.donor), a.donor) and np.array_equal(cp.asnumpy(b.images), a.images)
    plain = AttentionAugment(config, backend="numpy")(*args)
    widths = [np.flatnonzero(data["masks"][d].any(axis=0)) for d in plain.donor[plain.swapped]]
    greys = {int(np.floor((w[-1] - w[0] + 1) * 0.25 * 10)) for w in widths}
    assert greys & set(np.unique(plain.images).tolist())  # the method's fill is in the images


def test_a_fused_form_the_backend_does_not_have_is_refused_by_name(cp, data, monkeypatch):
    from attention_swap_reid.kernels.inpaint import FILLS
    from attention_swap_reid.kernels.tables import Inpainter

    monkeypatch.setitem(INPAINTERS, "odd", Inpainter(("numpy", "cupy"), fused="no-such-form"))
    monkeypatch.setitem(FILLS, "odd", flat_fill)
    args = [cp.asarray(data[k]) for k in ("images", "masks", "pids", "viewpoints")]
    with pytest.raises(ValueError, match=r"inpaint='odd': its fused form 'no-such-form' is not one of \['pyramid'\]"):
        AttentionAugment(AugmentConfig(p=1.0, inpaint="odd"), backend="cupy")(*args)


def test_torch_style_empty_batch_with_tail(cp):
    aug = AttentionAugment(AugmentConfig(p=1.0), backend="cupy")
    empty = Tail(*(cp.asarray(np.zeros((0,) + s, d)) for s, d in (((), np.int32), ((2,), np.float32),
                                                                    ((2,), np.float32), ((2,), np.float32))))
    out = aug(cp.asarray(np.zeros((0, 8, 4, 3), np.uint8)), cp.asarray(np.zeros((0, 8, 4), np.uint8)),
              cp.asarray(np.zeros(0, np.int64)), cp.asarray(np.zeros(0, np.int64)), tail=empty)
    assert out.images.shape == (0, 3, 8, 4) and out.images.dtype == np.float32


# ---- cost per batch ---------------------------------------------------------------------------

def device_batch(cp, b: int, h: int = 256, w: int = 128):
    """Device inputs of a batch: images, masks, pids, viewpoints, index (made outside any count)."""
    rng = np.random.default_rng(b)
    masks = np.zeros((b, h, w), np.uint8)
    masks[:, h // 8: 7 * h // 8, w // 4: 3 * w // 4] = 1
    return (cp.asarray(rng.integers(0, 256, (b, h, w, 3), dtype=np.uint8)), cp.asarray(masks),
            cp.asarray(np.arange(b) // 4), cp.asarray(np.zeros(b, np.int64)), cp.asarray(np.arange(b)))


def counted_calls(cp, config, b: int, tail: str | None, calls: int = 2, execute: bool = False,
                  with_index: bool = True):
    """Recorders of `calls` consecutive calls of one AttentionAugment (the bank fills on the way)."""
    images, masks, pids, views, index = device_batch(cp, b)
    index = index if with_index else None
    t = None if tail is None else on_device(cp, host_tail(b, 256, 128, seed=0, channels_last=tail == "channels_last"))
    aug = AttentionAugment(config, backend="cupy")
    recorders = []
    for epoch in range(calls):
        with cp.counting(execute=execute) as recorder:
            aug(images, masks, pids, views, epoch=epoch, index=index, tail=t)
        recorders.append(recorder)
    return recorders


@pytest.mark.parametrize("b", [64, 256])
@pytest.mark.parametrize("bank_size", [0, 64])
@pytest.mark.parametrize("roi, inpaint", list(itertools.product(ROI_MODES, CUPY_INPAINTERS)))
@pytest.mark.parametrize("tail", [None, "nchw", "channels_last"])
def test_a_batch_costs_few_device_operations_and_no_sync(emulated, b, bank_size, roi, inpaint, tail):
    config = AugmentConfig(p=0.5, roi=roi, inpaint=inpaint, bank_size=bank_size, seed=0)
    for call, recorder in enumerate(counted_calls(emulated, config, b, tail)):  # call 0: bank empty; 1: full
        listing = f"B={b} bank={bank_size} call {call}: {len(recorder.ops)} ops\n  " + "\n  ".join(recorder.ops)
        assert len(recorder.ops) <= MAX_OPS, listing
        assert recorder.syncs == [], f"host synchronizations: {recorder.syncs}\n{listing}"


def test_the_operations_of_a_batch(emulated):
    """The full list at B = 64 with a full bank, pull-push and the tail (256 x 128 images)."""
    config = AugmentConfig(p=0.5, bank_size=64, seed=0)
    empty, full = counted_calls(emulated, config, 64, "nchw")
    expected = ["kernel roi_rows", "kernel roi_keys", "matmul", "matmul", "kernel choose_donors",
                "kernel dilate_donor_rows", "kernel max_cols", "kernel pull_donor_level0", "kernel pull",
                "kernel pyramid_top", "kernel push", "kernel finish_tail", "kernel bank_push"]
    assert full.ops == expected
    assert empty.ops == expected[:3] + expected[4:]  # no GEMM against an empty bank
    assert full.syncs == empty.syncs == []
    counter = counted_calls(emulated, config, 64, "nchw", with_index=False)  # indices from the call counter
    assert [r.ops for r in counter] == [empty.ops, full.ops] and all(r.syncs == [] for r in counter)


def test_counting_without_running_counts_what_running_does(emulated, make_batch):
    d = make_batch(8, 64, 32, seed=2, ids=8)
    args = [emulated.asarray(d[k]) for k in ("images", "masks", "pids", "viewpoints")]
    index = emulated.asarray(np.arange(8))
    ops = {}
    for execute in (True, False):
        aug = AttentionAugment(AugmentConfig(p=1.0, bank_size=4, **LOOSE), backend="cupy")
        ops[execute] = []
        for epoch in range(2):
            with emulated.counting(execute=execute) as recorder:
                aug(*args, epoch=epoch, index=index)
            ops[execute].append(recorder.ops)
    assert ops[True] == ops[False]


def test_the_counter_sees_array_operations_and_syncs(emulated):
    host = np.arange(6, dtype=np.int64)
    x = emulated.asarray(host)
    with emulated.counting() as recorder:
        y = emulated.asarray(host)  # a host-to-device copy
        z = x + 1
        z.sum()
        x[emulated.asarray(x) > 2]  # a comparison, then boolean indexing
        x.astype(np.int32)
        x[1:4].copy()
        emulated.concatenate([x, z])
        emulated.empty(5)  # free: allocation only
        x.reshape(2, 3).T  # free: views
        int(x[0])
        bool((x > 0).any())
        emulated.asnumpy(y)
        x.get()
    assert recorder.ops == ["add", "sum", "greater", "getitem (fancy)", "astype", "copy", "concatenate", "greater",
                            "any"]
    assert recorder.syncs == ["asarray (host to device copy)", "__int__", "__bool__", "asnumpy", "get"]


def test_the_step_functions_are_counted_too(emulated, make_batch):
    """The public steps one after the other (the unfused way): kernels and array operations."""
    from attention_swap_reid.kernels import (DonorKeys, compatibility, composite, dilate, draw_donors,
                                             inpaint, normalize_masks, roi_masks)

    d = make_batch(8, 64, 32, seed=3, ids=8)
    images, masks, pids, views = (emulated.asarray(d[k]) for k in ("images", "masks", "pids", "viewpoints"))
    index = emulated.asarray(np.arange(8))
    with emulated.counting() as recorder:
        rois = roi_masks(masks)
        keys = DonorKeys(rois.areas, normalize_masks(rois), pids, views)
        draw = draw_donors(compatibility(keys, keys, min_area_ratio=0.5, min_iou=0.3, same_viewpoint=True), index,
                           p=1.0, seed=0, epoch=0)
        take = emulated.maximum(draw.donor, 0)
        holes = dilate(rois.masks[take], 9)
        composite(images, rois.masks, inpaint(images[take], holes))
    assert "matmul" in recorder.ops and "sum" in recorder.ops and "getitem (fancy)" in recorder.ops
    assert len(recorder.launches) >= 10 and len(recorder.ops) >= len(recorder.launches) + 4
    assert recorder.syncs == []


@pytest.mark.parametrize("capacity", [0, 40, None])
def test_pyramid_split_between_launches_and_shared_memory(cp, data, monkeypatch, capacity):
    """The levels pulled and pushed one launch each and the rest in `pyramid_top` (shared
    memory): wherever the split falls (capacity 0: every level its own launch), the same result."""
    from attention_swap_reid.kernels import cupy_ops as ops

    if capacity is not None:
        monkeypatch.setattr(ops, "_PYRAMID_CAPACITY", capacity)
    config = AugmentConfig(p=1.0, dilate=15, bank_size=8, seed=2, **LOOSE)
    host, gpu = AttentionAugment(config, backend="numpy"), AttentionAugment(config, backend="cupy")
    for epoch in range(2):
        args = [data[k] for k in ("images", "masks", "pids", "viewpoints")]
        a = host(*args, epoch=epoch)
        b = gpu(*(cp.asarray(x) for x in args), epoch=epoch)
        assert np.array_equal(cp.asnumpy(b.donor), a.donor)
        assert_same(cp, b.images, a.images, "images")


def test_full_size_images(cp, make_batch):
    """256 x 128, the training size: two launches each for the large pyramid levels."""
    d = make_batch(6, 256, 128, seed=4, ids=6)
    config = AugmentConfig(p=1.0, bank_size=4, seed=1, **LOOSE)
    host, gpu = AttentionAugment(config, backend="numpy"), AttentionAugment(config, backend="cupy")
    for epoch in range(2):
        t = host_tail(6, 256, 128, seed=epoch)
        args = [d[k] for k in ("images", "masks", "pids", "viewpoints")]
        a = host(*args, epoch=epoch, tail=t)
        b = gpu(*(cp.asarray(x) for x in args), epoch=epoch, tail=on_device(cp, t))
        assert a.stats["swapped"] > 0 and b.stats == a.stats
        assert_same(cp, b.images, a.images, "images")


@pytest.mark.gpu
def test_torch_cuda_tensors_with_a_channels_last_tail(data):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs torch with CUDA")
    pytest.importorskip("cupy")
    config = AugmentConfig(p=1.0, seed=6, bank_size=8, **LOOSE)
    t = host_tail(24, 64, 32, seed=1, channels_last=True)
    args = [data[k] for k in ("images", "masks", "pids", "viewpoints")]
    tail = Tail(*(torch.from_numpy(getattr(t, n)).cuda() for n in TAIL_FIELDS), channels_last=True)
    out = AttentionAugment(config)(*(torch.from_numpy(a).cuda() for a in args), index=torch.arange(24).cuda(),
                                   tail=tail)
    ref = AttentionAugment(config, backend="numpy")(*args, index=np.arange(24), tail=t)
    assert out.images.is_cuda and out.images.is_contiguous(memory_format=torch.channels_last)
    assert np.array_equal(out.donor.cpu().numpy(), ref.donor)
    assert np.abs(out.images.cpu().numpy() - ref.images).max() <= 1.0 / (0.224 * 255) + 1e-6


def test_the_bank_refuses_another_image_size(cp, make_batch):
    aug = AttentionAugment(AugmentConfig(p=1.0, bank_size=4), backend="cupy")
    for size, expect_error in (((32, 16), False), ((24, 16), True)):
        d = make_batch(4, *size, seed=1)
        args = [cp.asarray(d[k]) for k in ("images", "masks", "pids", "viewpoints")]
        if expect_error:
            with pytest.raises(ValueError, match="same image size"):
                aug(*args)
        else:
            aug(*args)
