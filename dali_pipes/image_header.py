"""An image file's format and size from its header alone: what the manifest check needs to
know before it decodes anything (a header can claim 60000 x 60000 pixels in a 1 KB file).

`image_header(path)` reads the first bytes (and, for JPEG, TIFF and JPEG 2000, the few header
segments it seeks to) and returns `Header(format, width, height)`, or raises `HeaderError`
saying why not. `DECODER_FORMATS` are the formats the loader's decoder reads
(`nvidia.dali.fn.decoders.image`, on the CPU and the GPU): JPEG, PNG, BMP, TIFF, WebP, PNM
(PBM/PGM/PPM) and JPEG 2000; GIF, for one, is not among them, though OpenCV reads it.
"""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import BinaryIO

DECODER_FORMATS = ("JPEG", "PNG", "BMP", "TIFF", "WebP", "PNM", "JPEG 2000")
_OTHER_FORMATS = ((b"GIF87a", "GIF"), (b"GIF89a", "GIF"), (b"8BPS", "Photoshop (PSD)"),
                  (b"\x76\x2f\x31\x01", "OpenEXR"), (b"#?RADIANCE", "Radiance HDR"), (b"\x59\xa6\x6a\x95", "Sun raster"),
                  (b"\x00\x00\x01\x00", "ICO"))
_JP2_SIGNATURE = b"\x00\x00\x00\x0cjP  \r\n\x87\n"
_MAX_SEGMENTS = 4096  # JPEG marker segments / JP2 boxes looked at before giving up


class HeaderError(ValueError):
    """An image header that is not one the loader's decoder reads (format, or damaged)."""


@dataclass(frozen=True)
class Header:
    """`format`: one of `DECODER_FORMATS`; `width`, `height` in pixels, as the header says."""

    format: str
    width: int
    height: int

    @property
    def pixels(self) -> int:
        return self.width * self.height


def image_header(path: str | os.PathLike) -> Header:
    """The format and size in the header of the image file at `path`; `HeaderError` when it
    is no format of `DECODER_FORMATS` or its header is cut short or damaged. Reads a few KB at
    most, whatever the file's size; OSError when it cannot be read."""
    with open(path, "rb") as f:
        start = f.read(32)
        for parse in (_png, _jpeg, _bmp, _tiff, _webp, _pnm, _jp2):
            header = parse(f, start)
            if header is not None:
                if header.width < 1 or header.height < 1:
                    raise HeaderError(f"{header.format} header says {header.width}x{header.height} pixels")
                return header
    other = next((name for magic, name in _OTHER_FORMATS if start.startswith(magic)), None)
    what = (f"is a {other} file, a format the loader's decoder (DALI) does not read" if other
            else "is in no image format the loader's decoder (DALI) reads")
    raise HeaderError(f"{what}; allowed: {', '.join(DECODER_FORMATS)}")


def _read_at(f: BinaryIO, offset: int, size: int, what: str) -> bytes:
    f.seek(offset)
    data = f.read(size)
    if len(data) < size:
        raise HeaderError(f"{what} header is cut short")
    return data


def _png(f: BinaryIO, start: bytes) -> Header | None:
    if not start.startswith(b"\x89PNG\r\n\x1a\n"):
        return None
    if len(start) < 24 or start[12:16] != b"IHDR":
        raise HeaderError("PNG header is cut short or has no IHDR chunk first")
    width, height = struct.unpack(">II", start[16:24])
    return Header("PNG", width, height)


def _jpeg(f: BinaryIO, start: bytes) -> Header | None:
    if not start.startswith(b"\xff\xd8\xff"):
        return None
    pos = 2
    for _ in range(_MAX_SEGMENTS):
        marker = _read_at(f, pos, 4, "JPEG")
        if marker[0] != 0xFF:
            raise HeaderError(f"JPEG header is damaged (no marker at byte {pos})")
        if marker[1] == 0xFF:  # fill byte
            pos += 1
            continue
        kind, length = marker[1], struct.unpack(">H", marker[2:])[0]
        if 0xC0 <= kind <= 0xCF and kind not in (0xC4, 0xC8, 0xCC):  # a start of frame
            height, width = struct.unpack(">HH", _read_at(f, pos + 5, 4, "JPEG"))
            return Header("JPEG", width, height)
        if kind in (0xD9, 0xDA):
            break
        pos += 2 + length
    raise HeaderError("JPEG header has no frame (size) segment before its image data")


def _bmp(f: BinaryIO, start: bytes) -> Header | None:
    if not start.startswith(b"BM") or len(start) < 26:
        return None
    if struct.unpack("<I", start[14:18])[0] == 12:  # OS/2 BITMAPCOREHEADER
        width, height = struct.unpack("<HH", start[18:22])
    else:
        width, height = struct.unpack("<ii", start[18:26])
    return Header("BMP", abs(width), abs(height))  # a negative height: rows stored top-down


def _tiff(f: BinaryIO, start: bytes) -> Header | None:
    order = {b"II*\x00": "<", b"MM\x00*": ">"}.get(start[:4])
    if order is None:
        return None
    offset = struct.unpack(order + "I", start[4:8])[0]
    count = min(struct.unpack(order + "H", _read_at(f, offset, 2, "TIFF"))[0], 1024)  # tags sorted: size first
    entries = _read_at(f, offset + 2, 12 * count, "TIFF")
    size = {}
    for i in range(count):
        tag, kind, _, value = struct.unpack(order + "HHI4s", entries[12 * i:12 * i + 12])
        if tag in (256, 257):  # ImageWidth, ImageLength: SHORT or LONG
            size[tag] = struct.unpack(order + ("H" if kind == 3 else "I"), value[:2 if kind == 3 else 4])[0]
    if len(size) < 2:
        raise HeaderError("TIFF header has no image width or length")
    return Header("TIFF", size[256], size[257])


def _webp(f: BinaryIO, start: bytes) -> Header | None:
    if not (start.startswith(b"RIFF") and start[8:12] == b"WEBP"):
        return None
    chunk, data = start[12:16], start[20:32]
    if chunk == b"VP8 " and len(data) >= 10 and data[3:6] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", data[6:10])
        return Header("WebP", width & 0x3FFF, height & 0x3FFF)
    if chunk == b"VP8L" and len(data) >= 5 and data[0] == 0x2F:
        bits = int.from_bytes(data[1:5], "little")
        return Header("WebP", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    if chunk == b"VP8X" and len(data) >= 10:
        return Header("WebP", int.from_bytes(data[4:7], "little") + 1, int.from_bytes(data[7:10], "little") + 1)
    raise HeaderError("WebP header is cut short or damaged")


def _pnm(f: BinaryIO, start: bytes) -> Header | None:
    if not (start[:1] == b"P" and start[1:2] in b"123456" and start[2:3].isspace()):
        return None
    f.seek(0)
    text = f.read(1024)
    fields = []
    for line in text[2:].split(b"\n"):
        fields += line.split(b"#", 1)[0].split()
        if len(fields) >= 2:
            break
    try:
        return Header("PNM", int(fields[0]), int(fields[1]))
    except (IndexError, ValueError):
        raise HeaderError("PNM header has no width and height") from None


def _jp2(f: BinaryIO, start: bytes) -> Header | None:
    if start.startswith(b"\xff\x4f\xff\x51"):  # a bare codestream: its SIZ segment
        return _siz(start[4:] + f.read(16))
    if not start.startswith(_JP2_SIGNATURE):
        return None
    pos, end = 0, os.fstat(f.fileno()).st_size
    for _ in range(_MAX_SEGMENTS):
        if pos + 8 > end:
            break
        length, kind = struct.unpack(">I4s", _read_at(f, pos, 8, "JPEG 2000"))
        if length == 1:  # the length follows, in 8 bytes
            length = struct.unpack(">Q", _read_at(f, pos + 8, 8, "JPEG 2000"))[0]
        if kind == b"jp2h":  # a superbox: its first box is the image header
            length, kind = struct.unpack(">I4s", _read_at(f, pos + 8, 8, "JPEG 2000"))
            if kind == b"ihdr":
                height, width = struct.unpack(">II", _read_at(f, pos + 16, 8, "JPEG 2000"))
                return Header("JPEG 2000", width, height)
            break
        if length < 8:  # 0: the last box, up to the end of the file
            break
        pos += length
    raise HeaderError("JPEG 2000 file has no image header box")


def _siz(data: bytes) -> Header:
    if len(data) < 20:
        raise HeaderError("JPEG 2000 codestream header is cut short")
    x, y, x0, y0 = struct.unpack(">IIII", data[4:20])  # after Lsiz and Rsiz
    return Header("JPEG 2000", x - x0, y - y0)
