"""Reading a registry file: cut at line ends into chunks of about
CHUNK_BYTES; each chunk is decoded, parsed and validated on its own (in
worker processes for large files) into a frame of database rows, and the
results are written in file order. A field must therefore not contain a
line break, which registry exports never do; a row that does is reported as
bad.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from backend.registry.frames import ROW, fast_split
from backend.registry.rows import KINDS, RowError
from backend.registry.staging import stage_chunk

CHUNK_BYTES = 2 * 1024 * 1024  # about 12,000 student rows


@dataclass
class Chunk:
    frame: pl.DataFrame  # database rows, last row per ID number, sorted by ID number
    imported: int  # valid rows (before duplicates within the chunk collapse)
    errors: list[tuple[int, str]]  # line numbers relative to the chunk's start
    count: int  # data rows seen
    lines: int  # physical lines consumed
    written: bool = False  # already staged by the worker (SQLite, see stage_chunk)
    districts: dict[str, int] = field(default_factory=dict)  # valid rows per district_code


def read_header(path: Path, columns: Sequence[str]) -> tuple[list[int] | None, int, int, str | None]:
    """(index of each contract column, header width, byte offset after the
    header, problem)."""
    with open(path, "rb") as fh:
        first = fh.readline()
        offset = fh.tell()
    if not first.strip():
        return None, 0, offset, "the file is empty (no header row)"
    try:
        header = [h.strip() for h in next(csv.reader([first.decode("utf-8-sig")]))]
    except (UnicodeDecodeError, csv.Error) as exc:
        return None, 0, offset, f"unreadable header: {exc}"
    missing = [c for c in columns if c not in header]
    if missing:
        return None, 0, offset, "header lacks column(s): " + ", ".join(missing)
    return [header.index(c) for c in columns], len(header), offset, None


def chunk_bounds(path: Path, start: int, chunk_bytes: int) -> Iterator[tuple[int, int]]:
    size = path.stat().st_size
    with open(path, "rb") as fh:
        while start < size:
            fh.seek(min(start + chunk_bytes, size))
            if fh.tell() < size:
                fh.readline()  # on to the end of the line
            end = fh.tell()
            yield start, end
            start = end


def _rows_by_line(
    convert: Callable[[Sequence[str]], tuple[Any, ...]],
    data: bytes,
    lines: list[bytes],
    index: Sequence[int],
    width: int,
) -> tuple[list[tuple[Any, ...]], list[tuple[int, str]], int]:
    """The row-by-row path: (rows, each led by its line number; errors; data rows seen)."""
    errors: list[tuple[int, str]] = []
    try:
        texts = data.decode("utf-8").split("\n")[: len(lines)]
    except UnicodeDecodeError:
        texts = []
        for n, line in enumerate(lines, 1):
            try:
                texts.append(line.decode("utf-8"))
            except UnicodeDecodeError:
                errors.append((n, "not valid UTF-8"))
                texts.append("")
    rows: list[tuple[Any, ...]] = []
    count = 0
    identity = list(index) == list(range(len(index)))
    for n, fields in enumerate(csv.reader(texts), 1):
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            continue
        count += 1
        if len(fields) != width:
            errors.append((n, f"expected {width} fields, found {len(fields)}"))
            continue
        try:
            rows.append((n, *convert(fields if identity else [fields[i] for i in index])))
        except RowError as exc:
            errors.append((n, str(exc)))
    return rows, errors, count


def convert_chunk(
    kind: str,
    path: str,
    start: int,
    end: int,
    index: Sequence[int],
    width: int,
    stage_to: tuple[str, int] | None = None,
) -> Chunk:
    """Decode, parse and validate one chunk (runs in a worker process):
    vectorised for rows in canonical form (frames.py), row by row
    for the rest. With `stage_to` (staging directory, chunk sequence number)
    the worker also stages the rows for SQLite (see stage_chunk)."""
    columns, db_columns, convert = KINDS[kind]
    with open(path, "rb") as fh:
        fh.seek(start)
        data = fh.read(end - start)
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    split = fast_split(kind, data, lines, columns, index, width)
    if split is None:
        rows, errors, count = _rows_by_line(convert, data, lines, index, width)
        frames = [_frame(rows, db_columns)]
    else:
        good, bad = split
        rows, errors = [], []
        for n, *fields in bad.iter_rows():
            try:
                rows.append((n, *convert(fields)))
            except RowError as exc:
                errors.append((n, str(exc)))
        frames, count = [good, _frame(rows, db_columns)], len(lines)
    frame = pl.concat(frames, how="vertical_relaxed")
    chunk = Chunk(_dedupe(frame), frame.height, sorted(errors), count, len(lines))
    counts = frame.group_by("district_code").len()
    chunk.districts = dict(zip(counts["district_code"].to_list(), counts["len"].to_list(), strict=True))
    if stage_to is not None:
        stage_chunk(*stage_to, kind, db_columns, chunk.frame)
        chunk.frame, chunk.written = chunk.frame.clear(), True
    return chunk


def _frame(rows: list[tuple[Any, ...]], db_columns: Sequence[str]) -> pl.DataFrame:
    schema = {ROW: pl.UInt32, **{c: pl.String for c in db_columns}}
    return pl.DataFrame(rows, schema=schema, orient="row")


def _dedupe(frame: pl.DataFrame) -> pl.DataFrame:
    """Last row wins within a chunk, as it does across chunks; sorted by ID
    number, so the index is updated in key order (fewer pages touched)."""
    return frame.sort(ROW).unique(subset="id_number", keep="last").sort("id_number").drop(ROW)
