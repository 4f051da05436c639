"""Coverage rows (coverage.py) and the lists of who has not claimed
(not_claimed.py, masked) as files: CSV for scripts (column codes as
the header, rates in per cent), CSV for Excel (Chinese header, UTF-8 BOM
written by the caller) and an Excel workbook (openpyxl): numbers as
numbers, a header row, frozen panes, rates in Excel's per-cent format."""

from __future__ import annotations

import csv
import io
from typing import Any, BinaryIO, TextIO

from backend.campaign.coverage import LEVEL_LABELS, CoverageRow, totals
from backend.campaign.not_claimed import KIND_LABELS, Unclaimed

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


# -- who has not claimed (not_claimed.py) -------------------------------------------------

# (attribute, header for people); a person's kind shown by its label
UNCLAIMED_COLUMNS = (
    ("kind", "类别"),
    ("school_code", LEVEL_LABELS["school"] + "代码"),
    ("school_name", LEVEL_LABELS["school"] + "名称"),
    ("grade", LEVEL_LABELS["grade"]),
    ("class_name", LEVEL_LABELS["class"]),
    ("name", "姓名（已脱敏）"),
    ("id_number", "身份证号（已脱敏）"),
)


def _unclaimed_values(person: Unclaimed) -> list[Any]:
    return [
        KIND_LABELS[person.kind] if attr == "kind" else _text(getattr(person, attr)) for attr, _ in UNCLAIMED_COLUMNS
    ]


def write_unclaimed_csv(people: list[Unclaimed], out: TextIO) -> None:
    """One line per person without a card, Chinese headers, CRLF (for Excel;
    the caller writes the UTF-8 BOM)."""
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([c[1] for c in UNCLAIMED_COLUMNS])
    for person in people:
        writer.writerow(_unclaimed_values(person))


def write_unclaimed_xlsx(people: list[Unclaimed], out: BinaryIO, unit_label: str) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    assert sheet is not None  # a new workbook has one sheet
    sheet.title = "未领卡名单"
    sheet.append([c[1] for c in UNCLAIMED_COLUMNS])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for person in people:
        sheet.append(_unclaimed_values(person))
    for (cell,) in sheet.iter_rows(min_row=2, min_col=2, max_col=2):
        cell.number_format = "@"  # school codes are text, never numbers
    sheet.freeze_panes = "A2"
    for column, width in {"A": 8, "B": 14, "C": 30, "D": 12, "E": 12, "F": 16, "G": 24}.items():
        sheet.column_dimensions[column].width = width
    sheet.auto_filter.ref = f"A1:G{sheet.max_row}"
    book.properties.title = f"学习号未领卡名单（{unit_label}）"
    buffer = io.BytesIO()
    book.save(buffer)
    out.write(buffer.getvalue())
