"""ID numbers of fictional people, unique by construction.

Each "ID space" (students, guardians, teachers) keeps a small counter per
(area code, birth date, gender) slot and hands out the slot's sequence
numbers through a bijection of the counter, so two people can never get
the same area + birth date + sequence, without a set of issued IDs. The
spaces are disjoint: students are born 2003-2020, guardians and teachers
before 2001; guardians use sequences 001-499 and teachers 500-999. The
counters take about 12 MB in all.
"""

from __future__ import annotations

import datetime as dt
from array import array
from collections.abc import Callable, Sequence

from backend.registry.jiangxi import COUNTIES
from identity.idnumber import check_char
from tools.demo_registry.shape import STAGE_AGES, age_window, expand

# ID check character, fast path: weighted digit sums are precomputed per part
# (area, birth date, sequence), so a check char is one addition and a lookup.
_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))


def _weighted(digits: str, offset: int) -> int:
    return sum(int(d) * _WEIGHTS[offset + i] for i, d in enumerate(digits))


def _check_by_residue() -> str:
    """Check character per weighted-sum residue, taken from check_char (the
    single source of truth) by probing the last two digit positions."""
    table = [""] * 11
    for a in range(10):
        for b in range(10):
            probe = "0" * 15 + str(a) + str(b)
            table[_weighted(probe, 0) % 11] = check_char(probe)
    if not all(table):
        raise RuntimeError("check_char probe did not reach every residue")
    return "".join(table)


_CHECK = _check_by_residue()
_SEQ_STR = tuple(f"{s:03d}" for s in range(1000))
_SEQ_W = tuple(_weighted(s, 14) for s in _SEQ_STR)

# Area codes: the county-level divisions, by index; AREA_POOL picks one by population.
AREA_STR = tuple(code for code, _, _ in COUNTIES)
_AREA_W = tuple(_weighted(code, 0) for code in AREA_STR)
AREA_POOL = expand(range(len(COUNTIES)), [w for _, _, w in COUNTIES], 4)


class IdSpace:
    """Issues unique ID numbers born between `first` and `last`.

    A counter per (area, day, gender) slot picks the slot's next sequence
    number through a rotated permutation, so IDs are unique by construction.
    When a slot is full the next area code is tried.
    """

    def __init__(self, first: dt.date, last: dt.date, male_seqs: Sequence[int], female_seqs: Sequence[int]) -> None:
        self.first = first
        self.days = (last - first).days + 1
        self.day_str: list[str] = []
        self.day_iso: list[str] = []
        self.day_w: list[int] = []
        for i in range(self.days):
            d = first + dt.timedelta(days=i)
            compact = d.strftime("%Y%m%d")
            self.day_str.append(compact)
            self.day_iso.append(d.isoformat())
            self.day_w.append(_weighted(compact, 6))
        # Spread sequence numbers (a fixed stride permutation) so that the
        # first person of every slot does not get the same sequence.
        self.seqs = (self._spread(female_seqs), self._spread(male_seqs))
        self.caps = (len(female_seqs), len(male_seqs))
        self.counts = array("H", bytes(2 * len(AREA_STR) * self.days * 2))
        self.day_year = [int(d[:4]) for d in self.day_str]
        self.issue: Callable[[int, int, int], str] = self._make_issuer()

    @staticmethod
    def _spread(values: Sequence[int]) -> tuple[int, ...]:
        n = len(values)
        stride = 193 if n % 193 else 197
        return tuple(values[(k * stride + 7) % n] for k in range(n))

    def day_index(self, d: dt.date) -> int:
        return (d - self.first).days

    def _make_issuer(self) -> Callable[[int, int, int], str]:
        """issue(area index, day index, male 0/1) -> a fresh ID number.
        A closure over locals: this runs once or more per row."""
        counts, days, seqs, caps = self.counts, self.days, self.seqs, self.caps
        day_str, day_w = self.day_str, self.day_w
        area_str, area_w, seq_str, seq_w, check = AREA_STR, _AREA_W, _SEQ_STR, _SEQ_W, _CHECK
        n_areas = len(area_str)

        def issue(area: int, day: int, male: int) -> str:
            cap = caps[male]
            slot = ((area * days + day) << 1) | male
            c = counts[slot]
            tries = 1
            while c >= cap:  # slot full: same birth date, next area code
                if tries == n_areas:
                    raise ValueError("demo ID space exhausted for one birth date; too many rows")
                tries += 1
                area = (area + 1) % n_areas
                slot = ((area * days + day) << 1) | male
                c = counts[slot]
            counts[slot] = c + 1
            s = seqs[male][(c + slot * 31) % cap]
            return area_str[area] + day_str[day] + seq_str[s] + check[(area_w[area] + day_w[day] + seq_w[s]) % 11]

        return issue


def student_space() -> IdSpace:
    oldest = age_window(STAGE_AGES["university"][1] - 1)[0]  # age 22
    youngest = age_window(STAGE_AGES["primary"][0])[1]  # age 6
    return IdSpace(oldest, youngest, range(1, 1000, 2), range(2, 1000, 2))


def guardian_space() -> IdSpace:
    return IdSpace(dt.date(1970, 1, 1), dt.date(1995, 12, 31), range(1, 500, 2), range(2, 500, 2))


def teacher_space() -> IdSpace:
    return IdSpace(dt.date(1960, 1, 1), dt.date(2000, 12, 31), range(501, 1000, 2), range(500, 1000, 2))
