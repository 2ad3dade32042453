"""The output files of the commands: checked before any work, known again by a mark, written
whole.

A command checks its `--out` first (`check_writable`, and `manifest.check_output` for a file that
is already there) so that a wrong path fails in a second, not after the work. Pictures a command
writes carry a mark naming it (a PNG text chunk, a JPEG comment), so that it may replace its own
pictures and nothing else (`is_marked`).
"""
from __future__ import annotations

import os
import struct
import tempfile
import zlib

import cv2
import numpy as np

from attention_swap_reid.dali_pipes.manifest import OutputError

PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEG_SOI = b"\xff\xd8"
_HEAD = 256  # bytes read to find a mark: it sits right after the PNG header chunk / the JPEG SOI


def check_writable(path: str | os.PathLike) -> None:
    """Raise `OutputError` naming `path` unless a file can be created in its folder (made when
    missing): the folder is created and a probe file written and removed there."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-probe-")
    except OSError as e:
        raise OutputError(f"output {path}: cannot write in {folder}: {e.strerror or e}") from None
    os.close(fd)
    os.remove(probe)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomically(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to a temporary file beside `path` and rename it: no half file, no leftover;
    the file gets the permissions a plain `open` would give it (not mkstemp's 0600)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".out-", suffix=os.path.splitext(path)[1])
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def picture_suffix(path: str | os.PathLike) -> str:
    """The lower-case suffix of a picture path; `OutputError` unless it is one of `PICTURE_SUFFIXES`."""
    suffix = os.path.splitext(os.fspath(path))[1].lower()
    if suffix not in PICTURE_SUFFIXES:
        raise OutputError(f"output {os.fspath(path)}: a picture needs one of the suffixes "
                          f"{', '.join(PICTURE_SUFFIXES)} (its format), got {suffix or 'none'}")
    return suffix


def _png_text(program: str) -> bytes:
    return b"tEXt" + b"Software\x00" + program.encode()


def _jpeg_comment(program: str) -> bytes:
    return b"\xff\xfe" + struct.pack(">H", len(program) + 2) + program.encode()


def encode_marked(image_bgr: np.ndarray, suffix: str, program: str) -> bytes:
    """`image_bgr` (H, W, 3) uint8 encoded as `suffix` (.png, .jpg, .jpeg) with a mark naming
    `program` (a PNG tEXt "Software" chunk after the header chunk; a JPEG comment after SOI)."""
    params = [cv2.IMWRITE_PNG_COMPRESSION, 9] if suffix == ".png" else [cv2.IMWRITE_JPEG_QUALITY, 95]
    ok, encoded = cv2.imencode(suffix, image_bgr, params)
    if not ok:
        raise OutputError(f"cannot encode the picture as {suffix}")
    data = encoded.tobytes()
    if suffix == ".png":
        text = _png_text(program)
        chunk = struct.pack(">I", len(text) - 4) + text + struct.pack(">I", zlib.crc32(text))
        header_end = len(_PNG_SIGNATURE) + 25  # the IHDR chunk: length, type, 13 bytes, CRC
        return data[:header_end] + chunk + data[header_end:]
    return data[:2] + _jpeg_comment(program) + data[2:]


def is_marked(path: str | os.PathLike, program: str) -> bool:
    """Whether the file at `path` is a PNG or JPEG that `encode_marked` marked for `program`."""
    try:
        with open(path, "rb") as f:
            head = f.read(_HEAD)
    except OSError:
        return False
    if head.startswith(_PNG_SIGNATURE):
        return _png_text(program) in head
    return head.startswith(_JPEG_SOI + _jpeg_comment(program))
