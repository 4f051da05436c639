"""The campaign report counts cards by district, school and identity, and
failed claims by failure code."""

from __future__ import annotations

import io

from backend.report import campaign_rows, write_csv
from tests.conftest import Api
from tests.people import GRADUATED, PUBLIC, SCHOOL, TEACHER, TEACHER_AND_UNIVERSITY, XIAOMING


async def test_report_counts(api: Api) -> None:
    await api.claim(path="k12_student", name=XIAOMING.name, id_number=XIAOMING.id_number)
    await api.claim(path="teacher", name=TEACHER.name, id_number=TEACHER.id_number)
    await api.claim(path="teacher", name=TEACHER_AND_UNIVERSITY.name, id_number=TEACHER_AND_UNIVERSITY.id_number)
    await api.claim(path="public", name=PUBLIC.name, id_number=PUBLIC.id_number)
    await api.claim(path="k12_student", name=GRADUATED.name, id_number=GRADUATED.id_number)  # not_enrolled
    await api.claim(path="k12_student", name="张三", id_number=PUBLIC.id_number)  # identity_not_found
    rows = {(r["district_code"], r["school_code"]): r for r in await campaign_rows(api.db)}
    school = rows[(SCHOOL[2], SCHOOL[0])]
    assert school["school_name"] == SCHOOL[1]
    assert (school["cards_total"], school["cards_k12_student"], school["cards_teacher"]) == (2, 1, 1)
    uni = [r for r in rows.values() if r["school_name"] == "南昌大学"][0]
    assert (uni["cards_total"], uni["cards_university_student"], uni["cards_teacher"]) == (1, 1, 1)
    assert (school["failures_not_enrolled"], uni["failures_not_enrolled"]) == (1, 0)  # the graduate's school
    unknown = rows[("", "")]
    assert (unknown["cards_public"], unknown["failures_identity_not_found"]) == (1, 1)
    out = io.StringIO()
    write_csv(list(rows.values()), out)
    assert out.getvalue().count("\n") == len(rows) + 1
