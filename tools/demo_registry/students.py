"""students.csv, a family at a time: one to four children sharing a
surname, a home county and (for most K-12 families) one or two guardians;
siblings at least two years apart; the second family always has four
children with guardian data, so every registry exercises the proxy-claim
cap. A few people are both a teacher and a university student
(`overlap_people`): drawn first, written to both files."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from typing import NamedTuple

from identity.names import MIDDLE_DOT
from tools.demo_registry.ids import AREA_STR
from tools.demo_registry.people import People
from tools.demo_registry.schools import Catalogue
from tools.demo_registry.shape import (
    CLASS_COUNT,
    CLASS_NAMES,
    GRADES,
    P_FATHER_FIRST,
    P_GUARDIANS_K12,
    P_GUARDIANS_UNIVERSITY,
    P_HOME_DISTRICT,
    P_LATE_START,
    P_MALE_CHILD,
    P_MINORITY,
    P_MULTI_CHILD_FAMILY,
    P_SECOND_GUARDIAN,
    P_VOCATIONAL,
    REFERENCE_DATE,
    RELATION,
    expand,
)

EMPTY_GUARDIANS = ["", "", "", "", "", ""]
GENDERS = ("F", "M")  # by male 0/1
Row = list[str]


class Person(NamedTuple):
    name: str
    id_number: str
    male: int
    age: int  # teacher-and-university-student people: their age; children: their school year
    day: int  # birth date, as a day index of the student ID space


def overlap_people(people: People, n: int) -> list[Person]:
    """People who are both a university student and a K-12 teacher (aged 20-22)."""
    rnd = people.rnd
    found = []
    for _ in range(n):
        male = int(rnd() < 0.45)
        age = 20 + int(rnd() * 3)
        lo, hi = people.age_days[age]
        area = people.area()
        day = lo + int(rnd() * (hi - lo + 1))
        pid = people.student_ids.issue(area, day, male)
        name = people.minority_name(male) if rnd() < P_MINORITY else people.han_name(people.surname(), male, 0)
        found.append(Person(name, pid, male, age, day))
    return found


class Students:
    """Draws students.csv's rows (`rows`), counting what it drew."""

    def __init__(
        self,
        rng: random.Random,
        people: People,
        catalogue: Catalogue,
        count: int,
        overlap: Sequence[Person],
        stages: Sequence[str],
        statuses: Sequence[str],
    ) -> None:
        self.rng, self.rnd, self.people, self.catalogue = rng, rng.random, people, catalogue
        self.count, self.overlap = count, overlap
        # School year 0..15 (一年级 .. 大四), weighted: fewer university students.
        self.school_years = expand(list(range(16)), [1.0] * 12 + [0.45] * 4, 20)
        self.by_stage = {s: 0 for s in stages}
        self.by_status = {s: 0 for s in statuses}
        self.families = self.multi_child = self.guardians = self.without_guardian = self.largest = 0

    def rows(self) -> Iterator[list[Row]]:
        """The rows, a family (or a teacher-and-university-student) at a
        time; the latter spread evenly, the first at row 0."""
        students, n_overlap = self.count, len(self.overlap)
        positions = [j * students // n_overlap for j in range(n_overlap)] if n_overlap else []
        overlap_left = n_overlap
        produced = 0
        while produced < students:
            if overlap_left and (
                produced >= positions[n_overlap - overlap_left] or students - produced == overlap_left
            ):
                p = self.overlap[n_overlap - overlap_left]
                yield [
                    self.university_row(
                        p.name,
                        p.id_number,
                        p.male,
                        p.day,
                        3 if p.age >= 21 else 2,
                        "enrolled",
                        produced,
                        EMPTY_GUARDIANS,
                    )
                ]
                self.by_stage["university"] += 1
                self.by_status["enrolled"] += 1
                self.without_guardian += 1
                overlap_left -= 1
                produced += 1
                continue
            budget = students - produced - overlap_left
            forced = self.families == 1 and budget >= 4
            rows = self.family(self.school_ages(self.family_size(forced, budget)), forced, produced)
            produced += len(rows)
            yield rows

    def family_size(self, forced: bool, budget: int) -> int:
        if forced:
            return 4
        if self.rnd() < P_MULTI_CHILD_FAMILY:
            r = self.rnd()
            return min(2 if r < 0.70 else (3 if r < 0.92 else 4), budget)
        return 1

    def school_ages(self, k: int) -> list[tuple[int, int]]:
        """Children's (school year, age): one child anywhere from 一年级 to
        大四; siblings get distinct K-12 ages at least two years apart."""
        rnd = self.rnd
        if k == 1:
            sy = self.school_years[int(rnd() * len(self.school_years))]
            if sy == 0:
                late = 1 if rnd() < 0.3 else 0
            else:
                late = 1 if rnd() < P_LATE_START else 0
            return [(sy, sy + 6 + late)]
        ages = []
        for j, a in enumerate(sorted(self.rng.sample(range(6, 19 - k), k))):
            age = a + j
            late = 1 if age > 6 and rnd() < P_LATE_START else 0
            ages.append((age - 6 - late, age))
        return ages

    def family(self, ages: list[tuple[int, int]], forced: bool, first_number: int) -> list[Row]:
        rnd, people = self.rnd, self.people
        minority = rnd() < P_MINORITY
        area = people.area()
        home = area if rnd() < P_HOME_DISTRICT else people.area()
        father_surname = people.surname()
        father_given = people.minority_father() if minority else ""
        children = []
        for sy, age in ages:
            lo, hi = people.age_days[age]
            day = lo + int(rnd() * (hi - lo + 1))
            male = 1 if rnd() < P_MALE_CHILD else 0
            sid = people.student_ids.issue(area, day, male)
            if minority:
                name = people.minority_name(male, father_given)
            else:
                name = people.han_name(father_surname, male, 0)
            children.append(Person(name, sid, male, sy, day))
        g = self.guardian_fields(children, forced, area, minority, father_surname, father_given)
        self.families += 1
        if len(children) > 1:
            self.multi_child += 1
        self.largest = max(self.largest, len(children))
        return [self.child_row(child, forced, home, g, first_number + i) for i, child in enumerate(children)]

    def guardian_fields(
        self, children: list[Person], forced: bool, area: int, minority: bool, father_surname: str, father_given: str
    ) -> Row:
        """Guardians: parents born 1970-1995, 20-45 (mother) or 20-50
        (father) years older than the children; or none in the registry."""
        rnd, people = self.rnd, self.people
        all_university = all(c.age >= 12 for c in children)
        if not (forced or rnd() < (P_GUARDIANS_UNIVERSITY if all_university else P_GUARDIANS_K12)):
            self.without_guardian += len(children)
            return EMPTY_GUARDIANS
        day_year = people.student_ids.day_year
        youngest_year = day_year[max(c.day for c in children)]
        hi_year = min(day_year[min(c.day for c in children)] - 21, 1995)  # at least 20 full years older
        if minority:
            father_name = father_given + MIDDLE_DOT + people.minority_father()
        else:
            father_name = people.han_name(father_surname, 1, 1)
        first_male = 1 if rnd() < P_FATHER_FIRST else 0
        g1name, g1id = people.parent(first_male, area, youngest_year, hi_year, father_name, minority)
        if rnd() < P_SECOND_GUARDIAN:
            g2name, g2id = people.parent(
                1 - first_male, area, youngest_year, hi_year, father_name, minority, int(g1id[6:10])
            )
            self.guardians += 2
            return [g1name, g1id, RELATION[first_male], g2name, g2id, RELATION[1 - first_male]]
        self.guardians += 1
        return [g1name, g1id, RELATION[first_male], "", "", ""]

    def child_row(self, child: Person, forced: bool, home: int, g: Row, number: int) -> Row:
        rnd = self.rnd
        name, sid, male, sy, day = child
        if forced:
            status = "enrolled"
        else:
            r = rnd()
            status = "enrolled" if r < 0.95 else "graduated" if r < 0.975 else "suspended" if r < 0.988 else "withdrawn"
        self.by_status[status] += 1
        if sy >= 12:
            self.by_stage["university"] += 1
            return self.university_row(name, sid, male, day, sy - 12, status, number, g)
        if sy < 6:
            stage, grade_idx = "primary", sy
        elif sy < 9:
            stage, grade_idx = "junior", sy - 6
        else:
            stage = "vocational" if rnd() < P_VOCATIONAL else "senior"
            grade_idx = sy - 9
        self.by_stage[stage] += 1
        schools = self.catalogue.by_stage[stage][home]
        scode, sname = schools[int(rnd() * len(schools))]
        classes = CLASS_NAMES[stage]
        return [
            "G" + sid,
            name,
            sid,
            GENDERS[male],
            self.people.student_ids.day_iso[day],
            stage,
            scode,
            sname,
            AREA_STR[home],
            GRADES[stage][grade_idx],
            classes[int(rnd() * len(classes))],
            status,
        ] + g

    def university_row(
        self, name: str, sid: str, male: int, day: int, grade_idx: int, status: str, number: int, g: Row
    ) -> Row:
        # Three-year colleges have no 大四: fourth-years go to undergraduate schools.
        pool = self.catalogue.univ_undergrad if grade_idx >= 3 else self.catalogue.univ_all
        ucode, uname, udistrict, _, _ = pool[int(self.rnd() * len(pool))]
        enrolled_year = REFERENCE_DATE.year - grade_idx
        return [
            f"{enrolled_year}{ucode[-4:]}{number:08d}",
            name,
            sid,
            "MF"[1 - male],
            self.people.student_ids.day_iso[day],
            "university",
            ucode,
            uname,
            udistrict,
            GRADES["university"][grade_idx],
            CLASS_NAMES["university"][int(self.rnd() * CLASS_COUNT["university"])],
            status,
        ] + g
