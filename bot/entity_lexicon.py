"""The words the entity rules know: role words and the contract value each
stands for (matched longest first), the surnames names start with, and the
shape of an entity the rules add.

Pure Python (no Rasa import); used by bot/role_rules.py, bot/name_rules.py
and bot/entity_rules.py.
"""

from __future__ import annotations

import re
from typing import Any

from identity.surnames import COMPOUND
from identity.surnames import SINGLE as _SINGLE

# Common surnames missing from identity's list (洪, and 赖: common in Jiangxi).
SINGLE = _SINGLE | frozenset("洪赖钭")


def has_surname(name: str) -> bool:
    return name[:2] in COMPOUND or name[:1] in SINGLE


ROLE_VALUES = ("k12_student", "parent", "university_student", "teacher", "public")
EXTRACTOR = "EntityRules"

# ---------------------------------------------------------------- role words

# Role words, each with its value. Matched longest first, left to right.
ROLE_LEXICON: dict[str, str] = {}


def _words(value: str, words: str) -> None:
    for w in words.split():
        ROLE_LEXICON[w] = value


_words(
    "k12_student",
    """
    中小学生 中小学 中职学生 中职生 中职 中专生 中专学生 中专 职高生 职高 技校生 技校 小学生 初中生 高中生 中学生
    学生本人 学生 学生党 小学 初中 高中 中学 初一 初二 初三 高一 高二 高三 一年级 二年级 三年级 四年级 五年级
    六年级 七年级 八年级 九年级 小朋友本人
""",
)
_words(
    "university_student",
    """
    大学生 大学 大专生 大专 专科生 本科生 本科 研究生 硕士生 硕士 博士生 博士 高职生 高职 大一 大二 大三 大四
    大五 研一 研二 研三 博一 博二 在校大学生 大学本科
""",
)
_words(
    "teacher",
    """
    教师 老师 班主任 教职工 教职员工 辅导员 校长 副校长 教员 任课老师 老师本人 教师本人 在职教师 退休教师 幼师
    幼儿园老师 教练 代课老师 老教师 教书的 教书 当老师的 老师本人
""",
)
_words(
    "parent",
    """
    家长 学生家长 监护人 家长代领 代领 爸爸 妈妈 爸 妈 父亲 母亲 老爸 老妈 爹 娘 孩子爸 孩子妈 孩子他爸 孩子他妈
    孩子她爸 孩子她妈 孩他爸 孩他妈 娃他爸 娃他妈 娃他爹 娃他娘 孩子他爹 孩子他娘 孩他爹 孩他娘 当妈的 当爸的 娃爸 娃妈
    宝爸 宝妈 孩子爸爸 孩子妈妈 爷爷 奶奶 外公 外婆 姥姥
    姥爷 舅舅 舅妈 姑姑 姑妈 姑父 小姨 姨妈 姨父 阿姨 叔叔 婶婶 伯伯 伯母 大伯 哥哥 姐姐 继父 继母 后妈 亲戚
    他爸 她爸 他妈 她妈 他爹 他娘 帮孩子 给孩子 替孩子 帮孩子领 帮娃 给娃 帮小孩 给小孩 帮女儿 给女儿 帮儿子 给儿子
    帮闺女 给闺女 外祖父 外祖母
    祖父 祖母 监护者 孩子家长 孩子的家长 表哥 表姐 表叔 表姑 表舅 嫲嫲 阿嬷 阿婆 外祖 干妈 干爹
""",
)
_words(
    "public",
    """
    社会公众 社会人员 社会人士 普通市民 市民 普通人 普通群众 群众 公众 都不是 都不是的 上班族 打工人 打工的 个体户
    自由职业 自由职业者 打工 退休人员 退休职工 上班 公务员 医生 护士 工人 农民 司机 职工 个体 务工人员 上班的 社会上
    以上都不是 哪个都不是 啥都不是 都不是吧 已经工作 已工作 工作了 毕业了 社会上的
""",
)
_ROLE_WORDS = sorted(ROLE_LEXICON, key=len, reverse=True)
ROLE_RE = re.compile("|".join(map(re.escape, _ROLE_WORDS)))


# ---------------------------------------------------------------- entities


def make_entity(entity: str, value: str, start: int, end: int) -> dict[str, Any]:
    return {"entity": entity, "start": start, "end": end, "value": value, "extractor": EXTRACTOR}
