"""Validate a manifest before a long run: `python -m attention_swap_reid.dali_pipes.check MANIFEST`.

Checks every row: the files exist, can be read, are in a format the loader's decoder (DALI)
reads (`image_header.DECODER_FORMATS`: a GIF, which OpenCV would read, is a problem), are no
larger than the limits (`ImageLimits`: pixels and bytes, from the file's size and header,
before anything is decoded or read whole) and decode completely (also a JPEG whose image data
ends early, which the decoder only warns about and fills with grey), a mask has its image's
size, is lossless (PNG, not JPEG) and, on train rows, exists and is not empty (a mask that
holds a person the loader cannot see, 16-bit values below 256 or a person only in the alpha
channel, says so), pid/camid/viewpoint are 64-bit integers (what the loader and the trainer
hold them in), negative pids (junk and distractor codes) are on gallery rows only, the split
is known, and every query pid has a gallery match from another camera. Across rows: no image is listed twice, no image is in two splits (the
same path, or a byte-identical copy), and no query/gallery identity is also a training
identity (gallery pids <= 0 are the datasets' distractor and junk codes, no identity;
`--separate-test-ids` for datasets whose test pids are a numbering of their own, as MSMT17's).
Reports *every* problem with its row number and path, exits 1 if there is any, 0 with a
one-line summary otherwise, and 2 with one line when the manifest itself cannot be read
(missing, no permission, not UTF-8 text). Never modifies anything. Training masks that mark
nearly the whole image as person on most rows (inverted masks: person 0, background 255), or
whose person pixels are mostly faint (soft masks: probabilities, or blurred by a resize; every
non-zero pixel counts as person), are a warning (stderr; exit status unchanged).

Training rows without a person mask (no mask, or an empty one: where a person detector found
nobody) are problems by default; `--unmasked keep|drop` checks for a loader that keeps them
without the augmentation or drops them (`ReIDLoader(unmasked=...)`, `data.unmasked`), and only
counts them.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import os
import sys
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Iterable, NamedTuple

import cv2
import numpy as np
from PIL import Image

from attention_swap_reid.dali_pipes.image_header import HeaderError, image_header
from attention_swap_reid.dali_pipes.manifest import (UNMASKED, UNMASKED_ACTIONS, UNMATCHED, UNREADABLE, WARNING,
                                                     Problem, Sample, parse_manifest, summarize)

_JPEG_SOI, _JPEG_EOI = b"\xff\xd8", b"\xff\xd9"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # start-of-frame markers (not DHT, JPG, DAC)
_JPEG_PROGRESSIVE_SOF = frozenset({0xC2, 0xC6, 0xCA, 0xCE})
INVERTED_COVER = 0.9
"""A training mask whose person covers more than this share of the image looks inverted; more
than half of the masks like that is a warning."""
SOFT_FAINT = 0.4
"""A training mask whose person pixels are more than this share faint (1..127 of 255) looks soft
(a probability map, or a heavily blurred mask; a binary mask resized with interpolation has grey
only on its border, a few percent of its person at real sizes); more than half of the masks like
that is a warning."""


class MaskStats(NamedTuple):
    """Of one decoded mask: the share of its pixels that are person (non-zero), and the share of
    those that are faint (1..127)."""
    person: float
    faint: float
_PROBE = np.random.default_rng(0).integers(1, 0xFF, 512, dtype=np.uint8).tobytes()
"""Bytes without 0xFF, so no marker, spliced before a JPEG's end marker: a JPEG whose image
data is complete ignores them; one whose data ends early decodes them where it would have
filled in grey (see `_jpeg_ends_early`)."""


@dataclass(frozen=True)
class ImageLimits:
    """The largest image or mask file the check lets through: `max_pixels` (width x height, as
    the header says; the default is 4096 x 4096) and `max_bytes` (the file's size; 64 MiB).
    Person crops are far smaller; a larger file is a mistake or a decompression bomb (a 1 MB
    PNG of 30000 x 30000 pixels decodes to 2.7 GB). Raise them with the trainer's
    `data.max_image_pixels` / `data.max_image_bytes`, or the check's `--max-image-pixels` /
    `--max-image-bytes`."""

    max_pixels: int = 4096 * 4096
    max_bytes: int = 64 * 2 ** 20

    def __post_init__(self):
        if self.max_pixels < 1 or self.max_bytes < 1:
            raise ValueError(f"image limits must be >= 1, got {self.max_pixels} pixels, {self.max_bytes} bytes")


def _file_size(n: int) -> str:
    """`n` bytes for a message: in MiB from 1 MiB up, else in bytes."""
    return f"{n / 2 ** 20:.1f} MiB" if n >= 2 ** 20 else f"{n} bytes"


def _size_problem(path: str, limits: ImageLimits) -> str:
    """Why the file at `path` is not read (missing, not a decoder format, over a limit: from its
    size and header only), "" when it may be."""
    if not os.path.isfile(path):
        return "file not found"
    try:
        size = os.path.getsize(path)
        if size == 0:
            return "file is empty"
        if size > limits.max_bytes:
            return (f"file is {_file_size(size)}, over the limit of {_file_size(limits.max_bytes)} "
                    f"(raise it with data.max_image_bytes / --max-image-bytes)")
        header = image_header(path)
    except HeaderError as e:
        return str(e)
    except OSError as e:
        return f"cannot be read ({e.strerror or e})"
    if header.pixels > limits.max_pixels:
        return (f"{header.format} header says {header.width}x{header.height} pixels (WxH), over the limit of "
                f"{limits.max_pixels} pixels (raise it with data.max_image_pixels / --max-image-pixels)")
    return ""


def _read_bytes(path: str) -> tuple[bytes, str]:
    """The file's bytes, or (b"", why) when it cannot be read or is empty."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        return b"", f"cannot be read ({e.strerror or e})"
    return data, "" if data else "file is empty"


def _structure_fault(data: bytes, lossless: bool) -> str:
    """What the encoded bytes show before decoding: a JPEG where a lossless file is needed, a
    JPEG without its end marker, a PNG without its IEND chunk; "" when none."""
    if lossless and data[:2] == _JPEG_SOI:
        return ("is a JPEG: lossy compression leaves faint non-zero pixels that would count as "
                "person; save masks as PNG")
    if data[:2] == _JPEG_SOI and not data.rstrip(b"\x00\r\n ").endswith(_JPEG_EOI):
        return "JPEG is truncated (no end-of-image marker)"
    if data[:8] == _PNG_SIGNATURE and b"IEND" not in data[-16:]:
        return "PNG is truncated (no IEND chunk)"
    return ""


def _decode(data: bytes, flags: int) -> np.ndarray | None:
    """The image in `data` decoded by OpenCV with `flags`, or None."""
    try:
        array = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    except cv2.error:  # e.g. more pixels than OpenCV allows
        return None
    return None if array is None or array.size == 0 else array


def _decode_jpeg(data: bytes) -> np.ndarray | None:
    """The JPEG in `data` decoded by Pillow, or None. Pillow decodes with libjpeg-turbo as
    OpenCV does, but keeps libjpeg's warnings off stderr, where OpenCV would print one line
    for every probed file (see `_jpeg_ends_early`)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            array = np.asarray(image)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None
    return array if array.size else None


def _entropy_end(data: bytes, pos: int) -> int:
    """Offset of the first marker at or after `pos` in a JPEG's entropy-coded data (stuffed
    0xFF00 bytes and restart markers belong to the data)."""
    while True:
        pos = data.find(b"\xff", pos)
        if pos < 0 or pos + 1 >= len(data):
            return len(data)
        following = data[pos + 1]
        if following == 0xFF:  # fill byte before a marker
            pos += 1
        elif following == 0 or 0xD0 <= following <= 0xD7:
            pos += 2
        else:
            return pos


def _segments(data: bytes):
    """(marker, segment bytes) of a JPEG's marker segments up to its end marker, skipping the
    entropy-coded data after each start of scan; stops early where the structure is broken."""
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xD9:
            return
        segment = data[pos + 4: pos + 2 + int.from_bytes(data[pos + 2: pos + 4], "big")]
        yield marker, segment
        pos += 2 + len(segment) + 2
        if marker == 0xDA:
            pos = _entropy_end(data, pos)


def _progressive(data: bytes) -> bool:
    """Whether a JPEG's frame is progressive (its first start-of-frame marker says so)."""
    return next((marker in _JPEG_PROGRESSIVE_SOF for marker, _ in _segments(data) if marker in _JPEG_SOF), False)


def _progressive_scans_incomplete(data: bytes) -> bool:
    """Whether a progressive JPEG's scans end before every coefficient of every component is
    final (successive approximation down to bit 0): what is left of a file cut between scans,
    which decodes blurred without any warning."""
    components, final = [], defaultdict(set)
    for marker, segment in _segments(data):
        if marker in _JPEG_SOF and len(segment) > 5:
            components = list(segment[6:6 + 3 * segment[5]:3])
        elif marker == 0xDA and segment:
            count = segment[0]
            start, stop, approximation = segment[1 + 2 * count: 4 + 2 * count].ljust(3, b"\xff")
            if approximation & 0x0F == 0:
                for component in segment[1:1 + 2 * count:2]:
                    final[component].update(range(start, stop + 1))
    return any(len(final[c]) < 64 for c in components)


def _jpeg_ends_early(data: bytes, luma: np.ndarray) -> str:
    """Why a JPEG that decoded (`luma`: its luma plane) is incomplete, "" when it is complete.

    A file cut short with an end marker appended decodes without an error: libjpeg warns and
    decodes the missing blocks as flat grey (luma 128), or, cut between the scans of a
    progressive JPEG, gives a blurred image. The first is found by decoding again with
    `_PROBE` spliced before the end marker, once before and once after the next restart
    marker (complete image data ignores them, data that ends early decodes them: the images
    differ); this runs for every progressive JPEG, and for a baseline one when its last block
    (holding the bottom-right pixel) has luma 128. The second is found from the scan headers.
    A baseline JPEG that lost only the colour of its last MCU (the bottom-right 16x16 pixels
    at most) keeps that luma and passes.
    """
    progressive = _progressive(data)
    if progressive and _progressive_scans_incomplete(data):
        return "JPEG is truncated: its progressive scans stop before the image is complete"
    if not progressive and luma[-1, -1] != 128:
        return ""
    body = data.rstrip(b"\x00\r\n ")[:-len(_JPEG_EOI)].rstrip(b"\xff")  # a lone 0xFF would start a marker
    restart = max(range(8), key=lambda n: body.rfind(bytes((0xFF, 0xD0 + n))))
    next_restart = bytes((0xFF, 0xD0 + (restart + 1) % 8))  # data cut at a restart boundary resumes after it
    whole, probed = _decode_jpeg(data), _decode_jpeg(body + _PROBE + next_restart + _PROBE + _JPEG_EOI)
    if whole is None or probed is None or not np.array_equal(whole, probed):
        return "JPEG is truncated: its image data ends early (decoders fill the rest with grey)"
    return ""


def _read_image(path: str, flags: int, lossless: bool = False,
                limits: ImageLimits = ImageLimits()) -> tuple[np.ndarray | None, bytes, str]:
    """Read and decode `path` fully: (array, bytes, "") or (None, bytes read, reason).
    `lossless`: refuse JPEG. `flags`: OpenCV's decoding flags, for what is not a JPEG (a JPEG
    gives its luma plane, which `_jpeg_ends_early` needs). Nothing is read beyond the header
    of a file the loader cannot decode or that is over the `limits`."""
    why = _size_problem(path, limits)
    if why:
        return None, b"", why
    data, why = _read_bytes(path)
    if not data:
        return None, b"", why
    why = _structure_fault(data, lossless)
    if why:
        return None, data, why
    jpeg = data[:2] == _JPEG_SOI
    array = _decode(data, cv2.IMREAD_GRAYSCALE if jpeg else flags)
    if array is None:
        return None, data, "cannot be decoded as an image"
    why = _jpeg_ends_early(data, array) if jpeg else ""
    return (None, data, why) if why else (array, data, "")


def _unseen_person(data: bytes) -> str:
    """Why a mask that is empty as the loader reads it (8-bit grey, alpha dropped) still holds
    a person: 16-bit values below 256, or a person only in the alpha channel; "" when it is
    really empty."""
    raw = _decode(data, cv2.IMREAD_UNCHANGED)
    if raw is None:
        return ""
    with_alpha = raw.ndim == 3 and raw.shape[2] == 4
    grey = raw[..., :3] if with_alpha else raw
    if raw.dtype == np.uint16 and grey.any():
        return (f"it is a 16-bit PNG with max value {int(grey.max())}, which is 0 in 8 bits; save masks as "
                f"8-bit PNGs (0 background, 255 person)")
    if with_alpha and raw[..., 3].any() and not grey.any():
        return ("the person is only in the alpha channel, which is not read; save the person as non-zero "
                "grey values (0 background, 255 person)")
    return ""


def _check_mask(manifest: str, s: Sample, image: np.ndarray | None,
                limits: ImageLimits) -> tuple[list[Problem], MaskStats | None]:
    """The problems of a row's mask (`image`: the row's decoded image, None when it failed),
    and its `MaskStats` (None without a decoded mask)."""
    if not s.mask:
        if s.split == "train":
            return [Problem(manifest, s.row, "train row has no mask (the augmentation needs one)", kind=UNMASKED)], None
        return [], None
    mask, data, why = _read_image(s.mask, cv2.IMREAD_GRAYSCALE, lossless=True, limits=limits)
    if mask is None:
        return [Problem(manifest, s.row, f"mask {why}", s.mask)], None
    problems = []
    if image is not None and mask.shape[:2] != image.shape[:2]:
        problems.append(Problem(manifest, s.row, f"mask size {mask.shape[1]}x{mask.shape[0]} differs from "
                                                 f"image size {image.shape[1]}x{image.shape[0]} (WxH)", s.mask))
    if not mask.any() and s.split == "train":  # test rows need no mask, so an empty one is harmless
        unseen = _unseen_person(data)
        problems.append(Problem(manifest, s.row, f"mask is empty as an 8-bit grey image, as the loader reads it: "
                                                 f"{unseen}", s.mask) if unseen else
                        Problem(manifest, s.row, "mask is empty (no person pixel)", s.mask, kind=UNMASKED))
    person = np.count_nonzero(mask)
    faint = np.count_nonzero(mask < 128) - (mask.size - person)  # values 1..127
    return problems, MaskStats(person / mask.size, faint / person if person else 0.0)


def _check_files(manifest: str, s: Sample, masks: bool,
                 limits: ImageLimits) -> tuple[list[Problem], bytes, MaskStats | None]:
    """The problems of one row's files, a digest of its image's bytes (b"" when unread) and
    its mask's `MaskStats` (None without a mask)."""
    image, data, why = _read_image(s.image, cv2.IMREAD_UNCHANGED, limits=limits)
    problems = [] if image is not None else [Problem(manifest, s.row, f"image {why}", s.image)]
    stats = None
    if masks:
        found, stats = _check_mask(manifest, s, image, limits)
        problems += found
    return problems, hashlib.blake2b(data, digest_size=16).digest() if data else b"", stats


def check_mask_values(manifest: str, stats: dict[int, MaskStats]) -> list[Problem]:
    """Warnings about the training masks' values (`stats`: row -> its `MaskStats`), each when
    more than half of the masks show it: person pixels that are mostly faint (soft masks, of
    which every non-zero pixel counts as person), or, in masks that are not soft, nearly the whole
    image marked as person (masks saved inverted)."""
    warnings = []
    inverted = sorted(row for row, st in stats.items() if st.person > INVERTED_COVER and st.faint <= SOFT_FAINT)
    if 2 * len(inverted) > len(stats):
        warnings.append(Problem(manifest, 0, f"{len(inverted)} of {len(stats)} training masks mark more than "
                                             f"{INVERTED_COVER:.0%} of the image as person (first: row {inverted[0]}): "
                                             f"are they inverted? masks are 0 for the background and non-zero for "
                                             f"the person", kind=WARNING))
    soft = sorted(row for row, st in stats.items() if st.faint > SOFT_FAINT)
    if 2 * len(soft) > len(stats):
        warnings.append(Problem(manifest, 0, f"{len(soft)} of {len(stats)} training masks have more than "
                                             f"{SOFT_FAINT:.0%} of their person pixels faint (1-127 of 255; first: "
                                             f"row {soft[0]}): are they soft (probabilities, or blurred)? "
                                             f"every non-zero pixel counts as person; save masks binary, e.g. 255 "
                                             f"where the person's probability is at least 0.5", kind=WARNING))
    return warnings


def check_pids(manifest: str, samples: list[Sample]) -> list[Problem]:
    """A problem for every negative pid outside the gallery: negative pids are the datasets'
    codes for junk and distractor images, which only a gallery holds."""
    return [Problem(manifest, s.row, f"pid {s.pid} on a {s.split} row: negative pids mark junk and distractor "
                                     f"images (Market-1501 -1, RAP -1 and -2), which only the gallery may hold",
                    s.image)
            for s in samples if s.pid < 0 and s.split != "gallery"]


def _repeat(manifest: str, s: Sample, seen: dict[str, Sample], copy: bool) -> Problem | None:
    """The problem of row `s` whose image (its path, or with `copy` its bytes) the rows in
    `seen` (split -> first row) already use, if any."""
    others = [o for split, o in seen.items() if split != s.split]
    if others:
        o = min(others, key=lambda o: o.row)
        what = (f"a byte-identical copy of the image of row {o.row} ({o.split}, {o.image})" if copy
                else f"also the image of row {o.row} ({o.split})")
        return Problem(manifest, s.row, f"{s.split} image is {what}: an image in two splits inflates every metric",
                       s.image)
    if not copy and s.split in seen:
        return Problem(manifest, s.row, f"duplicate row: its image is already listed on row {seen[s.split].row} "
                                        f"({s.split})", s.image)
    return None


def check_repeated_images(manifest: str, samples: list[Sample], digests: dict[int, bytes]) -> list[Problem]:
    """A problem for every row whose image an earlier row already uses: in the same split a
    duplicate row; in another split (the same path, or a byte-identical copy) a leak that
    inflates every metric. `digests`: row -> digest of the image's bytes (a row without one
    is compared by path only)."""
    first: dict[tuple, dict[str, Sample]] = defaultdict(dict)
    problems = []
    for s in samples:
        keys = [(s.image, False)] + ([(digests[s.row], True)] if digests.get(s.row) else [])
        found = [p for p in (_repeat(manifest, s, first[key], copy) for key, copy in keys) if p]
        problems += found[:1]
        for key, _ in keys:
            first[key].setdefault(s.split, s)
    return problems


def check_shared_ids(manifest: str, samples: list[Sample]) -> list[Problem]:
    """A problem for every query/gallery pid that is also a training identity, at its first
    test row: a test identity seen in training inflates every metric. Gallery pids <= 0 are
    the datasets' distractor and junk codes (Market-1501 0 and -1, RAP -1 and -2), no identity."""
    train_rows: dict[int, int] = {}
    for s in samples:
        if s.split == "train":
            train_rows.setdefault(s.pid, s.row)
    problems, reported = [], set()
    for s in samples:
        if (s.split == "train" or s.pid in reported or s.pid not in train_rows
                or (s.split == "gallery" and s.pid <= 0)):
            continue
        reported.add(s.pid)
        problems.append(Problem(manifest, s.row, f"{s.split} pid {s.pid} is also a training identity (train row "
                                                 f"{train_rows[s.pid]}): a test identity seen in training inflates "
                                                 f"every metric (test pids numbered on their own, as MSMT17's: "
                                                 f"--separate-test-ids)", s.image))
    return problems


def check_query_matches(manifest: str, samples: list[Sample]) -> list[Problem]:
    """A problem for every query row without a gallery image of its pid from another camera
    (the evaluation protocol skips such queries)."""
    gallery_cams = defaultdict(set)
    for s in samples:
        if s.split == "gallery":
            gallery_cams[s.pid].add(s.camid)
    return [Problem(manifest, s.row, f"query pid {s.pid} (camera {s.camid}) has no gallery image of the "
                                     f"same pid from another camera", s.image, kind=UNMATCHED)
            for s in samples
            if s.split == "query" and not (gallery_cams.get(s.pid, set()) - {s.camid})]


def check_manifest(path: str | os.PathLike, splits: Iterable[str] | None = None, *,
                   check_files: bool = True, masks: bool = True, num_threads: int | None = None,
                   progress: bool = False, separate_test_ids: bool = False,
                   limits: ImageLimits = ImageLimits()) -> list[Problem]:
    """Return every problem of the manifest at `path` (an empty list: it is fine).

    `splits` restricts the checks to those splits (e.g. ``("train",)`` for a training
    loader); the checks across splits run on the splits checked (the query/gallery match check
    when both query and gallery are). `masks=False` checks the images only (for a loader that
    reads no mask). `separate_test_ids`: query/gallery pids are a numbering of their own that
    may repeat training pids for other people (MSMT17), so a shared pid is no leak. Image and
    mask files over `limits` are problems, found before they are read. Training rows without a
    person mask are problems of kind `UNMASKED`, query rows without a gallery match of kind
    `UNMATCHED`; a manifest that cannot be read gives one problem of kind `UNREADABLE`. Each
    file is read once: its bytes are decoded and hashed (to find copies across splits).
    Warnings (kind `WARNING`: training masks that look inverted or soft) are no problems and are left
    out here; `inspect_manifest` returns them too.
    """
    problems = inspect_manifest(path, splits, check_files=check_files, masks=masks, num_threads=num_threads,
                                progress=progress, separate_test_ids=separate_test_ids, limits=limits)[1]
    return [p for p in problems if p.kind != WARNING]


def inspect_manifest(path: str | os.PathLike, splits: Iterable[str] | None = None, *,
                     check_files: bool = True, masks: bool = True, num_threads: int | None = None,
                     progress: bool = False, separate_test_ids: bool = False,
                     limits: ImageLimits = ImageLimits()) -> tuple[list[Sample], list[Problem]]:
    """`check_manifest`, also returning the rows of `splits` that parsed (manifest order), so a
    caller that goes on to use them reads the manifest once, and the warnings among the
    problems (kind `WARNING`)."""
    path = os.fspath(path)
    samples, problems = parse_manifest(path)
    wanted = set(splits) if splits is not None else {"train", "query", "gallery"}
    chosen = [s for s in samples if s.split in wanted]
    digests: dict[int, bytes] = {}
    mask_stats: dict[int, MaskStats] = {}  # of the training rows
    if check_files and chosen:
        workers = num_threads or min(8, os.cpu_count() or 1)
        with ThreadPoolExecutor(workers) as pool:
            results = pool.map(lambda s: _check_files(path, s, masks, limits), chosen)
            if progress:
                from tqdm import tqdm
                results = tqdm(results, total=len(chosen), desc="checking files", unit="row")
            for s, (found, digest, stats) in zip(chosen, results):
                problems.extend(found)
                digests[s.row] = digest
                if stats is not None and s.split == "train":
                    mask_stats[s.row] = stats
    problems += check_mask_values(path, mask_stats)
    problems += check_pids(path, chosen) + check_repeated_images(path, chosen, digests)
    if "train" in wanted and wanted & {"query", "gallery"} and not separate_test_ids:
        problems.extend(check_shared_ids(path, chosen))
    if {"query", "gallery"} <= wanted:
        problems.extend(check_query_matches(path, samples))
    return chosen, sorted(problems, key=lambda p: p.row)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m attention_swap_reid.dali_pipes.check",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("manifest", help="manifest CSV (image,mask,pid,camid,viewpoint,split)")
    parser.add_argument("--splits", nargs="+", choices=["train", "query", "gallery"],
                        help="check only these splits (default: all)")
    parser.add_argument("--threads", type=int, default=None, help="decoding threads")
    parser.add_argument("--unmasked", choices=list(UNMASKED_ACTIONS), default="error",
                        help="training rows without a person mask: a problem (error), or only counted for a "
                             "loader that keeps them without the augmentation (keep) or drops them (drop)")
    parser.add_argument("--separate-test-ids", action="store_true",
                        help="query/gallery pids are a numbering of their own that may repeat training pids "
                             "for other people (MSMT17): a pid in train and query/gallery is no leak")
    parser.add_argument("--max-image-pixels", type=int, default=ImageLimits.max_pixels, metavar="N",
                        help="largest image or mask, width x height as its header says (default %(default)s)")
    parser.add_argument("--max-image-bytes", type=int, default=ImageLimits.max_bytes, metavar="N",
                        help="largest image or mask file in bytes (default %(default)s)")
    args = parser.parse_args(argv)
    try:
        limits = ImageLimits(args.max_image_pixels, args.max_image_bytes)
    except ValueError as e:
        parser.error(str(e))
    _, problems = inspect_manifest(args.manifest, args.splits, num_threads=args.threads, progress=True,
                                   separate_test_ids=args.separate_test_ids, limits=limits)
    unreadable = [p for p in problems if p.kind == UNREADABLE]
    if unreadable:
        print(f"{parser.prog}: error: {unreadable[0]}", file=sys.stderr)
        return 2
    for warning in (p for p in problems if p.kind == WARNING):
        print(f"warning: {warning}", file=sys.stderr)
    problems = [p for p in problems if p.kind != WARNING]
    if args.unmasked != "error":
        unmasked = [p for p in problems if p.kind == UNMASKED]
        problems = [p for p in problems if p.kind != UNMASKED]
        if unmasked:
            print(f"note: {len(unmasked)} training row(s) have no person mask (first: {unmasked[0]}); "
                  f"unmasked={args.unmasked}: {UNMASKED_ACTIONS[args.unmasked]}", file=sys.stderr)
    if problems:
        for p in problems:
            print(p)
        print(f"{len(problems)} problem(s) in {args.manifest}", file=sys.stderr)
        return 1
    samples, _ = parse_manifest(args.manifest)
    print(f"OK {args.manifest}: {summarize(samples)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
