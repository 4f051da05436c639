"""Coverage rows (coverage.py) as files: CSV for scripts (column codes as
the header, rates in per cent), CSV for Excel (Chinese header, UTF-8 BOM
written by the caller) and an Excel workbook (openpyxl): numbers as
numbers, a header row, frozen panes, rates in Excel's per-cent format."""

from __future__ import annotations

import csv
import io
from typing import Any, BinaryIO, TextIO

from backend.campaign.coverage import LEVEL_LABELS, CoverageRow, totals

# (row attribute, header for scripts, header for people)
COLUMNS = (
    ("code", "code", "代码"),
    ("name", "name", "名称"),
    ("students", "students", "在读学生数"),
    ("students_claimed", "students_claimed", "已领卡学生数"),
    ("students_rate", "students_claim_rate_pct", "学生领卡率"),
    ("teachers", "teachers", "在职教师数"),
    ("teachers_claimed", "teachers_claimed", "已领卡教师数"),
    ("teachers_rate", "teachers_claim_rate_pct", "教师领卡率"),
)
RATES = ("students_rate", "teachers_rate")


def _text(value: Any) -> Any:
    """A text cell a spreadsheet would evaluate (=, +, -, @ ...) gets a leading quote."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def write_csv(rows: list[CoverageRow], out: TextIO, *, people: bool = False) -> None:
    """One line per unit; rates in per cent (empty without a denominator).
    `people`: Chinese headers, a total line, CRLF (for Excel)."""
    writer = csv.writer(out, lineterminator="\r\n" if people else "\n")
    writer.writerow([c[2] if people else c[1] for c in COLUMNS])
    for row in [*rows, totals(rows)] if people else rows:
        values = [getattr(row, attr) for attr, _, _ in COLUMNS]
        writer.writerow(["" if v is None else _text(v) for v in values])


def write_xlsx(rows: list[CoverageRow], out: BinaryIO, level: str, scope_label: str) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    assert sheet is not None  # a new workbook has one sheet
    sheet.title = f"领卡覆盖率-{LEVEL_LABELS[level]}"[:31]
    sheet.append([c[2] for c in COLUMNS])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in [*rows, totals(rows)]:
        values: list[Any] = []
        for attr, _, _ in COLUMNS:
            value = getattr(row, attr)
            if attr in RATES:  # a fraction, shown as per cent by the number format
                claimed, total = (
                    (row.students_claimed, row.students)
                    if attr == "students_rate"
                    else (
                        row.teachers_claimed,
                        row.teachers,
                    )
                )
                value = claimed / total if total else None
            values.append(_text(value))
        sheet.append(values)
    for attr_index, (attr, _, _) in enumerate(COLUMNS, start=1):
        if attr in RATES:
            for (cell,) in sheet.iter_rows(min_row=2, min_col=attr_index, max_col=attr_index):
                cell.number_format = "0.0%"
        elif attr not in ("code", "name"):
            for (cell,) in sheet.iter_rows(min_row=2, min_col=attr_index, max_col=attr_index):
                cell.number_format = "#,##0"
    sheet.freeze_panes = "C2"  # the header row and the code and name columns stay in view
    widths = {"A": 22, "B": 36}
    for column, width in widths.items():
        sheet.column_dimensions[column].width = width
    for column in "CDEFGH":
        sheet.column_dimensions[column].width = 14
    sheet.auto_filter.ref = f"A1:H{sheet.max_row}"
    book.properties.title = f"学习号领卡覆盖率（{scope_label}，按{LEVEL_LABELS[level]}）"
    buffer = io.BytesIO()
    book.save(buffer)
    out.write(buffer.getvalue())
