"""bot/entity_rules.py: the rules the pipeline's EntityRules component
applies after DIET (pure Python, so these run in .venv without Rasa).

The texts are given as the pipeline sees them: bot/normaliser.py's
rewrite (identity.normalise_for_nlu) first."""

from __future__ import annotations

import time
from typing import Any

import pytest

from bot.entity_lexicon import ROLE_VALUES
from bot.entity_rules import find_ids, refine
from bot.name_rules import bare_name, plausible_name
from bot.role_rules import role_of
from identity import normalise_for_nlu


def run(text: str, entities: list[dict[str, Any]] | None = None, intent: str | None = None) -> list[dict[str, Any]]:
    return refine(normalise_for_nlu(text), entities or [], intent)


def pairs(text: str, entities: list[dict[str, Any]] | None = None, intent: str | None = None) -> set[tuple[str, str]]:
    return {(e["entity"], e["value"]) for e in run(text, entities, intent)}


def diet(entity: str, text: str, span: str, value: str | None = None) -> dict[str, Any]:
    start = text.index(span)
    return {
        "entity": entity,
        "start": start,
        "end": start + len(span),
        "value": value or span,
        "extractor": "DIETClassifier",
    }


# ------------------------------------------------------------------ (a) role values


@pytest.mark.parametrize(
    "span, value",
    [
        ("家长代领", "parent"),
        ("代领女儿", "parent"),
        ("孩子他爸", "parent"),
        ("帮我家娃", "parent"),
        ("学生家长", "parent"),
        ("初中生的妈妈", "parent"),
        ("中小学生", "k12_student"),
        ("中職學生", "k12_student"),
        ("学生本人", "k12_student"),
        ("大学生", "university_student"),
        ("南昌大学的学生", "university_student"),
        ("研究生", "university_student"),
        ("班主任", "teacher"),
        ("教书的", "teacher"),
        ("社会公众", "public"),
        ("都不是", "public"),
        ("parent", "parent"),
    ],
)
def test_role_phrases_map_to_the_contract_values(span: str, value: str) -> None:
    assert role_of(normalise_for_nlu(span)) == value


@pytest.mark.parametrize("span", ["本人领取", "本人", "自己", "帮", "我自己领"])
def test_self_is_no_role(span: str) -> None:
    assert role_of(span) is None


def test_raw_role_spans_become_values_or_go() -> None:
    text = "本人领取"
    assert run(text, [diet("role", text, "本人领取")]) == []
    text = "我要代领女儿的电子卡"
    assert pairs(text, [diet("role", text, "代领女儿")]) == {("role", "parent")}
    for e in run(text, [diet("role", text, "代领女儿")]):
        assert e["value"] in ROLE_VALUES


def test_someone_elses_role_is_dropped() -> None:
    text = "老师让我领卡"
    assert run(text, [diet("role", text, "老师", "teacher")]) == []
    text = "班主任叫我们领学习号"
    assert run(text, [diet("role", text, "班主任", "teacher")]) == []


# ------------------------------------------------------------------ (b) roles DIET missed


@pytest.mark.parametrize(
    "text, value",
    [
        ("我是孩子他爸", "parent"),
        ("孩子他妈，帮娃领卡", "parent"),
        ("我是孩子奶奶，孩子爸妈不在家", "parent"),
        ("我是他舅舅可以代领不", "parent"),
        ("给女儿领一张", "parent"),
        ("我是初中生家长", "parent"),
        ("我在读大二", "university_student"),
        ("我在南昌大学读书", "university_student"),
        ("我是南昌大学的学生", "university_student"),
        ("我是学生本人", "k12_student"),
        ("中小学生/中职学生", "k12_student"),
        ("高中生", "k12_student"),
        ("我是学校的老师", "teacher"),
        ("我在学校当老师", "teacher"),
        ("教师", "teacher"),
        ("社会公众", "public"),
        ("上班族，都不是", "public"),
        ("我已经工作了", "public"),
        ("我不是老师，是家长", "parent"),
        ("刚才点错了，应该是大学生", "university_student"),
        ("我是老師", "teacher"),
        ("家长代领", "parent"),
    ],
)
def test_clear_role_statements_give_the_role(text: str, value: str) -> None:
    assert ("role", value) in pairs(text)


@pytest.mark.parametrize(
    "text",
    [
        "老师让我领卡",
        "本人领取",
        "我自己领",
        "老师好",
        "找班主任问问",
        "老师，请问怎么领",
        "为什么领取失败",
        "孩子叫王小明，在读三年级",
    ],
)
def test_no_role_without_a_statement_of_ones_own_kind(text: str) -> None:
    assert not [e for e in run(text) if e["entity"] == "role"]


def test_not_teacher_when_denied() -> None:
    assert ("role", "teacher") not in pairs("我不是老师，是家长")


# ------------------------------------------------------------------ (c) names


@pytest.mark.parametrize(
    "text, name",
    [
        ("我叫叶子豪，身份证号360124200502228393", "叶子豪"),
        ("孩子叫王小明", "王小明"),
        ("名字是皇甫云飞", "皇甫云飞"),
        ("给女儿李小雨领卡", "李小雨"),
        ("名字打错了，是李小雨", "李小雨"),
        ("改成王芳", "王芳"),
        ("钟文涛", "钟文涛"),
        ("孩子慕容晴，身份证360104200908061137", "慕容晴"),
        ("姓名 江若曦 身份证 360321197308175475", "江若曦"),
        ("孩子叫古丽米热·阿不都", "古丽米热·阿不都"),
        ("我叫劉曉東", "刘晓东"),
        ("小孩名任佳乐", "任佳乐"),
        ("我是初中生邓紫薇", "邓紫薇"),
        ("打错字了，是刘诗雨不是刘思雨", "刘诗雨"),
        ("我儿子韩磊，身份证360104201502202115", "韩磊"),
        ("欧阳明哲", "欧阳明哲"),
        ("还有一个孩子叫王梓萱", "王梓萱"),
    ],
)
def test_names_by_pattern(text: str, name: str) -> None:
    found = [e for e in run(text) if e["entity"] == "person_name"]
    assert [e["value"] for e in found] == [name]
    (e,) = found
    typed = text[e["start"] : e["end"]]
    assert normalise_for_nlu(typed) == name  # offsets in the original text


@pytest.mark.parametrize(
    "text",
    [
        "哈喽",
        "好的呀",
        "那咋弄",
        "为什么",
        "查成绩",
        "高中生",
        "谢谢",
        "是官方的吗",
        "明天吧",
        "江西",
        "转人工",
        "支付宝",
        "老师让我领卡",
        "确认无误，领卡",
        "本人领取",
        "中小学生/中职学生",
        "暂不开通",
        "开通",
    ],
)
def test_everyday_words_are_no_names(text: str) -> None:
    assert not [e for e in run(text) if e["entity"] == "person_name"]
    assert bare_name(normalise_for_nlu(text)) is None


def test_diet_name_fragments_are_repaired() -> None:
    text = "邹雨萱"
    got = run(text, [diet("person_name", text, "邹雨"), diet("person_name", text, "萱")], "inform")
    assert [(e["value"], e["start"], e["end"]) for e in got] == [("邹雨萱", 0, 3)]
    text = "我儿子叫喻志强，身份证36070220100205105x"
    got = run(text, [diet("person_name", text, "志强")], "inform")
    assert [e["value"] for e in got if e["entity"] == "person_name"] == ["喻志强"]


def test_plausible_name() -> None:
    assert plausible_name("张伟") and plausible_name("欧阳娜婷") and plausible_name("阿依古丽·买买提")
    assert not plausible_name("张") and not plausible_name("谢谢") and not plausible_name("高中生")
    assert not plausible_name("张三abc")


# ------------------------------------------------------------------ (d) ID numbers, dedup


@pytest.mark.parametrize(
    "typed",
    [
        "3601 0420 0202 1501 2x",
        "360104-20020215-012X",
        "３６０１０４２００２０２１５０１２ｘ",
        "36010420020215012x",
        "360104 2002 0215 012X",
    ],
)
def test_ids_typed_with_separators_are_one_normalised_entity(typed: str) -> None:
    text = f"身份证号是{typed}"
    found = [e for e in run(text) if e["entity"] == "id_number"]
    assert [e["value"] for e in found] == ["36010420020215012X"]
    assert text[found[0]["start"] : found[0]["end"]] == typed


def test_id_fragments_and_duplicates_are_merged() -> None:
    text = "360104 2002 0215 012X"
    got = run(text, [diet("id_number", text, "360104"), diet("id_number", text, "2002 0215")])
    assert [(e["entity"], e["value"]) for e in got] == [("id_number", "36010420020215012X")]
    text = "36010420020215012x"
    regex = {"entity": "id_number", "start": 0, "end": 18, "value": text, "extractor": "RegexEntityExtractor"}
    got = run(text, [regex, {**regex, "extractor": "DIETClassifier"}])
    assert [(e["entity"], e["value"]) for e in got] == [("id_number", "36010420020215012X")]
    assert find_ids("电话 13800138000") == []


def test_two_role_phrases_stay_two() -> None:
    text = "我是家长，想帮孩子领学习号"
    roles = [e for e in run(text) if e["entity"] == "role"]
    assert [e["value"] for e in roles] == ["parent", "parent"]


def test_fast_and_deterministic() -> None:
    texts = [
        normalise_for_nlu(t)
        for t in (
            "我是孩子他爸，想给娃领个卡，孩子叫王小明，身份证号360104201401203102",
            "为什么领取失败",
            "钟文涛",
            "我是南昌大学的学生",
            "3601 0420 0202 1501 2x",
            "老师让我领卡",
        )
        * 50
    ]
    first = [refine(t, [], "inform") for t in texts]
    started = time.perf_counter()
    second = [refine(t, [], "inform") for t in texts]
    per_message = (time.perf_counter() - started) / len(texts)
    assert first == second
    assert per_message < 0.001, per_message
