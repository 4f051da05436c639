"""teachers.csv: K-12 and university teachers born 1960-2000, retired by
the statutory age (approximately), a few who left; the
teacher-and-university-student people spread evenly among them."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from tools.demo_registry.ids import AREA_STR
from tools.demo_registry.people import People
from tools.demo_registry.schools import Catalogue
from tools.demo_registry.shape import P_HOME_DISTRICT, P_TEACHER_FEMALE, P_TEACHER_UNIVERSITY, REFERENCE_DATE
from tools.demo_registry.students import GENDERS, Person, Row


def teacher_rows(people: People, catalogue: Catalogue, count: int, overlap: Sequence[Person]) -> Iterator[Row]:
    rnd = people.rnd
    ids = people.teacher_ids
    n_overlap = len(overlap)
    positions = [j * count // n_overlap for j in range(n_overlap)] if n_overlap else []
    next_overlap = 0
    for j in range(count):
        if next_overlap < n_overlap and j >= positions[next_overlap]:
            p = overlap[next_overlap]
            next_overlap += 1
            # A young K-12 teacher studying for a degree at the same time.
            district = people.area()
            schools = catalogue.all_k12[district]
            scode, sname = schools[int(rnd() * len(schools))]
            yield [f"T{j + 1:08d}", p.name, p.id_number, GENDERS[p.male], scode, sname, AREA_STR[district], "active"]
            continue
        male = 0 if rnd() < P_TEACHER_FEMALE else 1
        day = int(rnd() * ids.days)
        area = people.area()
        tid = ids.issue(area, day, male)
        name = people.adult_name(male)
        if rnd() < P_TEACHER_UNIVERSITY:
            scode, sname, sdistrict, _, _ = catalogue.univ_all[int(rnd() * len(catalogue.univ_all))]
        else:
            district = area if rnd() < P_HOME_DISTRICT else people.area()
            schools = catalogue.all_k12[district]
            scode, sname = schools[int(rnd() * len(schools))]
            sdistrict = AREA_STR[district]
        # Statutory retirement age (approximate, by birth year): 60 / 55.
        r = rnd()
        if REFERENCE_DATE.year - ids.day_year[day] >= (60 if male else 55):
            status = "retired" if r < 0.85 else "active"
        else:
            status = "left" if r < 0.04 else "active"
        yield [f"T{j + 1:08d}", name, tid, GENDERS[male], scode, sname, sdistrict, status]
