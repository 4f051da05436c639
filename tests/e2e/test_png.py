"""png.py, the README's screenshots made small: PNG's row filters undone
right (every filter type), an image of at most 256 colours kept exactly,
one of more drawn with its most frequent 256 and the rest as their
nearest. Pure: no browser, no stack."""

from __future__ import annotations

import random
import struct
import zlib

from tests.e2e.png import BPP, SIGNATURE, _chunk, _chunks, _paeth, small_png

Image = list[list[tuple[int, int, int]]]


def _filtered(kind: int, line: bytes, prev: bytes) -> bytes:
    left = lambda i: line[i - BPP] if i >= BPP else 0  # noqa: E731
    corner = lambda i: prev[i - BPP] if i >= BPP else 0  # noqa: E731
    predict = {
        0: lambda i: 0,
        1: left,
        2: lambda i: prev[i],
        3: lambda i: (left(i) + prev[i]) >> 1,
        4: lambda i: _paeth(left(i), prev[i], corner(i)),
    }[kind]
    return bytes([kind]) + bytes((line[i] - predict(i)) & 0xFF for i in range(len(line)))


def rgb_png(image: Image) -> bytes:
    """An 8-bit RGB PNG of `image`, its rows filtered with every filter type in turn."""
    width, height = len(image[0]), len(image)
    raw, prev = bytearray(), bytes(width * BPP)
    for y, row in enumerate(image):
        line = bytes(v for pixel in row for v in pixel)
        raw += _filtered(y % 5, line, prev)
        prev = line
    return (
        SIGNATURE
        + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + _chunk(b"IDAT", zlib.compress(bytes(raw)))
        + _chunk(b"IEND", b"")
    )


def decoded(png: bytes) -> Image:
    """The pixels of a small_png answer (8-bit palette, rows unfiltered)."""
    chunks = dict(_chunks(png))
    width, height, depth, colour, *_ = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    assert (depth, colour) == (8, 3)
    palette = [tuple(chunks[b"PLTE"][i : i + 3]) for i in range(0, len(chunks[b"PLTE"]), 3)]
    assert len(palette) <= 256
    raw = zlib.decompress(chunks[b"IDAT"])
    image: Image = []
    for y in range(height):
        row = raw[y * (width + 1) : (y + 1) * (width + 1)]
        assert row[0] == 0
        image.append([palette[i] for i in row[1:]])  # type: ignore[misc]
    return image


def test_an_image_of_few_colours_is_kept_exactly() -> None:
    rnd = random.Random(15)
    colours = [(rnd.randrange(256), rnd.randrange(256), rnd.randrange(256)) for _ in range(200)]
    image = [[colours[rnd.randrange(len(colours))] for _ in range(37)] for _ in range(23)]
    png = rgb_png(image)
    small = small_png(png)
    assert decoded(small) == image


def test_more_colours_keep_the_frequent_ones_and_draw_the_rest_nearly() -> None:
    rnd = random.Random(8)
    # 40 shades used often (a grey ramp 6 apart), and 400 rare colours, each
    # within 3 of one of them (anti-aliasing): 440 colours in all.
    shades = [(10 + 6 * k, 12 + 6 * k, 14 + 6 * k) for k in range(40)]
    image = [[shades[rnd.randrange(40)] for _ in range(80)] for _ in range(60)]
    rare = set()
    while len(rare) < 400:
        y, x = rnd.randrange(60), rnd.randrange(80)
        base = shades[rnd.randrange(40)]
        image[y][x] = tuple(v + rnd.choice((-3, -2, -1, 1, 2, 3)) for v in base)  # type: ignore[assignment]
        rare.add(image[y][x])
    assert len({p for row in image for p in row}) > 256
    out = decoded(small_png(rgb_png(image)))
    for y in range(60):
        for x in range(80):
            if image[y][x] in shades:
                assert out[y][x] == image[y][x]  # the frequent colours exactly
            else:
                # no farther than the shade it is near (3 a channel, weighted 3:4:2 in png.py)
                assert max(abs(a - b) for a, b in zip(out[y][x], image[y][x], strict=True)) <= 6, (x, y)


def test_other_pngs_are_left_as_they_are() -> None:
    grey = (
        SIGNATURE
        + _chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 1, 8, 0, 0, 0, 0))
        + _chunk(b"IDAT", zlib.compress(b"\x00\x10\x20"))
        + _chunk(b"IEND", b"")
    )
    assert small_png(grey) == grey
