"""Who has not claimed (backend/campaign/not_claimed.py), attacked: every
account sees the lists of its own scope only, whatever it puts in the
URL; agents and the anonymous see none. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest

from identity import mask_id, mask_name
from tests.backend.campaign.campaign_data import members
from tests.conftest import Api

PAGE = "/staff/campaign/not-claimed"
EXPORT = PAGE + "/export"
API = "/staff/api/not-claimed"
OWN = "3601020102"  # one_school's school, in donghu's county and nc_city's city


def traces(school: str, names: bool = True) -> list[str]:
    """What a response about `school` would show: its code, its name, its
    people masked (masked names are not unique: `names` only where no
    list at all may be shown)."""
    people = [m for m in members() if m.school[0] == school]
    shown = [school, people[0].school[1]] + [mask_id(m.id_number) for m in people]
    return shown + ([mask_name(m.name) + "</td>" for m in people] if names else [])


# (account, school it must not see)
OUTSIDE = [
    ("one_school", "3601020101"),  # the next school of the same county
    ("one_school", "3607810301"),
    ("donghu", "3601110201"),  # another county of the city
    ("nc_city", "3607810301"),  # another city
]


def attacks(school: str) -> list[str]:
    g, c = quote("一年级"), quote("1班")
    return [
        f"{PAGE}?school={school}",
        f"{PAGE}?school={school}&grade={g}",
        f"{PAGE}?school={school}&grade={g}&class={c}",
        f"{PAGE}?school={school}&grade={g}&class={c}&page=2",
        f"{PAGE}?school=%20{school}%20&grade={g}&class={c}",
        f"{PAGE}?school={school}&school={OWN}&grade={g}&class={c}",
        f"{EXPORT}?format=csv&school={school}",
        f"{EXPORT}?format=xlsx&school={school}&grade={g}&class={c}",
        f"{API}?unit={school}",
        f"{API}?unit={school}&kind=teachers",
        f"{API}?unit={school}/{g}/{c}",
        f"{API}?unit={OWN}/../{school}",
        f"{API}?unit={school}&unit={OWN}",
    ]


@pytest.mark.parametrize(("username", "school"), OUTSIDE)
async def test_another_schools_lists_are_not_found(accounts_api: Api, login: Any, username: str, school: str) -> None:
    c = await login(username)
    for path in attacks(school):
        status, body, _ = await c.get(path)
        text = body.decode("utf-8", "replace")
        if "/../" in path:  # the own school's grade "..", class of the other school's code: nothing
            assert status == 200 and json.loads(body)["rows"] == [], (username, path, status)
        else:
            assert status in (403, 404), (username, path, status)
        for trace in traces(school)[1 if "/../" in path else 0 :]:  # (the unit asked for is echoed)
            assert trace not in text, (username, path, trace)
    exports = await accounts_api.scalar("SELECT count(*) FROM staff_audit WHERE action = 'export_not_claimed'")
    assert exports == 0  # nothing was exported


INJECTIONS = [
    f"{OWN}' OR '1'='1",
    f"{OWN},3601020101",
    "3601020%",
    "36010201_1",
    f"{OWN}%00",
    "'; DROP TABLE students; --",
    "3601020101\u0000",
    "%",
]


async def test_ids_in_the_url_are_taken_as_they_are(accounts_api: Api, login: Any) -> None:
    c = await login("one_school")
    paths = [
        path
        for value in INJECTIONS
        for path in (
            f"{PAGE}?school={quote(value)}",
            f"{PAGE}?school={OWN}&grade={quote(value)}&class=1",
            f"{EXPORT}?school={quote(value)}",
            f"{API}?unit={quote(value)}",
            f"{API}?unit={OWN}/{quote(value)}/{quote(value)}",
        )
    ]
    for path in paths:
        status, body, _ = await c.get(path)
        assert status < 500, (path, status)
        text = body.decode("utf-8", "replace")
        for other in ("3601020101", "3601110201", "3607810301"):
            for trace in traces(other, names=False)[1:]:  # (codes typed into the URL are echoed)
                assert trace not in text, (path, trace)
        if status == 200 and path.startswith(API):
            assert json.loads(body)["rows"] == [], path
    assert await accounts_api.scalar("SELECT count(*) FROM students") == sum(
        1 for m in members() if m.kind == "student"
    )


async def test_agents_and_the_anonymous_see_no_list(accounts_api: Api, login: Any) -> None:
    agent = await login("desk_agent")
    anonymous = await login()
    for path in (f"{PAGE}?school={OWN}", f"{EXPORT}?school={OWN}", f"{API}?unit={OWN}", PAGE):
        status, body, _ = await agent.get(path)
        assert status == 403, (path, status)
        assert all(t not in body.decode() for t in traces(OWN)[1:])
        status, body, headers = await anonymous.get(path)
        assert status == (401 if path.startswith(API) else 302), (path, status)
        assert all(t not in body.decode() for t in traces(OWN)[1:])


async def test_each_account_sees_its_own_school(accounts_api: Api, login: Any) -> None:
    for username in ("prov_admin", "nc_city", "donghu", "one_school"):
        c = await login(username)
        status, body, _ = await c.get(f"{API}?unit={OWN}/{quote('一年级')}/{quote('1班')}")
        assert status == 200, (username, body[:300])
        rows = json.loads(body)["rows"]
        assert rows and all(r["school_code"] == OWN for r in rows)
        status, body, _ = await c.get(f"{PAGE}?school={OWN}")
        assert status == 200 and "东湖区第二小学" in body.decode()
