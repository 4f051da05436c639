"""The campaign's console pages in real headless Chromium (issue 15, item 8),
against the backend alone: the registry and cards of campaign_data.py, the
backend served in-process on a loopback port (conftest.py's
`accounts_api`), no Rasa. SQLite only: the figures' SQL is tested on both
databases by test_coverage.py; here it is what a person sees and clicks.

A city's district account signs in through the form, reads the coverage
table of its city and clicks down city → county → school → grade → class
(every figure shown equal to coverage's, every rate and total consistent,
no unit outside its scope anywhere, an address typed for one refused),
follows the class's link to its not-claimed list (masked names and ID
numbers only), opens 待修改学籍 and the 通报, and the 通报 printed (print
media emulated) shows the report without the console's navigation. A
school's account sees its school only.

Selenium blocks, and the backend answers on the test's event loop: each
browser scenario runs in a thread (`asyncio.to_thread`) while the loop
serves it. Screenshots land in tests/artifacts/; with
XXH_UPDATE_SCREENSHOTS=1 the coverage table, the not-claimed list, the
records to fix and the 通报 are also copied to docs/screenshots/ (the
README's pictures).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from typing import Any

import pytest
from selenium.webdriver.common.by import By

from backend.campaign.coverage import LEVEL_LABELS, coverage
from backend.campaign.scope import Scope
from identity import mask_id, mask_name
from tests.backend.campaign.campaign_data import SCHOOLS, Member, as_figures, members
from tests.backend.campaign.not_claimed_lists import FULL_ID, PASSWORD, assert_nothing_in_full, masked, unclaimed
from tests.conftest import Api
from tests.e2e.browser import Browser, publish, start_chromium
from tests.people import make_id

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

WINDOW = (1100, 800)  # the README's pictures: small enough to read at a glance
Figures = dict[str, tuple[int, int, int, int]]
CITY, COUNTY, SCHOOL, GRADE = "3601", "360102", "3601020101", "一年级"
CLASS = f"{SCHOOL}/{GRADE}/1班"
MY_SCHOOL = "3601020102"  # the school account's (not_claimed_lists.ACCOUNTS: one_school)
# What a 南昌 account must never be shown: 瑞金 (3607, a 省直管县) and its school.
OUTSIDE_CITY = ("瑞金", "360781", "3607810301")
GUARDIAN = ("胡建国", make_id("360102", "19850101", 901))
MASKED_NAME = re.compile(r"^[\u4e00-\u9fff]\*+[\u4e00-\u9fff]?$")
MASKED_ID = re.compile(r"^\d{4}\*{10}\d{3}[\dX]$")
WRONG_NAME = "李晓明"  # typed for a student recorded under another name


@pytest.fixture
def browser() -> Iterator[Browser]:
    """A desktop browser whose page area is WINDOW (the window is that much
    larger than its page, even headless)."""
    b = Browser(start_chromium(*WINDOW), "campaign")
    try:
        inner = b.driver.execute_script("return [window.innerWidth, window.innerHeight]")
        b.driver.set_window_size(2 * WINDOW[0] - inner[0], 2 * WINDOW[1] - inner[1])
        yield b
    finally:
        b.quit()


# -- the data: claims failed on the registry, coverage's own figures ---------------------------


def _student(school: str, **kw: Any) -> Member:
    return next(
        m
        for m in members()
        if m.kind == "student" and m.school[0] == school and all(getattr(m, k) == v for k, v in kw.items())
    )


async def fail_claims(api: Api) -> list[str]:
    """Four claims failed on the registry (records to fix), one in each
    school; the schools' codes."""
    parent = {"path": "parent", "guardian_name": GUARDIAN[0], "guardian_id_number": GUARDIAN[1]}
    no_guardian = _student(SCHOOL, grade=GRADE, class_name="1班", claimed=False)  # none is recorded
    suspended = _student(MY_SCHOOL, status="suspended")
    other_name = _student("3601110201", status="enrolled", claimed=False)
    outside = _student("3607810301", status="enrolled", claimed=False)
    failed = [
        ({**parent, "name": no_guardian.name, "id_number": no_guardian.id_number}, "guardian_mismatch"),
        ({"path": "k12_student", "name": suspended.name, "id_number": suspended.id_number}, "not_enrolled"),
        ({"path": "k12_student", "name": WRONG_NAME, "id_number": other_name.id_number}, "identity_not_found"),
        ({**parent, "name": outside.name, "id_number": outside.id_number}, "guardian_mismatch"),
    ]
    for n, (body, code) in enumerate(failed):
        status, answer = await api.claim(**body, channel_user=f"browser-{n}")
        assert (status, answer["code"]) == (422, code), answer
    return [m.school[0] for m in (no_guardian, suspended, other_name, outside)]


async def figures(api: Api, scope: Scope, level: str, within: str | None = None) -> Figures:
    async with api.db.reading() as session:
        rows = await coverage(session, level, scope, within=within)
    return as_figures([r.as_json() for r in rows])


# -- what the browser does and reads --------------------------------------------------------------


def sign_in(b: Browser, base: str, username: str) -> None:
    """Through the login form, as a person does: campaign accounts land on the dashboard."""
    b.base_url = base
    b.open("/staff")
    b.wait_for(lambda d: b.path.startswith("/staff/login"), "the login form")
    b.type_into("input[name=username]", username)
    b.type_into("input[name=password]", PASSWORD)
    b.find("form[action='/staff/login'] button[type=submit]").click()
    b.wait_for(lambda d: b.path.startswith("/staff/dashboard"), "the dashboard after signing in")
    assert username in b.find("header .who").text


def shown_coverage(b: Browser) -> Figures:
    """The coverage table as shown: unit -> (students, claimed, teachers, claimed);
    each rate shown is the one its figures give, and the total row their sum."""
    out: Figures = {}
    for tr in b.find_all("#coverage-table tbody tr[data-unit]"):
        cells = [td.text.strip() for td in tr.find_elements(By.CSS_SELECTOR, "td")]
        students, s_claimed, teachers, t_claimed = (int(cells[i]) for i in (2, 3, 5, 6))
        assert cells[4] == rate(s_claimed, students) and cells[7] == rate(t_claimed, teachers), cells
        out[cells[0]] = (students, s_claimed, teachers, t_claimed)
        assert tr.get_attribute("data-unit") == cells[0]
    total = [td.text.strip() for td in b.find_all("#coverage-total td")]
    assert [int(total[i]) for i in (2, 3, 5, 6)] == [sum(f[i] for f in out.values()) for i in range(4)], total
    return out


def rate(claimed: int, people: int) -> str:
    return f"{round(claimed * 100 / people, 1):.1f}%" if people else "—"


def at_level(b: Browser, level: str, within: str) -> None:
    b.wait_for(
        lambda d: (
            b.find("#section-coverage").get_attribute("data-level") == level
            and b.find("#section-coverage").get_attribute("data-within") == within
        ),
        f"the coverage table by {level} within {within or 'the scope'}",
    )


def drill(b: Browser, unit: str, level: str) -> None:
    """Click a unit's name in the coverage table: the table of its units one level down."""
    link = b.find(f"#coverage-table tr[data-unit='{unit}'] td:nth-child(2) a")
    b.tap(link)
    at_level(b, level, unit)


def nothing_outside(b: Browser, outside: tuple[str, ...], where: str) -> None:
    text, source = b.find("body").text, b.driver.page_source
    for unit in outside:
        assert unit not in text and unit not in source, f"{where}: {unit} shown"


def no_person_in_full(b: Browser, where: str) -> None:
    source = b.driver.page_source
    assert not FULL_ID.search(source), f"{where}: a full ID number in the DOM"
    assert_nothing_in_full(source)
    assert WRONG_NAME not in source and GUARDIAN[0] not in source and GUARDIAN[1] not in source, where


def fixes_rows(b: Browser) -> list[list[str]]:
    return [
        [td.text.strip() for td in tr.find_elements(By.CSS_SELECTOR, "td")]
        for tr in b.find_all("#fixes-table tbody tr")
    ]


def assert_fixes_masked(rows: list[list[str]]) -> None:
    for row in rows:
        assert MASKED_NAME.match(row[4]) and MASKED_ID.match(row[5]), row  # 学生, 身份证号
        assert not row[8] or "*" in row[8], row  # 领卡时所填


def no_script_errors(b: Browser) -> None:
    errors = b.console_errors()
    assert not errors, errors  # nothing refused by the page's policy, no script error


def refused(b: Browser, path: str, status: int) -> str:
    """Open an address the account may not see: the browser reports `status`
    for it (and nothing else went wrong before); the page's text."""
    no_script_errors(b)
    b.open(path)
    errors = b.console_errors()
    assert len(errors) == 1 and path in errors[0] and f"status of {status}" in errors[0], errors
    return str(b.find("body").text)


def shot(b: Browser, name: str) -> None:
    """The top of the page (WINDOW); published to docs/screenshots/ with
    XXH_UPDATE_SCREENSHOTS=1."""
    b.driver.execute_script("window.scrollTo(0, 0)")
    publish(b.screenshot(name))


# -- a city's account ------------------------------------------------------------------------------


def city_scenario(b: Browser, base: str, expect: dict[str, Any]) -> None:
    sign_in(b, base, "nc_city")
    b.wait_visible("#coverage-table")
    at_level(b, "county", "")  # a city's account starts at its counties...
    assert shown_coverage(b) == expect["county"]
    nothing_outside(b, OUTSIDE_CITY, "the city's counties")
    b.open("/staff/dashboard?level=city")  # ...and by city, its city is all there is
    at_level(b, "city", "")
    assert shown_coverage(b) == expect["city"] and list(expect["city"]) == [CITY]
    nothing_outside(b, OUTSIDE_CITY, "the table by city")
    drill(b, CITY, "county")
    assert shown_coverage(b) == expect["county"]
    drill(b, COUNTY, "school")
    assert shown_coverage(b) == expect["school"]
    assert "3601110201" not in b.find("#section-coverage").text  # another county's school: not in this table
    crumbs = b.find("#coverage-crumbs").text
    assert crumbs.startswith(f"{LEVEL_LABELS['county']} › {LEVEL_LABELS['school']}（{COUNTY}）"), crumbs
    drill(b, SCHOOL, "grade")
    assert shown_coverage(b) == expect["grade"]
    drill(b, f"{SCHOOL}/{GRADE}", "class")
    assert shown_coverage(b) == expect["class"]
    nothing_outside(b, OUTSIDE_CITY, "the class table")
    no_person_in_full(b, "the dashboard")
    shot(b, "campaign-coverage")

    # The class's link to who in it has not claimed.
    b.tap(b.find(f"#coverage-table tr[data-unit='{CLASS}'] a.not-claimed"))
    b.wait_for(lambda d: b.path.startswith("/staff/campaign/not-claimed?"), "the class's not-claimed list")
    b.wait_visible("#people-table")
    people = sorted(
        (tr.find_element(By.CSS_SELECTOR, "td.name").text, tr.find_element(By.CSS_SELECTOR, "td.id").text)
        for tr in b.find_all("#people-table tr.person")
    )
    assert people == masked(unclaimed(SCHOOL, GRADE, "1班")) and len(people) == 3, people
    assert all(MASKED_NAME.match(name) and MASKED_ID.match(id_) for name, id_ in people), people
    crumbs = b.find("#not-claimed-crumbs").text
    assert GRADE in crumbs and "1班" in crumbs, crumbs
    no_person_in_full(b, "the not-claimed list")
    shot(b, "campaign-not-claimed")
    # A school outside the scope is not found, whether the address is typed or not.
    assert "不在您的账号范围内" in refused(b, "/staff/campaign/not-claimed?school=3607810301", 404)
    nothing_outside(b, ("瑞金",), "the refused list")
    b.open("/staff/dashboard?level=school&within=360781")
    at_level(b, "school", "360781")
    assert shown_coverage(b) == {} and b.find_all("#coverage-table tr.empty")
    nothing_outside(b, ("瑞金", "3607810301"), "a county of another city")

    # 待修改学籍: the city's schools' records, none of 瑞金's.
    b.tap(b.find("header nav a[href='/staff/fixes']"))
    b.wait_visible("#fixes-table", "the records to fix")
    rows = fixes_rows(b)
    assert sorted(r[0] for r in rows) == sorted(s for s in expect["failures"] if s.startswith(CITY)), rows
    assert len(rows) == 3 and all(r[10] == "待修改" for r in rows), rows
    assert_fixes_masked(rows)
    problems = {r[0]: (r[6], r[8]) for r in rows}  # 问题, 领卡时所填
    assert problems[SCHOOL][0] == "监护人信息缺失" and mask_id(GUARDIAN[1]) in problems[SCHOOL][1], problems
    assert problems[MY_SCHOOL] == ("非在读", ""), problems
    assert problems["3601110201"] == ("姓名不符", f"所填姓名 {mask_name(WRONG_NAME)}"), problems  # 李*明
    nothing_outside(b, OUTSIDE_CITY, "the records to fix")
    no_person_in_full(b, "the records to fix")
    shot(b, "campaign-fixes")

    # The 通报 of the city: its counties ranked, with coverage's figures.
    b.tap(b.find("header nav a[href='/staff/campaign/bulletin']"))
    b.wait_visible("#bulletin", "the 通报")
    assert b.find("#bulletin").get_attribute("data-unit") == CITY
    ranking: Figures = {}
    for tr in b.find_all("#ranking-table tbody tr[data-unit]"):
        cells = [td.text.strip() for td in tr.find_elements(By.CSS_SELECTOR, "td")]
        ranking[cells[1]] = (int(cells[3]), int(cells[4]), int(cells[6]), int(cells[7]))
    # Every county of the city is ranked, those without anyone in the registry with zeros.
    assert {code: f for code, f in ranking.items() if any(f)} == expect["county"], ranking
    assert all(code.startswith(CITY) and len(code) == 6 for code in ranking), ranking
    nothing_outside(b, OUTSIDE_CITY, "the 通报")
    no_person_in_full(b, "the 通报")
    shot(b, "campaign-bulletin")
    assert_printed_without_navigation(b)
    no_script_errors(b)


def assert_printed_without_navigation(b: Browser) -> None:
    """Printed (print media emulated through Chromium's DevTools protocol):
    the report on an A4 page, the console's bar and the page's tools gone."""
    assert b.find("header.topbar").is_displayed() and b.find("#bulletin-tools").is_displayed()
    b.driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        assert b.driver.execute_script("return window.matchMedia('print').matches") is True
        assert not b.find("header.topbar").is_displayed()
        assert not b.find("#bulletin-tools").is_displayed()
        assert all(not nav.is_displayed() for nav in b.find_all("nav"))
        assert b.find("#bulletin").is_displayed() and b.find("#ranking-table").is_displayed()
        border = b.driver.execute_script("return getComputedStyle(document.getElementById('bulletin')).borderTopWidth")
        assert border == "0px", border
        # Chromium prints it: one PDF of A4 pages (Page.printToPDF keeps the page's @page size).
        pdf = b.driver.execute_cdp_cmd("Page.printToPDF", {"preferCSSPageSize": True})
        assert pdf["data"].startswith("JVBERi0"), pdf["data"][:16]  # %PDF-, base64
    finally:
        b.driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
    assert b.find("header.topbar").is_displayed()


async def test_a_city_drills_down_to_a_class_and_its_lists(accounts_api: Api, browser: Browser) -> None:
    failures = await fail_claims(accounts_api)
    scope = Scope.parse("district", CITY)
    expect = {
        "city": await figures(accounts_api, scope, "city"),
        "county": await figures(accounts_api, scope, "county"),
        "school": await figures(accounts_api, scope, "school", COUNTY),
        "grade": await figures(accounts_api, scope, "grade", SCHOOL),
        "class": await figures(accounts_api, scope, "class", f"{SCHOOL}/{GRADE}"),
        "failures": failures,
    }
    assert set(expect["county"]) == {"360102", "360111"} and CLASS in expect["class"]
    base = str(accounts_api.client.make_url("")).rstrip("/")
    await asyncio.to_thread(city_scenario, browser, base, expect)


# -- a school's account --------------------------------------------------------------------------


def school_scenario(b: Browser, base: str, expect: dict[str, Any]) -> None:
    sign_in(b, base, "one_school")
    b.wait_visible("#coverage-table")
    at_level(b, "school", "")
    assert shown_coverage(b) == expect["school"]
    others = [(code, name) for code, name, *_ in SCHOOLS if code != MY_SCHOOL]
    nothing_outside(b, tuple(v for school in others for v in school), "the school's dashboard")
    drill(b, MY_SCHOOL, "grade")
    assert shown_coverage(b) == expect["grade"]
    # No 通报 (it ranks the units a bureau oversees), and no other school's list.
    assert not b.find_all("header nav a[href='/staff/campaign/bulletin']")
    assert "东湖区" not in refused(b, "/staff/campaign/bulletin", 403) and not b.find_all("#bulletin")
    text = refused(b, f"/staff/campaign/not-claimed?school={SCHOOL}", 404)
    assert "不在您的账号范围内" in text and "东湖区实验小学" not in text
    b.open("/staff/fixes")
    b.wait_visible("#fixes-table", "the school's records to fix")
    rows = fixes_rows(b)
    assert [r[0] for r in rows] == [MY_SCHOOL] and rows[0][10] == "待修改", rows
    assert_fixes_masked(rows)
    no_person_in_full(b, "the school's records to fix")
    no_script_errors(b)


async def test_a_school_sees_only_its_school(accounts_api: Api, browser: Browser) -> None:
    await fail_claims(accounts_api)
    scope = Scope.parse("school", MY_SCHOOL)
    expect = {
        "school": await figures(accounts_api, scope, "school"),
        "grade": await figures(accounts_api, scope, "grade", MY_SCHOOL),
    }
    assert list(expect["school"]) == [MY_SCHOOL]
    base = str(accounts_api.client.make_url("")).rstrip("/")
    await asyncio.to_thread(school_scenario, browser, base, expect)
