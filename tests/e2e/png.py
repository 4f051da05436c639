"""A screenshot made small for the README (docs/screenshots/): Chromium's
RGB PNG rewritten with a palette of its 256 most frequent colours, each
other colour drawn as its nearest one. A console page has a few thousand
colours, nearly all of them anti-aliased text edges, so the picture looks
the same at about a third of the size. Plain Python (zlib and struct):
the test environment has no imaging library and needs none.

A PNG that is not 8-bit RGB without interlacing is left as it is.
"""

from __future__ import annotations

import struct
import zlib
from collections import Counter
from pathlib import Path

SIGNATURE = b"\x89PNG\r\n\x1a\n"
RGB = 2  # PNG colour type
PALETTE = 3
BPP = 3  # bytes a pixel, 8-bit RGB


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    if data[:8] != SIGNATURE:
        raise ValueError("not a PNG")
    out, pos = [], 8
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        out.append((data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + n]))
        pos += 12 + n
    return out


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def _unfilter(raw: bytes, width: int, height: int) -> list[bytes]:
    """The image's rows of RGB bytes (PNG's five row filters undone)."""
    stride = width * BPP
    rows: list[bytes] = []
    prev = bytearray(stride)
    pos = 0
    for _ in range(height):
        kind, line = raw[pos], bytearray(raw[pos + 1 : pos + 1 + stride])
        pos += 1 + stride
        if kind == 1:
            for i in range(BPP, stride):
                line[i] = (line[i] + line[i - BPP]) & 0xFF
        elif kind == 2:
            line = bytearray((x + up) & 0xFF for x, up in zip(line, prev, strict=True))
        elif kind == 3:
            for i in range(stride):
                line[i] = (line[i] + (((line[i - BPP] if i >= BPP else 0) + prev[i]) >> 1)) & 0xFF
        elif kind == 4:
            for i in range(stride):
                left, corner = (line[i - BPP], prev[i - BPP]) if i >= BPP else (0, 0)
                line[i] = (line[i] + _paeth(left, prev[i], corner)) & 0xFF
        elif kind != 0:
            raise ValueError(f"bad PNG row filter {kind}")
        rows.append(bytes(line))
        prev = line
    return rows


def _nearest(colour: bytes, palette: list[bytes]) -> int:
    r, g, b = colour
    return min(
        range(len(palette)),
        key=lambda k: 3 * (palette[k][0] - r) ** 2 + 4 * (palette[k][1] - g) ** 2 + 2 * (palette[k][2] - b) ** 2,
    )


def small_png(data: bytes) -> bytes:
    """`data` (a PNG) with a palette of at most 256 colours; unchanged when
    it is not 8-bit RGB without interlacing, or would not shrink."""
    chunks = _chunks(data)
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    if (depth, colour, interlace) != (8, RGB, 0):
        return data
    rows = _unfilter(zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT")), width, height)
    counts = Counter(row[i : i + BPP] for row in rows for i in range(0, len(row), BPP))
    palette = [c for c, _ in counts.most_common(256)]
    index = {c: _nearest(c, palette) for c in counts}
    pixels = bytearray()
    for row in rows:
        pixels.append(0)  # no row filter: indexed rows compress best as they are
        pixels.extend(index[row[i : i + BPP]] for i in range(0, len(row), BPP))
    small = (
        SIGNATURE
        + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, PALETTE, 0, 0, 0))
        + _chunk(b"PLTE", b"".join(palette))
        + _chunk(b"IDAT", zlib.compress(bytes(pixels), 9))
        + _chunk(b"IEND", b"")
    )
    return small if len(small) < len(data) else data


def write_small_png(source: Path, target: Path) -> Path:
    target.write_bytes(small_png(source.read_bytes()))
    return target
