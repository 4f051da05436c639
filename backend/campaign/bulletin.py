"""The September report (发放领取情况通报): what the province reports on the
distribution (赣教规划字〔2019〕20号: "省教育厅将在9月初对发放领取情况进行通报"),
for the province or for one unit of it:

- the units one level down ranked by claim rate: the province its 11
  设区市 (each listed, with or without registry rows), a city its counties
  (each listed), a county its schools; figures as coverage.py counts them
  (enrolled students and active teachers, those holding a card);
- the totals (coverage.totals over the same rows);
- the trend: cards issued per Beijing day (cards whose district lies in
  the unit) and the cumulative claim rate (registry members of the unit
  holding a card by the end of each day, over the members counted today);
- the main failure causes: failed claim attempts by failure code, with the
  contract's labels.

A unit's code: "36" (the province), a 4-digit city prefix, a 6-digit county
code. Which units an account may ask for: `allowed`. The files: bulletin_files.py.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.campaign.coverage import CoverageRow, coverage, totals
from backend.campaign.days import as_day, day_bucket
from backend.campaign.scope import Scope
from backend.models import Card, ClaimAttempt, Student, Teacher
from backend.registry.jiangxi import CITIES, COUNTIES, city_name, district_name, is_known_district
from contract import beijing as clock
from contract.failures import FAILURE_LABELS
from contract.registry import ACTIVE, COVERAGE_LEVEL_LABELS, ENROLLED

PROVINCE = "36"
PROVINCE_NAME = "江西省"
# The level of the ranked units, by the length of the unit's code.
RANKED_LEVEL = {2: "city", 4: "county", 6: "school"}
RANKED_LABELS = {level: COVERAGE_LEVEL_LABELS[level] for level in ("city", "county", "school")}
MAX_TREND_DAYS = 366  # the trend shows at most the last year of days
NOTICE = "赣教规划字〔2019〕20号"
NOTICE_TITLE = "关于做好江西省终身学习账号发放工作的通知"


class UnitError(ValueError):
    """A unit code that names no unit of Jiangxi."""


def check_unit(unit: str) -> str:
    """The unit's code, checked: 36, a city prefix (3601) or a county code."""
    code = unit.strip()
    if code == PROVINCE:
        return code
    if code.isascii() and code.isdigit() and ((len(code) == 4 and code in CITIES) or is_known_district(code)):
        return code
    raise UnitError("unit: 36 (the province), a 4-digit city prefix such as 3601 or a 6-digit county code")


def unit_name(unit: str) -> str:
    if unit == PROVINCE:
        return PROVINCE_NAME
    return city_name(unit) if len(unit) == 4 else district_name(unit)


def unit_scope(unit: str) -> Scope:
    """The rows a unit's bulletin counts."""
    return Scope("admin") if unit == PROVINCE else Scope("district", (unit,))


def default_unit(scope: Scope) -> str | None:
    """The unit an account's bulletin shows first: the province for admins,
    its own city or county for a district account; None for the others."""
    if scope.role == "admin":
        return PROVINCE
    if scope.role == "district":
        return scope.codes[0]
    return None


def allowed(scope: Scope, unit: str) -> bool:
    """An admin may ask for any unit; a district account for its own city
    or county and the counties within its city; nobody else (a school
    account ranks no units: its figures are on the dashboard)."""
    if scope.role == "admin":
        return True
    if scope.role == "district":
        return unit != PROVINCE and unit.startswith(scope.codes[0])
    return False


@dataclass
class RankedRow:
    rank: int | None  # None: a unit without students or teachers in the registry
    row: CoverageRow

    @property
    def people(self) -> int:
        return self.row.students + self.row.teachers

    @property
    def claimed(self) -> int:
        return self.row.students_claimed + self.row.teachers_claimed

    @property
    def rate(self) -> float | None:
        """Students and teachers together, per cent, one decimal."""
        return round(self.claimed * 100 / self.people, 1) if self.people else None


def overall_rate(row: CoverageRow) -> float | None:
    return RankedRow(None, row).rate


@dataclass
class TrendDay:
    day: str  # YYYY-MM-DD, Beijing
    cards: int  # cards issued that day (all cards of the unit)
    claimed: int  # registry members of the unit holding a card at the end of the day

    def rate(self, people: int) -> float | None:
        return round(self.claimed * 100 / people, 1) if people else None


@dataclass
class FailureCause:
    code: str
    label: str
    attempts: int
    share: float  # per cent of all failed attempts, one decimal


@dataclass
class Bulletin:
    unit: str
    name: str
    level: str  # of the ranked rows
    ranking: list[RankedRow]
    total: CoverageRow
    trend: list[TrendDay]
    failures: list[FailureCause]
    generated_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(clock.BEIJING))

    @property
    def level_label(self) -> str:
        return RANKED_LABELS[self.level]

    @property
    def total_rate(self) -> float | None:
        return overall_rate(self.total)

    @property
    def people(self) -> int:
        return self.total.students + self.total.teachers

    @property
    def failed_attempts(self) -> int:
        return sum(f.attempts for f in self.failures)

    @property
    def title(self) -> str:
        return f"{self.name}学习号发放领取情况通报"


def rank(rows: list[CoverageRow]) -> list[RankedRow]:
    """Highest claim rate (students and teachers together) first; equal
    rates share a rank (1, 2, 2, 4); then the students' rate, then the
    code decide the order. Units without anyone come last, unranked."""

    def key(row: CoverageRow) -> tuple[float, float, str]:
        return (-(overall_rate(row) or 0.0), -(row.students_rate or 0.0), row.code)

    counted = sorted((r for r in rows if r.students or r.teachers), key=key)
    ranked: list[RankedRow] = []
    for i, row in enumerate(counted):
        same = ranked and overall_rate(ranked[-1].row) == overall_rate(row)
        ranked.append(RankedRow(ranked[-1].rank if same else i + 1, row))
    empty = sorted((r for r in rows if not (r.students or r.teachers)), key=lambda r: r.code)
    return ranked + [RankedRow(None, r) for r in empty]


def _all_units(unit: str, level: str, rows: list[CoverageRow]) -> list[CoverageRow]:
    """The rows, with every city of the province or every county of a city
    the registry has nobody for added (zeros): a report names them all."""
    found = {r.code for r in rows}
    if level == "city":
        codes = list(CITIES)
    elif level == "county":
        codes = [code for code, _, _ in COUNTIES if code.startswith(unit)]
    else:
        codes = []
    extra = [CoverageRow(code, unit_name(code)) for code in codes if code not in found]
    return sorted(rows + extra, key=lambda r: r.code)


async def trend(session: AsyncSession, dialect: str, scope: Scope) -> list[TrendDay]:
    """Per Beijing day from the first card on: cards issued, and the
    registry's members (as coverage counts them) holding a card."""
    card_day = day_bucket(Card.created_at, dialect)
    issued = {
        as_day(d): int(n)
        for d, n in await session.execute(
            select(card_day, func.count()).where(scope.where(Card.district_code, Card.school_code)).group_by(card_day)
        )
    }
    members: dict[str, int] = {}
    for model, status in ((Student, ENROLLED), (Teacher, ACTIVE)):
        query = (
            select(card_day, func.count())
            .select_from(Card)
            .join(model, model.id_number == Card.holder_id_number)
            .where(model.status == status, scope.where(model.district_code, model.school_code))
            .group_by(card_day)
        )
        for d, n in await session.execute(query):
            members[as_day(d)] = members.get(as_day(d), 0) + int(n)
    days = sorted(set(issued) | set(members))
    if not days:
        return []
    first, last = dt.date.fromisoformat(days[0]), dt.date.fromisoformat(days[-1])
    out: list[TrendDay] = []
    cumulative = 0
    for i in range((last - first).days + 1):
        day = (first + dt.timedelta(days=i)).isoformat()
        cumulative += members.get(day, 0)
        out.append(TrendDay(day, issued.get(day, 0), cumulative))
    return out[-MAX_TREND_DAYS:]


async def failure_causes(session: AsyncSession, scope: Scope) -> list[FailureCause]:
    """Failed claim attempts of the unit by failure code, most first."""
    counts = [
        (code or "unknown", int(n))
        for code, n in await session.execute(
            select(ClaimAttempt.failure_code, func.count())
            .where(
                ClaimAttempt.action == "claim",
                ClaimAttempt.success.is_(False),
                scope.where(ClaimAttempt.district_code, ClaimAttempt.school_code),
            )
            .group_by(ClaimAttempt.failure_code)
        )
    ]
    total = sum(n for _, n in counts)
    order = list(FAILURE_LABELS)
    counts.sort(key=lambda c: (-c[1], order.index(c[0]) if c[0] in order else len(order), c[0]))
    return [
        FailureCause(code, FAILURE_LABELS.get(code, "其他"), n, round(n * 100 / total, 1) if total else 0.0)
        for code, n in counts
    ]


async def gather(session: AsyncSession, dialect: str, unit: str) -> Bulletin:
    """The bulletin of a unit (checked with check_unit, and with `allowed`
    against the account asking: this function does not check either)."""
    level = RANKED_LEVEL[len(unit)]
    scope = unit_scope(unit)
    rows = await coverage(session, level, scope)
    ranking = rank(_all_units(unit, level, rows))
    return Bulletin(
        unit=unit,
        name=unit_name(unit),
        level=level,
        ranking=ranking,
        total=totals(rows),
        trend=await trend(session, dialect, scope),
        failures=await failure_causes(session, scope),
    )
