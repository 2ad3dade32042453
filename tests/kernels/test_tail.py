"""The BoT tail (kernels/tail.py): flip, pad + crop, normalization, erasing.

The numpy backend against NumPy written out by hand (np.flip, np.pad, slicing, and the
hand-made cases below); the cupy backend (GPU or its CPU emulation) bit-exact against the numpy
backend. The loader's tests compare it with DALI's own flip, crop, normalize and erase.
"""
import dataclasses

import numpy as np
import pytest

from attention_swap_reid.kernels import IMAGENET_MEAN, IMAGENET_STD, Tail, bot_tail

PAD = 10


def random_tail(rng, b, h, w, channels_last=False, **kw) -> Tail:
    flip = rng.integers(0, 2, b).astype(np.int32)
    crop = np.stack([rng.integers(-PAD, PAD + 1, b), rng.integers(-PAD, PAD + 1, b)], axis=1).astype(np.float32)
    erase_anchor = np.stack([rng.integers(0, h, b), rng.integers(0, w, b)], axis=1).astype(np.float32)
    erase_shape = np.stack([rng.integers(1, h // 2, b), rng.integers(1, w // 2, b)], axis=1).astype(np.float32)
    erase_shape[::3] = 0  # no erasing for every third sample
    return Tail(flip, crop, erase_anchor, erase_shape, channels_last=channels_last, **kw)


def oracle(images, tail):
    """Per sample: np.flip, np.pad by PAD, slice the window, (x - mean) / std, fill the rectangle."""
    b, h, w, _ = images.shape
    mean = np.asarray(tail.mean, np.float32)
    std = np.asarray(tail.std, np.float32)
    out = np.empty((b, 3, h, w), np.float32)
    for i in range(b):
        sample = np.flip(images[i], axis=1) if tail.flip[i] else images[i]
        padded = np.pad(sample, ((PAD, PAD), (PAD, PAD), (0, 0)))
        y, x = (int(v) for v in tail.crop_anchor[i])
        window = padded[y + PAD: y + PAD + h, x + PAD: x + PAD + w]
        out[i] = ((window.astype(np.float32) - mean) / std).transpose(2, 0, 1)
        (ey, ex), (eh, ew) = tail.erase_anchor[i].astype(int), tail.erase_shape[i].astype(int)
        out[i, :, ey: ey + eh, ex: ex + ew] = np.asarray(tail.fill, np.float32)[:, None, None]
    return out


@pytest.fixture
def images():
    return np.random.default_rng(3).integers(0, 256, (9, 24, 12, 3), dtype=np.uint8)


@pytest.mark.parametrize("channels_last", [False, True])
def test_numpy_tail_matches_the_oracle(images, channels_last):
    tail = random_tail(np.random.default_rng(4), 9, 24, 12, channels_last=channels_last)
    got = bot_tail(images, tail)
    assert got.shape == (9, 3, 24, 12) and got.dtype == np.float32
    if channels_last:
        assert got.strides == (24 * 12 * 3 * 4, 4, 12 * 3 * 4, 3 * 4)  # NHWC memory
    else:
        assert got.flags.c_contiguous
    assert np.array_equal(got, oracle(images, tail))


def test_defaults_and_a_hand_made_case():
    tail = Tail(np.zeros(1, np.int32), np.zeros((1, 2), np.float32), np.zeros((1, 2), np.float32),
                np.zeros((1, 2), np.float32))
    assert tail.mean == IMAGENET_MEAN and tail.std == IMAGENET_STD and not tail.channels_last
    image = np.arange(1, 7, dtype=np.uint8).reshape(1, 2, 3, 1).repeat(3, axis=3)  # rows [1 2 3] [4 5 6]
    plain = dict(mean=(0, 0, 0), std=(1, 1, 1))
    flipped = Tail(np.ones(1, np.int32), np.array([[-1.0, 1.0]], np.float32), np.zeros((1, 2), np.float32),
                   np.zeros((1, 2), np.float32), **plain)
    assert bot_tail(image, flipped)[0, 0].tolist() == [[0, 0, 0], [2, 1, 0]]
    erased = Tail(np.zeros(1, np.int32), np.zeros((1, 2), np.float32), np.array([[1.0, 1.0]], np.float32),
                  np.array([[5.0, 1.0]], np.float32), **plain)
    assert bot_tail(image, erased)[0, 2].tolist() == [[1, 2, 3], [4, 0, 6]]
    filled = dataclasses.replace(erased, fill=(9.0, 8.0, 7.5))
    assert [bot_tail(image, filled)[0, c, 1, 1] for c in range(3)] == [9.0, 8.0, 7.5]


def test_bad_tails(images):
    good = random_tail(np.random.default_rng(6), 9, 24, 12)
    with pytest.raises(ValueError, match=r"Tail.flip must have shape \(9,\)"):
        bot_tail(images, Tail(good.flip[:4], good.crop_anchor, good.erase_anchor, good.erase_shape))
    with pytest.raises(ValueError, match="Tail.mean"):
        Tail(good.flip, good.crop_anchor, good.erase_anchor, good.erase_shape, mean=(1, 2))
    with pytest.raises(ValueError, match="images must be"):
        bot_tail(images.astype(np.float32), good)


@pytest.mark.parametrize("channels_last", [False, True])
def test_cupy_tail_equals_numpy(cp, images, channels_last):
    tail = random_tail(np.random.default_rng(7), 9, 24, 12, channels_last=channels_last, mean=(1.5, 100, 200),
                       std=(3.0, 0.5, 70), fill=(7.0, -1.5, 0.25))
    device = dataclasses.replace(tail, **{n: cp.asarray(getattr(tail, n))
                                          for n in ("flip", "crop_anchor", "erase_anchor", "erase_shape")})
    got = bot_tail(cp.asarray(images), device)
    assert type(got).__module__.split(".")[0] == "cupy" and got.shape == (9, 3, 24, 12)
    assert got.strides == bot_tail(images, tail).strides
    assert np.array_equal(cp.asnumpy(got), bot_tail(images, tail))


REDUCED = {"float16": "float16", "bfloat16": "bfloat16"}


def scales_of_every_kind() -> list[tuple]:
    """(mean, std) pairs whose (grey - mean) / std cover what a conversion to float16 / bfloat16
    must get right: ordinary values of both signs, values rounding up and down, ties, float16
    subnormals and underflow to zero, overflow to infinity."""
    rng = np.random.default_rng(11)
    pairs = [((0.0, 0.3, -7.7), (1.0, 1.7, -0.6)), ((0.0, 0.0, 0.0), (1e-3, 2.5e6, 1e7)),
             ((128.0, 0.0, 255.0), (3e9, 8.0, 1.0 / 3.0)), ((0.0, 0.0, 0.0), (1024.0, 2048.0, 4096.0)),
             ((-2.0, -4.0, -1800.0), (1.0, 1.0, 1.0))]  # 257, 259, ... and 2049, 2051, ...: ties of both types
    pairs += [(tuple(rng.uniform(-300, 300, 3)), tuple(rng.uniform(-3, 3, 3) * 10.0 ** rng.integers(-5, 8, 3)))
              for _ in range(6)]
    return pairs


@pytest.mark.parametrize("dtype", list(REDUCED))
def test_reduced_types_round_as_torch_does(cp, dtype):
    """Both backends write float16 / bfloat16 in the tail itself; torch's own conversion of the
    float32 result is the oracle, bit for bit (NaN, infinity and -0 in the erased pixels)."""
    torch = pytest.importorskip("torch")
    images = np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1).repeat(3, axis=3)  # every grey level
    zeros = np.zeros((1, 2), np.float32)
    erase = np.array([[15.0, 8.0]], np.float32), np.array([[1.0, 8.0]], np.float32)  # the last row's right half
    for mean, std in scales_of_every_kind():
        tail = Tail(np.zeros(1, np.int32), zeros, *erase, mean=mean, std=std, fill=(float("nan"), float("inf"), -0.0),
                    dtype=dtype)
        reference = bot_tail(images, dataclasses.replace(tail, dtype="float32"))
        expected = torch.from_numpy(reference).to(getattr(torch, dtype)).view(torch.int16).numpy()
        for backend, got in (("numpy", bot_tail(images, tail)),
                             ("cupy", cp.asnumpy(bot_tail(cp.asarray(images), dataclasses.replace(tail, **{
                                 n: cp.asarray(getattr(tail, n)) for n in ("flip", "crop_anchor", "erase_anchor",
                                                                           "erase_shape")}))))):
            assert got.dtype == (np.float16 if dtype == "float16" else np.uint16), backend
            bits = got.view(np.int16)
            nan = np.isnan(reference)  # NaN is NaN: its bits differ between torch's own CPU and CUDA conversions
            assert nan.any() and np.isnan(decoded(bits, dtype)[nan]).all()
            assert np.array_equal(bits[~nan], expected[~nan]), (backend, mean, std,
                                                                 np.argwhere((bits != expected) & ~nan)[:3].tolist())


def decoded(bits: np.ndarray, dtype: str) -> np.ndarray:
    """float32 values of int16 float16 or bfloat16 bit patterns."""
    if dtype == "float16":
        return bits.view(np.float16).astype(np.float32)
    return (bits.view(np.uint16).astype(np.uint32) << 16).view(np.float32)


def test_bfloat16_tensors_come_back_as_torch_bfloat16():
    torch = pytest.importorskip("torch")
    images = np.random.default_rng(1).integers(0, 256, (2, 8, 4, 3), dtype=np.uint8)
    tail = Tail(*(torch.zeros(s, dtype=d) for s, d in (((2,), torch.int32), ((2, 2), torch.float32),
                                                        ((2, 2), torch.float32), ((2, 2), torch.float32))),
                dtype="bfloat16", channels_last=True)
    out = bot_tail(torch.from_numpy(images), tail)
    assert out.dtype == torch.bfloat16 and out.is_contiguous(memory_format=torch.channels_last)
    expected = bot_tail(images, dataclasses.replace(tail.without_tensors(), dtype="float32"))
    assert torch.equal(out, torch.from_numpy(expected).to(torch.bfloat16))


def test_an_unknown_dtype_is_refused():
    with pytest.raises(ValueError, match=r"Tail.dtype='float64': expected one of \['float32', 'float16', 'bfloat16'\]"):
        Tail(np.zeros(1, np.int32), *(np.zeros((1, 2), np.float32),) * 3, dtype="float64")
