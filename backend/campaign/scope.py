"""What a staff account may see of the campaign: everything (`admin`), a
district (`district`: a 6-digit county code, or a 4-digit 设区市 prefix
such as 3601), or schools (`school`: one or more school codes). Stored in
`staff_users.scope` as text: the code, or school codes joined by commas.

A district's scope is geographic: every registry row, card and claim
attempt whose district_code lies in it (universities standing in the
district included: the registry does not tell their students apart from
the district's own by anything but the stage).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import false, func, true
from sqlalchemy.sql.elements import ColumnElement

from backend.registry.jiangxi import CITIES, city_name, district_name, is_known_district
from contract.staff import SCOPED_ROLES, STAFF_ROLES

_SCHOOL_CODE = re.compile(r"^[0-9A-Za-z]{1,32}$")
MAX_SCHOOLS = 200


@dataclass(frozen=True)
class Scope:
    """Codes limiting what an account sees; an empty `codes` of a support
    role means the whole province."""

    role: str
    codes: tuple[str, ...] = ()

    @property
    def everything(self) -> bool:
        return self.role not in SCOPED_ROLES

    @property
    def text(self) -> str | None:
        """As stored in staff_users.scope (None: no scope)."""
        return ",".join(self.codes) if self.role in SCOPED_ROLES else None

    @property
    def label(self) -> str:
        """What the pages call it: 全省, 南昌市, 南昌市东湖区, the school codes."""
        if self.everything:
            return "全省"
        if self.role == "district":
            code = self.codes[0]
            return city_name(code) if len(code) == 4 else district_name(code)
        return "、".join(self.codes)

    @classmethod
    def parse(cls, role: str, raw: str | None) -> Scope:
        """A role's scope from its text form; ValueError says what is wrong
        (in English: the CLI's message)."""
        if role not in STAFF_ROLES:
            raise ValueError(f"role must be one of {', '.join(STAFF_ROLES)}")
        text = (raw or "").strip()
        if role not in SCOPED_ROLES:
            if text:
                raise ValueError(f"role {role} takes no --scope (it sees the whole province)")
            return cls(role)
        if not text:
            raise ValueError(f"role {role} needs --scope")
        codes = tuple(dict.fromkeys(c.strip() for c in text.split(",") if c.strip()))
        if role == "district":
            if len(codes) != 1:
                raise ValueError("a district account has one scope: a 6-digit county code or a 4-digit city prefix")
            code = codes[0]
            if not (code.isdigit() and code.isascii() and len(code) in (4, 6)):
                raise ValueError(f"district scope {code!r}: a 6-digit county code or a 4-digit city prefix")
            if (len(code) == 4 and code not in CITIES) or (len(code) == 6 and not is_known_district(code)):
                raise ValueError(f"district scope {code!r} is not a city or county of Jiangxi")
            return cls(role, codes)
        if not codes or len(codes) > MAX_SCHOOLS:
            raise ValueError(f"school scope: 1 to {MAX_SCHOOLS} school codes, separated by commas")
        for code in codes:
            if not _SCHOOL_CODE.match(code):
                raise ValueError(f"school code {code!r}: letters and digits only, at most 32")
        return cls(role, codes)

    @classmethod
    def of_filter(cls, code: str) -> Scope:
        """The scope a report's `--scope CODE` names: 4 or 6 digits are a
        city or county, anything else school codes (comma-separated)."""
        text = code.strip()
        if text.isdigit() and len(text) in (4, 6):
            return cls.parse("district", text)
        return cls.parse("school", text)

    def where(self, district: Any, school: Any) -> ColumnElement[bool]:
        """SQL: a row (by its district and school columns) lies in the scope."""
        if self.everything:
            return true()
        if self.role == "district":
            code = self.codes[0]
            prefix: ColumnElement[bool] = func.substr(district, 1, 4) == code if len(code) == 4 else district == code
            return prefix
        if self.role == "school":
            condition: ColumnElement[bool] = school.in_(list(self.codes))
            return condition
        return false()

    def holds(self, district: str | None, school: str | None) -> bool:
        """The same test in Python."""
        if self.everything:
            return True
        if self.role == "district":
            return (district or "").startswith(self.codes[0])
        return school in self.codes
