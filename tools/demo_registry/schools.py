"""The school catalogue: fixed, independent of the seed. Every county has
primary schools, a nine-year school and a junior middle school; city
districts share the city's numbered middle schools and secondary
vocational schools, counties have their own; universities come from the
reference data."""

from __future__ import annotations

from dataclasses import dataclass

from backend.registry.jiangxi import CITIES, COUNTIES, UNIVERSITIES
from tools.demo_registry.shape import expand

School = tuple[str, str]  # (school_code, school_name)
# (code, name, district code, undergraduate?, weight)
University = tuple[str, str, str, bool, int]

_NINE_YEAR = ("育新", "育才", "明德", "阳光")
_DIGITS = "零一二三四五六七八九"


def cn_number(n: int) -> str:
    """Chinese numeral for 1..99 (十, 十九, 二十, 二十一)."""
    if n < 10:
        return _DIGITS[n]
    tens, ones = divmod(n, 10)
    head = "十" if tens == 1 else _DIGITS[tens] + "十"
    return head + (_DIGITS[ones] if ones else "")


@dataclass(frozen=True)
class Catalogue:
    by_stage: dict[str, list[list[School]]]  # per K-12 stage, per county index
    all_k12: list[list[School]]  # per county index: every K-12 school
    universities: list[University]
    # Weighted pools of universities: all, and those with a fourth year.
    univ_all: list[University]
    univ_undergrad: list[University]


def build_catalogue() -> Catalogue:
    by_stage: dict[str, list[list[School]]] = {
        s: [[] for _ in COUNTIES] for s in ("primary", "junior", "senior", "vocational")
    }
    all_k12: list[list[School]] = [[] for _ in COUNTIES]
    city_middle: dict[str, int] = {}
    city_vocational: dict[str, int] = {}
    for i, (code, name, _) in enumerate(COUNTIES):
        city = CITIES[code[:4]]
        urban = name.endswith("区")
        # The county's schools in order; their codes number them from 001.
        schools: list[tuple[str, tuple[str, ...]]] = [(f"{name}实验小学", ("primary",))]
        for k in (1, 2, 3):
            schools.append((f"{name}第{cn_number(k)}小学", ("primary",)))
        schools.append((f"{name}{_NINE_YEAR[i % len(_NINE_YEAR)]}学校", ("primary", "junior")))
        schools.append((f"{name}实验中学", ("junior",)))
        if urban:
            # City-numbered secondary schools (junior + senior sections).
            for _ in range(4 if city == "南昌" else 2):
                city_middle[city] = city_middle.get(city, 0) + 1
                schools.append((f"{city}市第{cn_number(city_middle[city])}中学", ("junior", "senior")))
            city_vocational[city] = city_vocational.get(city, 0) + 1
            schools.append((f"{city}市第{cn_number(city_vocational[city])}中等专业学校", ("vocational",)))
        else:
            schools.append((f"{name}第一中学", ("senior",)))
            schools.append((f"{name}第二中学", ("junior", "senior")))
            schools.append((f"{name}中等专业学校", ("vocational",)))
        for serial, (school, stages) in enumerate(schools, start=1):
            entry = (f"3{code}{serial:03d}", school)
            for stage in stages:
                by_stage[stage][i].append(entry)
            all_k12[i].append(entry)
    universities = [
        (f"41360{10400 + k}", uname, district, undergrad, weight)
        for k, (uname, district, undergrad, weight) in enumerate(UNIVERSITIES)
    ]
    univ_all = expand(universities, [u[4] for u in universities], 1.0)
    # Three-year colleges have no 大四: fourth-years go to undergraduate schools.
    undergrad = [u for u in universities if u[3]]
    univ_undergrad = expand(undergrad, [u[4] for u in undergrad], 1.0)
    return Catalogue(by_stage, all_k12, universities, univ_all, univ_undergrad)
