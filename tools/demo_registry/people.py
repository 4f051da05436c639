"""Names and ID numbers of fictional people: weighted common surnames,
surnames more common in Jiangxi, compound surnames, given names by sex and
generation, minority names with a middle dot; parents born 1970-1995."""

from __future__ import annotations

import datetime as dt
import random

from identity.names import MIDDLE_DOT
from tools.demo_registry.ids import AREA_POOL, guardian_space, student_space, teacher_space
from tools.demo_registry.shape import P_COMPOUND_SURNAME, P_HOME_DISTRICT, P_MINORITY, STAGE_AGES, age_window, expand

_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁"
    "潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦"
    "邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
# Surnames that are noticeably more common in Jiangxi than nationally.
_JIANGXI_SURNAMES = "涂饶傅聂游甘温"
_COMPOUND_SURNAMES = ("欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙")

_GIVEN_CHILD_M = "子梓浩宇轩睿泽一辰逸俊晨博文昊天皓宸奕航锦铭嘉豪鑫凯翔杰涛鹏志明宏毅诚哲煜瑞阳恒星安然乐思楷沐彦"
_GIVEN_CHILD_F = "子梓欣怡萱涵诗雨梦佳思悦彤可馨语瑶婉琪晴月冰雪婷琳颖慧妍雅洁楠一诺依若曦芸菲蕊佩嘉淑心然乐"
_GIVEN_ADULT_M = "伟强磊军洋勇杰涛明超辉华鹏斌峰志建国平东海林波亮健刚文红春晓金福荣兵永新德清光"
_GIVEN_ADULT_F = "芳娜敏静丽艳娟霞秀玲婷雪慧颖琳红梅英兰凤萍燕琴云华玉珍莉倩桂丹晶洁美"

# Minority (Uyghur-style) personal names; a full name is "own·father's".
MINORITY_M = (
    "买买提",
    "艾力",
    "艾尔肯",
    "阿不都",
    "吐尔逊",
    "库尔班",
    "热合曼",
    "塔依尔",
    "伊力哈木",
    "木合塔尔",
    "艾合买提",
    "阿迪力",
    "肉孜",
    "亚森",
    "努尔兰",
)
_MINORITY_F = (
    "阿依古丽",
    "热依汗",
    "古丽娜尔",
    "迪丽努尔",
    "帕提古丽",
    "米热古丽",
    "祖力菲亚",
    "阿娜尔",
    "努尔古丽",
    "古再丽",
    "阿孜古丽",
    "萨依普加马",
)


def _given_pool(chars: str, p_single: float, p_double: float = 0.015) -> list[str]:
    """Given names from characters: two different characters, one character
    with probability `p_single`, a reduplicated one (婷婷) with `p_double`."""
    chars = "".join(dict.fromkeys(chars))  # de-duplicate, keep order
    pairs = [a + b for a in chars for b in chars if a != b]
    per_char = len(pairs) / ((1 - p_single - p_double) * len(chars))
    singles = [c for c in chars for _ in range(max(1, round(p_single * per_char)))]
    doubles = [c + c for c in chars for _ in range(max(1, round(p_double * per_char)))]
    return pairs + singles + doubles


def _surname_pool() -> list[str]:
    """Rank-based weights (Zipf-like): the top five cover about a quarter;
    compound surnames make up about P_COMPOUND_SURNAME of all draws."""
    surnames = list(_SURNAMES) + list(_JIANGXI_SURNAMES)
    weights = [1000 / (rank + 5) for rank in range(len(_SURNAMES))] + [12.0] * len(_JIANGXI_SURNAMES)
    pool = expand(surnames, weights, 1.0)
    compound_total = len(pool) * P_COMPOUND_SURNAME / (1 - P_COMPOUND_SURNAME)
    compound_each = compound_total / len(_COMPOUND_SURNAMES)
    return pool + expand(_COMPOUND_SURNAMES, [compound_each] * len(_COMPOUND_SURNAMES), 1.0)


class People:
    """Draws names and ID numbers from one random stream; the three ID
    spaces (students, guardians, teachers) never share a number."""

    def __init__(self, rng: random.Random) -> None:
        self.rnd = rng.random
        self.surnames = _surname_pool()
        self.given = {  # (male, adult) -> given names, one pick per name
            (1, 0): _given_pool(_GIVEN_CHILD_M, 0.10),
            (0, 0): _given_pool(_GIVEN_CHILD_F, 0.10),
            (1, 1): _given_pool(_GIVEN_ADULT_M, 0.22),
            (0, 1): _given_pool(_GIVEN_ADULT_F, 0.22),
        }
        self.minority_given = {1: MINORITY_M, 0: _MINORITY_F}
        self.student_ids = student_space()
        self.guardian_ids = guardian_space()
        self.teacher_ids = teacher_space()
        # Student birth days (indexes of student_ids) per age on the reference date.
        self.age_days: dict[int, tuple[int, int]] = {}
        for age in range(STAGE_AGES["primary"][0], STAGE_AGES["university"][1]):
            first, last = age_window(age)
            self.age_days[age] = (self.student_ids.day_index(first), self.student_ids.day_index(last))
        self.year_first_day = {y: self.guardian_ids.day_index(dt.date(y, 1, 1)) for y in range(1970, 1996)}
        self.year_last_day = {y: self.guardian_ids.day_index(dt.date(y, 12, 31)) for y in range(1970, 1996)}

    def surname(self) -> str:
        return self.surnames[int(self.rnd() * len(self.surnames))]

    def han_name(self, surname: str, male: int, adult: int) -> str:
        pool = self.given[(male, adult)]
        return surname + pool[int(self.rnd() * len(pool))]

    def minority_father(self) -> str:
        return MINORITY_M[int(self.rnd() * len(MINORITY_M))]

    def minority_name(self, male: int, father_given: str | None = None) -> str:
        own = self.minority_given[male]
        if father_given is None:
            father_given = self.minority_father()
        return own[int(self.rnd() * len(own))] + MIDDLE_DOT + father_given

    def adult_name(self, male: int) -> str:
        if self.rnd() < P_MINORITY:
            return self.minority_name(male)
        return self.han_name(self.surname(), male, 1)

    def area(self) -> int:
        """A county index, weighted by population."""
        return AREA_POOL[int(self.rnd() * len(AREA_POOL))]

    def parent(
        self,
        male: int,
        area: int,
        youngest_year: int,
        hi_year: int,
        father_name: str,
        minority: bool,
        spouse_year: int = 0,
    ) -> tuple[str, str]:
        """Name and ID of a parent born 1970..hi_year, 20..45 (mother) or
        20..50 (father) years older than the children and, when the spouse's
        birth year is given, at most five years apart from the spouse."""
        rnd = self.rnd
        lo_year = youngest_year - (50 if male else 45)
        if lo_year < 1970:
            lo_year = 1970
        if lo_year > hi_year:
            lo_year = hi_year
        if spouse_year:
            near_lo, near_hi = max(lo_year, spouse_year - 5), min(hi_year, spouse_year + 5)
            if near_lo <= near_hi:
                lo_year, hi_year = near_lo, near_hi
        lo_d = self.year_first_day[lo_year]
        hi_d = self.year_last_day[hi_year]
        pday = lo_d + int(rnd() * (hi_d - lo_d + 1))
        parea = area if rnd() < P_HOME_DISTRICT else self.area()
        pid = self.guardian_ids.issue(parea, pday, male)
        if male:
            return father_name, pid
        if minority:
            return self.minority_name(0), pid
        return self.han_name(self.surname(), 0, 1), pid
