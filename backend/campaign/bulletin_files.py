"""The bulletin (bulletin.py) as files: an Excel workbook (openpyxl, as
export.py writes coverage: numbers as numbers, a header row, frozen panes,
rates in Excel's per-cent format) with three sheets, the ranking, the
failure causes and the trend; and a PDF, printed from the bulletin's HTML
by headless Chromium (`--print-to-pdf`; Debian's chromium, as the browser
tests use: `make chromium` installs it). Without Chromium: ChromiumMissing,
whose message says so."""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, BinaryIO

from backend.campaign.bulletin import NOTICE, Bulletin
from backend.campaign.coverage import CoverageRow
from backend.campaign.export import _text

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
PDF_TIMEOUT_SECONDS = 90.0
PERCENT = "0.0%"
COUNT = "#,##0"


class ChromiumMissing(RuntimeError):
    """No Chromium to print the PDF with."""


class PdfFailed(RuntimeError):
    """Chromium ran but wrote no PDF."""


# -- Excel -------------------------------------------------------------------------------


def _fraction(claimed: int, total: int) -> float | None:
    return claimed / total if total else None


def _sheet(book: Any, title: str, header: list[str], rows: list[list[Any]], formats: dict[int, str]) -> Any:
    """A sheet: a bold header row, the rows, number formats by column
    (1-based), the header and first two columns frozen, a filter."""
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    sheet = book.create_sheet(title)
    sheet.append(header)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append([_text(v) for v in row])
    for column, number_format in formats.items():
        for (cell,) in sheet.iter_rows(min_row=2, min_col=column, max_col=column):
            cell.number_format = number_format
    sheet.freeze_panes = "C2"
    for i, label in enumerate(header, start=1):
        sheet.column_dimensions[get_column_letter(i)].width = max(12, min(36, len(label) * 2 + 4))
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(header))}{sheet.max_row}"
    return sheet


def _figures(row: CoverageRow) -> list[Any]:
    return [
        row.students,
        row.students_claimed,
        _fraction(row.students_claimed, row.students),
        row.teachers,
        row.teachers_claimed,
        _fraction(row.teachers_claimed, row.teachers),
        _fraction(row.students_claimed + row.teachers_claimed, row.students + row.teachers),
    ]


def write_xlsx(bulletin: Bulletin, out: BinaryIO) -> None:
    from openpyxl import Workbook

    book = Workbook()
    default = book.active
    if default is not None:
        book.remove(default)
    figures = ["在读学生数", "已领卡学生数", "学生领卡率", "在职教师数", "已领卡教师数", "教师领卡率", "师生领卡率"]
    ranking = [[r.rank, r.row.code, r.row.name, *_figures(r.row)] for r in bulletin.ranking]
    ranking.append([None, "", "合计", *_figures(bulletin.total)])
    formats = {4: COUNT, 5: COUNT, 6: PERCENT, 7: COUNT, 8: COUNT, 9: PERCENT, 10: PERCENT}
    sheet = _sheet(book, "排名", ["名次", "代码", bulletin.level_label, *figures], ranking, formats)
    sheet.freeze_panes = "D2"  # rank, code and name stay in view
    failed = bulletin.failed_attempts
    causes = [[f.label, f.code, f.attempts, _fraction(f.attempts, failed)] for f in bulletin.failures]
    causes.append(["合计", "", failed, 1.0 if failed else None])
    _sheet(book, "失败原因", ["失败原因", "代码", "失败次数", "占比"], causes, {3: COUNT, 4: PERCENT})
    people = bulletin.people
    trend = [[t.day, t.cards, t.claimed, _fraction(t.claimed, people)] for t in bulletin.trend]
    _sheet(
        book, "趋势", ["日期", "当日发卡数", "累计已领卡人数", "累计领卡率"], trend, {2: COUNT, 3: COUNT, 4: PERCENT}
    )
    book.properties.title = bulletin.title
    book.properties.subject = f"依据{NOTICE}；统计时间 {bulletin.generated_at:%Y-%m-%d %H:%M}（北京时间）"
    buffer = io.BytesIO()
    book.save(buffer)
    out.write(buffer.getvalue())


# -- PDF ---------------------------------------------------------------------------------


def find_chromium() -> str:
    """The Chromium to print with: $CHROMIUM, else Debian's; ChromiumMissing otherwise."""
    configured = os.environ.get("CHROMIUM")
    for candidate in [configured] if configured else [*CHROMIUM_CANDIDATES, "chromium"]:
        path = shutil.which(candidate)
        if path:
            return path
    raise ChromiumMissing(
        "PDF needs Chromium (headless --print-to-pdf): none found at "
        f"{configured or ', '.join(CHROMIUM_CANDIDATES)}; install Debian's chromium (`make chromium`) "
        "or set CHROMIUM to its path. The Excel and HTML forms work without it."
    )


def _command(chromium: str, html: Path, pdf: Path, profile: Path) -> list[str]:
    return [
        chromium,
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-sync",
        "--disable-component-update",
        "--no-first-run",
        "--no-default-browser-check",
        "--lang=zh-CN",
        f"--user-data-dir={profile}",
        "--no-pdf-header-footer",
        f"--print-to-pdf={pdf}",
        html.as_uri(),
    ]


async def html_to_pdf(html: str) -> bytes:
    """Print a self-contained HTML document (no script, nothing loaded from
    elsewhere) to PDF with headless Chromium; A4 and margins come from the
    page's @page rule."""
    chromium = find_chromium()
    with tempfile.TemporaryDirectory(prefix="bulletin-") as tmp:
        directory = Path(tmp)
        source, target = directory / "bulletin.html", directory / "bulletin.pdf"
        source.write_text(html, encoding="utf-8")
        process = await asyncio.create_subprocess_exec(
            *_command(chromium, source, target, directory / "profile"),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "HOME": str(directory)},
        )
        try:
            _, stderr = await asyncio.wait_for(process.communicate(), PDF_TIMEOUT_SECONDS)
        except asyncio.TimeoutError:
            process.kill()
            await process.wait()
            raise PdfFailed(f"Chromium did not print the PDF within {PDF_TIMEOUT_SECONDS:.0f} s") from None
        if not target.is_file() or target.stat().st_size == 0:
            tail = stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
            raise PdfFailed(f"Chromium wrote no PDF (exit {process.returncode}): {' / '.join(tail)}")
        return target.read_bytes()
