"""dali_pipes.check against files the loader cannot decode or should not: formats DALI does not
read (checked against DALI's own decoder), headers that claim huge images, huge files (never
read whole), pids outside int64, masks that look inverted."""
import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image

from attention_swap_reid.dali_pipes import check as check_module
from attention_swap_reid.dali_pipes.check import (ImageLimits, MaskStats, _check_mask, check_manifest, inspect_manifest,
                                                 main)
from attention_swap_reid.dali_pipes.image_header import DECODER_FORMATS, HeaderError, image_header
from attention_swap_reid.dali_pipes.manifest import WARNING, read_manifest
from tests.dali_pipes.conftest import write_csv, write_pair

FORMATS = {  # file name -> how Pillow writes it
    "a.jpg": {}, "progressive.jpg": {"progressive": True}, "a.png": {}, "a.bmp": {}, "a.tif": {},
    "lzw.tif": {"compression": "tiff_lzw"}, "a.webp": {}, "lossless.webp": {"lossless": True}, "a.ppm": {},
    "a.jp2": {}, "a.gif": {},
}


def dali_decodes(path) -> bool:
    """Whether DALI's image decoder (the loader's, on the CPU) reads the file: the oracle."""
    from nvidia.dali import fn, pipeline_def, types

    data = np.fromfile(path, np.uint8)

    @pipeline_def(batch_size=1, num_threads=1, device_id=None)
    def decode():
        return fn.decoders.image(fn.external_source(source=lambda: [data], batch=True), device="cpu",
                                 output_type=types.RGB)

    pipe = decode()
    pipe.build()
    try:
        pipe.run()
    except RuntimeError:
        return False
    return True


@pytest.fixture(scope="module")
def format_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("formats")
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 24, 3), dtype=np.uint8))
    for name, options in FORMATS.items():
        image.save(folder / name, **options)
    image.convert("L").save(folder / "grey.pgm")
    return folder


@pytest.mark.parametrize("name", [*FORMATS, "grey.pgm"])
def test_the_check_passes_exactly_what_the_loader_decodes(format_files, name, tmp_path):
    path = write_csv(tmp_path / "m.csv", [[str(format_files / name), "", 1, 0, 0, "train"]])
    problems = check_manifest(path, ["train"], masks=False)
    assert (problems == []) == dali_decodes(format_files / name), problems
    if not problems:
        header = image_header(format_files / name)
        assert (header.width, header.height) == (24, 40)


def test_a_gif_is_a_problem_with_its_row(format_files, tmp_path):
    path = write_csv(tmp_path / "m.csv", [[str(format_files / "a.gif"), "", 1, 0, 0, "train"]])
    [problem] = check_manifest(path, ["train"], masks=False)
    assert problem.row == 2 and problem.message == (f"image is a GIF file, a format the loader's decoder (DALI) "
                                                    f"does not read; allowed: {', '.join(DECODER_FORMATS)}")


def with_size(jpeg: bytes, width: int, height: int) -> bytes:
    """The JPEG with its frame header's size replaced (what a hostile or broken file claims)."""
    sof = jpeg.index(b"\xff\xc0")
    return jpeg[:sof + 5] + struct.pack(">HH", height, width) + jpeg[sof + 9:]


def png_header(width: int, height: int) -> bytes:
    """A PNG that starts like one of `width` x `height` grey pixels (its data cut short)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))


def test_huge_headers_are_problems_before_any_decode(tmp_path, monkeypatch):
    image, mask = write_pair(tmp_path, "a")
    jpeg = (tmp_path / image).read_bytes()
    (tmp_path / "huge.jpg").write_bytes(with_size(jpeg, 60000, 60000))
    (tmp_path / "huge.png").write_bytes(png_header(30000, 30000) + b"\0" * 1000)
    path = write_csv(tmp_path / "m.csv", [["huge.jpg", mask, 1, 0, 0, "train"], [image, "huge.png", 1, 1, 0, "train"]])

    huge = {(tmp_path / "huge.jpg").read_bytes(), (tmp_path / "huge.png").read_bytes()}
    real = cv2.imdecode

    def imdecode(data, flags):
        assert data.tobytes() not in huge, "decoded a file over the limit"
        return real(data, flags)

    monkeypatch.setattr(check_module.cv2, "imdecode", imdecode)
    problems = check_manifest(path, ["train"])
    assert [(p.row, p.message) for p in problems] == [
        (2, "image JPEG header says 60000x60000 pixels (WxH), over the limit of 16777216 pixels (raise it with "
            "data.max_image_pixels / --max-image-pixels)"),
        (3, "mask PNG header says 30000x30000 pixels (WxH), over the limit of 16777216 pixels (raise it with "
            "data.max_image_pixels / --max-image-pixels)")]


def test_a_huge_file_is_refused_without_being_read(tmp_path, monkeypatch):
    image, mask = write_pair(tmp_path, "a")
    big = tmp_path / "big.jpg"
    with open(big, "wb") as f:
        f.write((tmp_path / image).read_bytes())
        f.truncate(6 * 2 ** 30)  # 6 GiB, sparse: nothing of it is on the disk
    path = write_csv(tmp_path / "m.csv", [["big.jpg", mask, 1, 0, 0, "train"]])
    monkeypatch.setattr(check_module, "_read_bytes", lambda path: pytest.fail(f"read {path} whole"))
    [problem] = check_manifest(path, ["train"], masks=False)
    assert problem.message == ("image file is 6144.0 MiB, over the limit of 64.0 MiB (raise it with "
                               "data.max_image_bytes / --max-image-bytes)")


def test_the_limits_can_be_raised(tmp_path, capsys):
    image, mask = write_pair(tmp_path, "a", size=(64, 32))
    path = write_csv(tmp_path / "m.csv", [[image, mask, 1, 0, 0, "train"]])
    [problem] = check_manifest(path, ["train"], masks=False, limits=ImageLimits(max_pixels=1000))
    assert "says 32x64 pixels (WxH), over the limit of 1000 pixels" in problem.message
    assert check_manifest(path, ["train"], limits=ImageLimits(max_pixels=2048)) == []
    assert main([str(path), "--splits", "train", "--max-image-pixels", "1000"]) == 1
    assert main([str(path), "--splits", "train", "--max-image-pixels", "2048"]) == 0
    with pytest.raises(ValueError, match="must be >= 1"):
        ImageLimits(max_bytes=0)


def test_the_byte_limit_can_be_lowered_and_raised(tmp_path, capsys):
    image, mask = write_pair(tmp_path, "a", size=(64, 32))
    path = write_csv(tmp_path / "m.csv", [[image, mask, 1, 0, 0, "train"]])
    size = (tmp_path / image).stat().st_size
    [problem] = check_manifest(path, ["train"], masks=False, limits=ImageLimits(max_bytes=size - 1))
    assert problem.message == (f"image file is {size} bytes, over the limit of {size - 1} bytes "
                               "(raise it with data.max_image_bytes / --max-image-bytes)")
    assert check_manifest(path, ["train"], masks=False, limits=ImageLimits(max_bytes=size)) == []
    assert main([str(path), "--splits", "train", "--max-image-bytes", str(size - 1)]) == 1
    assert main([str(path), "--splits", "train", "--max-image-bytes", str(size)]) == 0


@pytest.mark.parametrize("data,why", [
    (b"\xff\xd8\xff\xe0\x00\x10JFIF", "JPEG header is cut short"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "PNG header is cut short or has no IHDR chunk first"),
    (b"GIF89a\x18\x00(\x00", "is a GIF file, a format the loader's decoder"),
    (b"hello world, not an image", "is in no image format the loader's decoder"),
])
def test_damaged_headers_are_one_clear_reason(tmp_path, data, why):
    (tmp_path / "x").write_bytes(data)
    with pytest.raises(HeaderError, match=why):
        image_header(tmp_path / "x")


def test_a_pid_outside_int64_is_a_problem_with_its_row(tmp_path):
    image, mask = write_pair(tmp_path, "a")
    path = write_csv(tmp_path / "m.csv", [[image, mask, 10 ** 20, 0, 0, "train"], [image, mask, 1, -2 ** 64, 0, "train"]])
    assert [(p.row, p.message) for p in check_manifest(path, ["train"])] == [
        (2, "column 'pid' is 100000000000000000000, outside the 64-bit integer range the loader and the trainer hold "
            "it in (-9223372036854775808 .. 9223372036854775807)"),
        (3, f"column 'camid' is {-2 ** 64}, outside the 64-bit integer range the loader and the trainer hold it in "
            f"(-9223372036854775808 .. 9223372036854775807)")]


def test_masks_that_look_inverted_are_a_warning(tmp_path, capsys):
    rows = []
    for i in range(4):
        image, mask = write_pair(tmp_path, f"{i}", seed=i)
        person = np.zeros((32, 16), np.uint8)
        person[12:20, 6:10] = 255  # 6% of the image
        cv2.imwrite(str(tmp_path / mask), 255 - person if i else person)  # three of four saved inverted
        rows.append([image, mask, i // 2, i % 2, 0, "train"])
    path = write_csv(tmp_path / "m.csv", rows)
    assert check_manifest(path, ["train"]) == []  # no problem: a warning
    [warning] = inspect_manifest(path, ["train"])[1]
    assert warning.kind == WARNING and warning.message.startswith(
        "3 of 4 training masks mark more than 90% of the image as person (first: row 3): are they inverted?")
    assert main([str(path), "--splits", "train"]) == 0
    captured = capsys.readouterr()
    assert captured.err.count("warning: ") == 1 and "are they inverted?" in captured.err
    assert captured.out.startswith("OK ")


def test_mask_stats_hand_computed(tmp_path):
    image, mask = write_pair(tmp_path, "a", size=(2, 2))
    cv2.imwrite(str(tmp_path / mask), np.array([[0, 0], [64, 200]], np.uint8))
    path = write_csv(tmp_path / "m.csv", [[image, mask, 1, 0, 0, "train"]])
    [sample] = read_manifest(path)
    assert _check_mask(str(path), sample, np.zeros((2, 2, 3), np.uint8), ImageLimits())[1] == MaskStats(0.5, 0.5)


@pytest.mark.parametrize("kind", ["probabilities", "binary resized"])
def test_soft_masks_are_a_warning_and_resized_binary_ones_are_not(tmp_path, capsys, kind):
    rows = []
    for i in range(4):
        image, mask = write_pair(tmp_path, f"{i}", seed=i)
        person = np.zeros((64, 32), np.float32)
        person[9:58, 7:24] = 1
        if kind == "probabilities" and i:  # three of four: a segmenter's probabilities, never quite 0
            person = cv2.GaussianBlur(person, (0, 0), 3) * 0.98 + 0.01
        # made at twice the size and resized with interpolation: grey (64, 128) on the border only
        cv2.imwrite(str(tmp_path / mask), cv2.resize(np.round(person * 255).astype(np.uint8), (16, 32),
                                                     interpolation=cv2.INTER_AREA))
        rows.append([image, mask, i // 2, i % 2, 0, "train"])
    path = write_csv(tmp_path / "m.csv", rows)
    warnings = inspect_manifest(path, ["train"])[1]
    if kind == "binary resized":
        assert warnings == []
        return
    [warning] = warnings
    assert warning.kind == WARNING and warning.message.startswith(
        "3 of 4 training masks have more than 40% of their person pixels faint (1-127 of 255; first: row 3): "
        "are they soft (probabilities, or blurred)? every non-zero pixel counts as person")
    assert main([str(path), "--splits", "train"]) == 0 and "are they soft" in capsys.readouterr().err
