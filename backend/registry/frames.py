"""Vectorised validation of registry rows (polars), the import's fast path.

Ten million rows through Python checks cost ~25 µs each; the same checks as
column expressions cost well under 2 µs. The fast path is deliberately
narrow: a row passes it only when it is already in canonical form (an
18-character ID with a valid area, date and check character; a name of
Simplified CJK characters and middle dots; exact `M`/`F`, stage and status
values; fields without surrounding whitespace), and then its database row is
exactly what the row checks of rows.py would give.
Every other row goes through those converters (which normalise it or say
what is wrong with it), so both paths agree on every input.

A chunk as a whole takes the fast path only when it has no quotes, no blank
line and the right number of fields on every line; otherwise the caller uses
the row-by-row path for the whole chunk.
"""

from __future__ import annotations

import datetime as dt
import io
import sys
from collections.abc import Sequence
from functools import lru_cache

import polars as pl

from backend.registry.columns import MAX_FIELD
from contract.registry import STAGES, STUDENT_STATUSES, TEACHER_STATUSES
from identity.idnumber import _CHECK_CHARS, _WEIGHTS, ID_PATTERN, PROVINCE_CODES
from identity.names import MAX_NAME_LENGTH, MIDDLE_DOT, _t2s_table

ROW = "_row"  # 1-based line number within the chunk

_CHECK = dict(enumerate(_CHECK_CHARS))  # MOD 11-2 remainder -> check character
# Characters str.strip() removes: a field starting or ending with one is not canonical.
_PY_SPACE = "".join(chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace())
_SPACE_CLASS = "[" + "".join(f"\\x{{{ord(c):04X}}}" for c in _PY_SPACE) + "]"  # Rust regex syntax
_CJK = "\u3400-\u4dbf\u4e00-\u9fff"
_NAME_SHAPE = f"^[{_CJK}]+(?:{MIDDLE_DOT}[{_CJK}]+)*$"


@lru_cache(maxsize=1)
def _traditional_class() -> str:
    """A regex class of every character the name normaliser would change."""
    return "[" + "".join(f"\\x{{{c:04X}}}" for c in sorted(_t2s_table())) + "]"


def _canonical_text(col: str, required: bool) -> pl.Expr:
    c = pl.col(col)
    ok = (c.str.len_chars() <= MAX_FIELD) & ~c.str.contains(f"^{_SPACE_CLASS}|{_SPACE_CLASS}$")
    return ok & (c != "") if required else ok


def _canonical_name(col: str) -> pl.Expr:
    c = pl.col(col)
    length = c.str.len_chars()
    return (
        c.str.contains(_NAME_SHAPE)
        & ~c.str.contains(_traditional_class())
        & (length <= MAX_NAME_LENGTH)
        & (length - c.str.count_matches(MIDDLE_DOT, literal=True) >= 2)
    )


def _valid_id(col: str, today: dt.date) -> pl.Expr:
    """The checks of identity.validate_id for IDs already in canonical form."""
    c = pl.col(col)
    body = c.str.slice(0, 17).cast(pl.UInt64, strict=False)
    total = pl.sum_horizontal([((body // 10 ** (16 - i)) % 10) * w for i, w in enumerate(_WEIGHTS)])
    born = c.str.slice(6, 8).str.to_date("%Y%m%d", strict=False)
    return (
        c.str.contains(f"^{ID_PATTERN}$")
        & c.str.slice(0, 2).is_in(sorted(PROVINCE_CODES))
        & (c.str.slice(2, 4) != "0000")
        & (born >= dt.date(1900, 1, 1))
        & (born <= today)
        & ((total % 11).replace_strict(_CHECK, return_dtype=pl.String) == c.str.slice(17, 1))
    ).fill_null(False)


def _id_gender(col: str) -> pl.Expr:
    odd = pl.col(col).str.slice(16, 1).cast(pl.UInt8, strict=False) % 2 == 1
    return pl.when(odd).then(pl.lit("M")).otherwise(pl.lit("F"))


def _iso_birth(col: str) -> pl.Expr:
    c = pl.col(col)
    return pl.concat_str([c.str.slice(6, 4), c.str.slice(10, 2), c.str.slice(12, 2)], separator="-")


def _or_null(col: str) -> pl.Expr:
    return pl.when(pl.col(col) == "").then(None).otherwise(pl.col(col))


def _guardian(n: int, today: dt.date) -> tuple[pl.Expr, list[pl.Expr]]:
    name, id_number, relation = f"guardian{n}_name", f"guardian{n}_id_number", f"guardian{n}_relation"
    absent = (pl.col(name) == "") & (pl.col(id_number) == "")
    present = _canonical_name(name) & _valid_id(id_number, today)
    ok = (absent | present) & _canonical_text(relation, required=False)
    out = [
        _or_null(name).alias(name),
        _or_null(name).alias(f"guardian{n}_name_norm"),
        _or_null(id_number).alias(id_number),
        _or_null(relation).alias(relation),
    ]
    return ok, out


def _student_checks(today: dt.date) -> tuple[pl.Expr, list[pl.Expr]]:
    g1_ok, g1 = _guardian(1, today)
    g2_ok, g2 = _guardian(2, today)
    sid = pl.col("id_number")
    ok = (
        _valid_id("id_number", today)
        & _canonical_name("name")
        & pl.col("gender").is_in(["M", "F"])
        & (pl.col("gender") == _id_gender("id_number"))
        & (pl.col("birth_date") == _iso_birth("id_number"))
        & pl.col("stage").is_in(list(STAGES))
        & pl.col("status").is_in(list(STUDENT_STATUSES))
        & pl.col("district_code").str.contains(r"^[1-8][0-9]{5}$")
        & _canonical_text("student_no", True)
        & _canonical_text("school_code", True)
        & _canonical_text("school_name", True)
        & _canonical_text("grade", False)
        & _canonical_text("class_name", False)
        & g1_ok
        & g2_ok
        & (sid != pl.col("guardian1_id_number"))
        & (sid != pl.col("guardian2_id_number"))
    )
    out = [
        sid,
        pl.col("student_no"),
        pl.col("name"),
        pl.col("name").alias("name_norm"),
        pl.col("gender"),
        pl.col("birth_date"),
        pl.col("stage"),
        pl.col("school_code"),
        pl.col("school_name"),
        pl.col("district_code"),
        pl.col("grade"),
        pl.col("class_name"),
        pl.col("status"),
        *g1,
        *g2,
    ]
    return ok, out


def _teacher_checks(today: dt.date) -> tuple[pl.Expr, list[pl.Expr]]:
    ok = (
        _valid_id("id_number", today)
        & _canonical_name("name")
        & pl.col("gender").is_in(["M", "F"])
        & (pl.col("gender") == _id_gender("id_number"))
        & pl.col("status").is_in(list(TEACHER_STATUSES))
        & pl.col("district_code").str.contains(r"^[1-8][0-9]{5}$")
        & _canonical_text("teacher_no", True)
        & _canonical_text("school_code", True)
        & _canonical_text("school_name", True)
    )
    out = [
        pl.col("id_number"),
        pl.col("teacher_no"),
        pl.col("name"),
        pl.col("name").alias("name_norm"),
        pl.col("gender"),
        pl.col("school_code"),
        pl.col("school_name"),
        pl.col("district_code"),
        pl.col("status"),
    ]
    return ok, out


_CHECKS = {"students": _student_checks, "teachers": _teacher_checks}


def fast_split(
    kind: str,
    data: bytes,
    lines: Sequence[bytes],
    columns: Sequence[str],
    index: Sequence[int],
    width: int,
) -> tuple[pl.DataFrame, pl.DataFrame] | None:
    """(database rows that passed the fast checks, raw rows that did not),
    both with their line number in column ROW; None when the chunk must go
    the row-by-row way as a whole."""
    if not lines or b'"' in data:
        return None
    commas = width - 1  # a blank line has none, so it too sends the chunk the row-by-row way
    if any(line.count(b",") != commas for line in lines):
        return None
    try:
        raw = pl.read_csv(
            io.BytesIO(data),
            has_header=False,
            infer_schema=False,
            quote_char=None,
            empty_string_is_null=False,
            new_columns=[f"f{i}" for i in range(width)],
            raise_if_empty=False,
        )
    except (pl.exceptions.PolarsError, UnicodeDecodeError):
        return None  # e.g. invalid UTF-8: the row-by-row path says which line
    if raw.height != len(lines):
        return None
    raw = raw.select([pl.col(f"f{i}").alias(name) for i, name in zip(index, columns, strict=True)]).with_row_index(
        ROW, offset=1
    )
    ok, out = _CHECKS[kind](dt.date.today())
    flagged = raw.with_columns(ok.alias("_ok"))
    good = flagged.filter(pl.col("_ok")).select([pl.col(ROW), *out])
    bad = flagged.filter(~pl.col("_ok")).drop("_ok")
    return good, bad
