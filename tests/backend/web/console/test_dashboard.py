"""The campaign dashboard and the distribution report download, from real
claims made through the API, on SQLite and PostgreSQL; and the SVG charts
themselves (well-formed, escaped)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from urllib.parse import unquote

import pytest_asyncio
from sqlalchemy import select, update

from backend.models import AuditEntry, Card, ClaimAttempt, utcnow
from backend.web.console.charts import Series, bar_chart, column_chart, line_chart, nice_ticks
from contract.beijing import today
from tests.conftest import Api
from tests.people import (
    CHEN_CHILDREN,
    FATHER_CHEN,
    GRADUATED,
    GUARDIAN_HU,
    PUBLIC,
    SCHOOL,
    TEACHER,
    TEACHER_AND_UNIVERSITY,
    UNIVERSITY,
    XIAOMING,
)
from tests.staff_client import StaffClient, signed_in

SVG = "{http://www.w3.org/2000/svg}"
CHART_IDS = {
    "chart-cards-per-day",
    "chart-cards-by-identity",
    "chart-claims-by-district",
    "chart-claims-by-school",
    "chart-failures-over-time",
}
# The known days: D (Beijing) and the day after; one card the day before.
D = today() - dt.timedelta(days=100)
LATE_ON_D = dt.datetime.combine(D, dt.time(15, 59, 59))  # UTC: 23:59:59 on D in Beijing
START_OF_NEXT = dt.datetime.combine(D, dt.time(16, 0))  # UTC: 00:00 of D+1 in Beijing
DAY_BEFORE = LATE_ON_D - dt.timedelta(days=1)
RANGE = f"from={D.isoformat()}&to={(D + dt.timedelta(days=1)).isoformat()}"


async def make_claims(api: Api) -> dict[str, str]:
    """Five cards and ten claim attempts (four failing), then moved to known
    times: everything late on D, the teacher's card and claim just after
    midnight (Beijing) of D+1, the public card and claim the day before D."""

    async def claim(person_path: str, name: str, id_number: str, **kw: str) -> dict:
        status, body = await api.claim(path=person_path, name=name, id_number=id_number, channel_user="dash", **kw)
        assert status in (200, 201, 422), body
        return body

    cards = {
        "xiaoming": (await claim("k12_student", XIAOMING.name, XIAOMING.id_number))["card"]["card_number"],
        "teacher": (await claim("teacher", TEACHER.name, TEACHER.id_number))["card"]["card_number"],
        "both": (await claim("teacher", TEACHER_AND_UNIVERSITY.name, TEACHER_AND_UNIVERSITY.id_number))["card"][
            "card_number"
        ],
        "public": (await claim("public", PUBLIC.name, PUBLIC.id_number))["card"]["card_number"],
        "chen": (
            await claim(
                "parent",
                CHEN_CHILDREN[0].name,
                CHEN_CHILDREN[0].id_number,
                guardian_name=FATHER_CHEN.name,
                guardian_id_number=FATHER_CHEN.id_number,
            )
        )["card"]["card_number"],
    }
    assert (await claim("k12_student", XIAOMING.name, XIAOMING.id_number))["status"] == "existing"
    assert (await claim("k12_student", GRADUATED.name, GRADUATED.id_number))["code"] == "not_enrolled"
    assert (await claim("k12_student", "张三", PUBLIC.id_number))["code"] == "identity_not_found"
    assert (
        await claim(
            "parent",
            XIAOMING.name,
            XIAOMING.id_number,
            guardian_name=GUARDIAN_HU.name,
            guardian_id_number=GUARDIAN_HU.id_number,
        )
    )["code"] == "guardian_mismatch"
    bad_id = XIAOMING.id_number[:-1] + ("0" if XIAOMING.id_number[-1] != "0" else "1")
    assert (await claim("k12_student", XIAOMING.name, bad_id))["code"] == "invalid_id_number"

    async with api.db.writing() as session:
        await session.execute(update(Card).values(created_at=LATE_ON_D))
        await session.execute(update(ClaimAttempt).values(created_at=LATE_ON_D))
        for key, when in (("teacher", START_OF_NEXT), ("public", DAY_BEFORE)):
            await session.execute(update(Card).where(Card.card_number == cards[key]).values(created_at=when))
            await session.execute(
                update(ClaimAttempt).where(ClaimAttempt.card_number == cards[key]).values(created_at=when)
            )
    return cards


@pytest_asyncio.fixture
async def admin(api: Api) -> AsyncIterator[StaffClient]:
    client = await signed_in(f"http://127.0.0.1:{api.client.port}", api.db, "boss", "admin")
    try:
        yield client
    finally:
        await client.close()


def svgs(html: str) -> dict[str, ET.Element]:
    """Every inline SVG of a page, parsed (so well-formed), by id."""
    found = {}
    for markup in re.findall(r"<svg\b.*?</svg>", html, flags=re.S):
        root = ET.fromstring(markup)
        assert root.tag == SVG + "svg"
        found[root.get("id")] = root
    return found


def tooltips(svg: ET.Element, tag: str = "rect") -> dict[str, str]:
    """'label：value' tooltips of the bars (or points) of a chart."""
    out = {}
    for el in svg.iter(SVG + tag):
        title = el.find(SVG + "title")
        if title is not None and title.text:
            label, _, value = title.text.rpartition("：")
            out[label] = value
    return out


def stat(html: str, key: str) -> str:
    m = re.search(rf'data-key="{key}" data-value="([^"]*)"', html)
    assert m, key
    return m.group(1)


def table_row(html: str, table_id: str, attr: str, key: str) -> list[str]:
    table = html.split(f'id="{table_id}"', 1)[1].split("</table>", 1)[0]
    m = re.search(rf'<tr {attr}="{re.escape(key)}">(.*?)</tr>', table, flags=re.S)
    assert m, (table_id, key)
    return [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", m.group(1), re.S)]


# -- the page ----------------------------------------------------------------------------


async def test_dashboard_figures_for_known_claims(api: Api, admin: StaffClient) -> None:
    await make_claims(api)
    page = await admin.get(f"/staff/dashboard?{RANGE}")
    assert page.status == 200, page.text[:500]
    html = page.text

    assert (stat(html, "cards"), stat(html, "cards_all")) == ("4", "5")
    assert (stat(html, "claims"), stat(html, "failures"), stat(html, "success_rate")) == ("9", "4", "55.6%")
    assert stat(html, "open_tickets") == "0"

    charts = svgs(html)
    assert set(charts) == CHART_IDS
    d, d1 = D.strftime("%m-%d"), (D + dt.timedelta(days=1)).strftime("%m-%d")
    assert tooltips(charts["chart-cards-per-day"]) == {d: "3", d1: "1"}  # the Beijing-day boundary
    assert tooltips(charts["chart-cards-by-identity"]) == {
        "中小学生/中职学生": "2",
        "大学生": "1",
        "教师": "2",
        "社会公众": "0",
    }
    assert [table_row(html, "identity-table", "data-identity", k)[1] for k in ("k12_student", "teacher")] == ["2", "2"]
    assert table_row(html, "path-table", "data-path", "parent") == ["家长代领", "1"]
    assert table_row(html, "path-table", "data-path", "teacher") == ["教师", "2"]

    by_district = tooltips(charts["chart-claims-by-district"])
    assert by_district["南昌市东湖区 · 成功"] == "4" and by_district["南昌市东湖区 · 失败"] == "2"
    assert by_district["未关联区县 · 成功"] == "0" and by_district["未关联区县 · 失败"] == "2"
    assert by_district["南昌市青山湖区 · 成功"] == "1"
    assert table_row(html, "district-table", "data-district", "360102") == ["360102", "南昌市东湖区", "6", "4", "2"]

    school = table_row(html, "school-table", "data-school", SCHOOL[0])
    assert school == [SCHOOL[0], SCHOOL[1], "南昌市东湖区", "6", "4", "2", "66.7%", "3"]
    uni = table_row(html, "school-table", "data-school", "4136010403")
    assert uni[1] == "南昌大学" and uni[3:] == ["1", "1", "0", "100.0%", "1"]
    assert tooltips(charts["chart-claims-by-school"])[f"{SCHOOL[1]} · 失败"] == "2"

    failures = tooltips(charts["chart-failures-over-time"], "circle")
    assert failures == {
        f"{d} · 学籍非在读": "1",
        f"{d1} · 学籍非在读": "0",
        f"{d} · 未核验到身份": "1",
        f"{d1} · 未核验到身份": "0",
        f"{d} · 监护人不符": "1",
        f"{d1} · 监护人不符": "0",
        f"{d} · 身份证号无效": "1",
        f"{d1} · 身份证号无效": "0",
    }

    async with api.db.reading() as session:
        views = (await session.scalars(select(AuditEntry).where(AuditEntry.action == "view_dashboard"))).all()
    assert [(v.staff_username, v.detail) for v in views] == [
        ("boss", f"{D.isoformat()}~{(D + dt.timedelta(days=1)).isoformat()}")
    ]


async def test_the_default_range_is_the_last_thirty_days(api: Api, admin: StaffClient) -> None:
    await make_claims(api)  # all of it 100 days ago
    status, _ = await api.claim(path="university_student", name=UNIVERSITY.name, id_number=UNIVERSITY.id_number)
    assert status == 201
    page = await admin.get("/staff/dashboard")
    assert page.status == 200
    assert f'id="range-from" value="{(today() - dt.timedelta(days=29)).isoformat()}"' in page.text
    assert f'id="range-to" value="{today().isoformat()}"' in page.text
    assert (stat(page.text, "cards"), stat(page.text, "cards_all"), stat(page.text, "claims")) == ("1", "6", "1")
    per_day = tooltips(svgs(page.text)["chart-cards-per-day"])
    assert list(per_day) == [(today() - dt.timedelta(days=29 - i)).strftime("%m-%d") for i in range(30)]
    assert [v for v in per_day.values() if v != "0"] == ["1"] and per_day[today().strftime("%m-%d")] == "1"


async def test_a_bad_range_is_refused_with_the_default(api: Api, admin: StaffClient) -> None:
    for query in ("from=2024-13-01", "from=2024-05-02&to=2024-05-01", "from=2020-01-01&to=2024-01-01"):
        page = await admin.get(f"/staff/dashboard?{query}")
        assert page.status == 400, query
        assert 'id="dashboard-error"' in page.text and set(svgs(page.text)) == CHART_IDS


async def test_labels_from_the_database_are_escaped_in_the_charts(api: Api, admin: StaffClient) -> None:
    nasty = "<script>alert(1)</script>&\"'\x01学校"
    async with api.db.writing() as session:
        session.add(
            Card(
                card_number="X1",
                holder_id_number="X" * 18,
                holder_name="某",
                path="k12_student",
                identities=["k12_student"],
                permissions=[],
                district_code="360102",
                school_code="S<1>",
                school_name=nasty,
                created_at=utcnow(),
                updated_at=utcnow(),
            )
        )
        session.add(
            ClaimAttempt(created_at=utcnow(), action="claim", success=True, district_code="360102", school_code="S<1>")
        )
    page = await admin.get("/staff/dashboard")
    assert page.status == 200
    assert "<script>alert(1)" not in page.text
    charts = svgs(page.text)
    assert set(charts) == CHART_IDS
    labels = "".join(charts["chart-claims-by-school"].itertext())
    assert "<script>alert(1)</script>&\"'学校" in labels  # shown as text, not markup


# -- the report download ---------------------------------------------------------------------


async def test_report_csv_download(api: Api, admin: StaffClient) -> None:
    await make_claims(api)
    resp = await admin.get("/staff/dashboard/report.csv")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/csv")
    disposition = resp.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert "发放领取情况通报" in unquote(disposition.split("filename*=UTF-8''", 1)[1])
    assert resp.body.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs for UTF-8
    rows = list(csv.reader(io.StringIO(resp.body[3:].decode("utf-8"))))
    header = rows[0]
    assert header[:5] == ["区县代码", "区县", "学校代码", "学校名称", "发卡总数"]
    assert "发卡-中小学生/中职学生" in header and "领取失败-监护人不符" in header
    by_school = {(r[0], r[2]): dict(zip(header, r, strict=True)) for r in rows[1:-1]}
    school = by_school[(SCHOOL[2], SCHOOL[0])]
    assert (
        school["区县"],
        school["学校名称"],
        school["发卡总数"],
        school["发卡-中小学生/中职学生"],
        school["发卡-教师"],
    ) == ("南昌市东湖区", SCHOOL[1], "3", "2", "1")
    assert (school["领取失败-学籍非在读"], school["领取失败-监护人不符"]) == ("1", "1")
    unlinked = by_school[("", "")]
    assert (unlinked["区县"], unlinked["发卡-社会公众"], unlinked["领取失败-未核验到身份"]) == ("未关联", "1", "1")
    total = dict(zip(header, rows[-1], strict=True))
    assert (total["区县代码"], total["发卡总数"], total["领取失败-身份证号无效"]) == ("合计", "5", "1")

    ranged = await admin.get(
        f"/staff/dashboard/report.csv?from={(D + dt.timedelta(days=1)).isoformat()}"
        f"&to={(D + dt.timedelta(days=1)).isoformat()}"
    )
    ranged_rows = list(csv.reader(io.StringIO(ranged.body[3:].decode("utf-8"))))
    assert dict(zip(header, ranged_rows[-1], strict=True))["发卡总数"] == "1"  # only the teacher, after midnight
    assert (await admin.get("/staff/dashboard/report.csv?from=nonsense")).status == 400

    async with api.db.reading() as session:
        exports = (await session.scalars(select(AuditEntry).where(AuditEntry.action == "export_report"))).all()
    assert [e.detail for e in exports] == [
        f"累计，{len(rows) - 2} 行",
        f"{(D + dt.timedelta(days=1)).isoformat()}~{(D + dt.timedelta(days=1)).isoformat()}，{len(ranged_rows) - 2} 行",
    ]


# -- the charts themselves -----------------------------------------------------------------------


def test_charts_are_well_formed_and_escape_their_text() -> None:
    label = "<b>&\"'\x00\x1f名称"
    for svg in (
        column_chart("c1", label, [label, "b"], [Series(label, [1, 2]), Series("二", [3, 0])]),
        bar_chart("c2", label, [label, "很长很长很长很长很长很长很长很长很长很长的学校名称"], [Series(label, [5, 7])]),
        line_chart("c3", label, ["01", "02", "03"], [Series(label, [0, 4, 2])]),
        column_chart("c4", "空", [], []),
        bar_chart("c5", "零", ["a"], [Series("x", [0])]),
    ):
        root = ET.fromstring(str(svg))
        assert root.tag == SVG + "svg" and root.find(SVG + "title") is not None
        assert "<b>" not in str(svg)
    empty = ET.fromstring(str(column_chart("c4", "空", [], [])))
    assert "暂无数据" in "".join(empty.itertext())
    stacked = ET.fromstring(str(column_chart("c6", "t", ["a"], [Series("x", [3]), Series("y", [4])])))
    assert tooltips(stacked) == {"a · x": "3", "a · y": "4"}
    assert [t.text for t in stacked.iter(SVG + "text") if t.text in ("x", "y")] == ["x", "y"]  # the legend


def test_nice_ticks() -> None:
    assert nice_ticks(0) == [0.0, 1.0]
    assert nice_ticks(4) == [0, 1, 2, 3, 4]
    assert nice_ticks(9)[-1] >= 9 and len(nice_ticks(9)) <= 6
    assert nice_ticks(1234)[-1] >= 1234 and nice_ticks(1234)[1] in (200, 500)
