"""What the not-claimed tests share: the accounts (conftest.py signs them
in), the lists the registry and cards of campaign_data.py must give, and
the check that a page or a file shows no person's full ID number or full
name."""

from __future__ import annotations

import re

from identity import mask_id, mask_name
from tests.backend.campaign.campaign_data import Member, members

PASSWORD = "a long enough password"
ACCOUNTS = {
    "prov_admin": ("admin", None),
    "desk_agent": ("agent", None),
    "nc_city": ("district", "3601"),
    "donghu": ("district", "360102"),
    "one_school": ("school", "3601020102"),
}
FULL_ID = re.compile(r"(?<![0-9A-Za-z.])[0-9]{17}[0-9Xx](?![0-9A-Za-z])")
ROW = re.compile(
    r'<tr class="person" data-kind="(student|teacher)">.*?<td class="name">([^<]*)</td>\s*<td class="id">([^<]*)</td>'
)


def unclaimed(school: str, grade: str | None = None, klass: str | None = None, kind: str = "student") -> list[Member]:
    """The enrolled students (active teachers) of a unit without a card."""
    wanted = "enrolled" if kind == "student" else "active"
    return [
        m
        for m in members()
        if m.kind == kind
        and m.status == wanted
        and not m.claimed
        and m.school[0] == school
        and (grade is None or m.grade == grade)
        and (klass is None or m.class_name == klass)
    ]


def masked(people: list[Member]) -> list[tuple[str, str]]:
    return sorted((mask_name(m.name), mask_id(m.id_number)) for m in people)


def assert_nothing_in_full(text: str) -> None:
    """No full ID number at all, and no person's full name (names masked)."""
    assert not FULL_ID.search(text), FULL_ID.search(text)
    for m in members():
        assert m.id_number not in text
        assert m.name not in text, m.name


def page_rows(html: str, kind: str) -> list[tuple[str, str]]:
    return sorted((name, id_) for k, name, id_ in ROW.findall(html) if k == kind)
