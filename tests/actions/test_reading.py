"""Tests of actions/reading.py: what one typed message holds.

Table-driven: each row is what a user types and how it must be read. Pure
functions, no services.
"""

from __future__ import annotations

import time

import pytest

from actions.reading import Correction, Detail, Reading, name_in, read

SELF_ID = "360102198003150027"  # valid (female, 1980)
CHILD_ID = "360102201203150021"  # valid (female, 2012)
OTHER_ID = "36010220100315002X"


def names(reading: Reading) -> list[tuple[str, object]]:
    return [(d.value, d.whose) for d in reading.details if d.field == "name"]


def ids(reading: Reading) -> list[tuple[str, object]]:
    return [(d.value, d.whose) for d in reading.details if d.field == "id_number"]


# -- 1. names ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed, name",
    [
        ("李小雨", "李小雨"),
        ("欧阳娜婷", "欧阳娜婷"),
        ("阿依古丽·买买提", "阿依古丽·买买提"),
        ("阿依古丽•买买提", "阿依古丽·买买提"),
        ("阿依古丽・买买提", "阿依古丽·买买提"),
        ("買買提·艾力", "买买提·艾力"),
        ("張偉", "张伟"),
        ("李秀蘭", "李秀兰"),
        ("李小雨。", "李小雨"),
        ("李小雨!", "李小雨"),
        ("  李小雨  ", "李小雨"),
        ("李 小 雨", "李小雨"),
        ("李小雨😊", "李小雨"),
        ("郭妍月", "郭妍月"),
        ("姜然宸", "姜然宸"),
        ("黄公众", "黄公众"),
        ("司马相如", "司马相如"),
    ],
)
def test_bare_name_is_read_as_a_name_of_no_one_in_particular(typed: str, name: str) -> None:
    reading = read(typed)
    assert reading.kind == "name"
    assert names(reading) == [(name, None)]
    assert name_in(typed) == name


@pytest.mark.parametrize(
    "typed, name, whose",
    [
        ("我叫李秀兰", "李秀兰", "self"),
        ("我是李秀兰", "李秀兰", "self"),
        ("本人李秀兰", "李秀兰", "self"),
        ("名字是李秀兰", "李秀兰", "self"),
        ("姓名：李秀兰", "李秀兰", "self"),
        ("姓名 张三", "张三", "self"),
        ("我的名字叫欧阳娜婷", "欧阳娜婷", "self"),
        ("我叫阿依古丽•买买提", "阿依古丽·买买提", "self"),
        ("我叫李秀兰很高兴认识你", "李秀兰", "self"),
        ("家长李秀兰", "李秀兰", "self"),
        ("我叫李秀蘭", "李秀兰", "self"),
        ("孩子叫李小雨", "李小雨", "child"),
        ("我女儿李小雨", "李小雨", "child"),
        ("我女儿叫李小雨", "李小雨", "child"),
        ("她叫李小雨", "李小雨", "child"),
        ("他的名字是李小雨", "李小雨", "child"),
        ("学生姓名李小雨", "李小雨", "child"),
        ("孩子名字是李小雨", "李小雨", "child"),
        ("我的孩子叫李小雨", "李小雨", "child"),
        ("孩子在读初二，名字是李小雨", "李小雨", "child"),
        ("孩子叫买买提•艾力今年十岁", "买买提·艾力", "child"),
        ("儿子叫陈在心，在读初二", "陈在心", "child"),
    ],
)
def test_name_after_a_cue_is_read_as_whose_the_cue_says(typed: str, name: str, whose: str) -> None:
    reading = read(typed)
    assert names(reading) == [(name, whose)]
    assert reading.kind == "name"


@pytest.mark.parametrize(
    "typed, name",
    [
        ("给女儿李小雨领卡", "李小雨"),
        ("给儿子李小雨领卡", "李小雨"),
        ("给女儿李小雨办卡", "李小雨"),
        ("孩子叫李小雨的身份证还没办", "李小雨"),
        ("我女儿李小雨今年十二岁", "李小雨"),
        ("孩子叫李小雨在读初一", "李小雨"),
        ("孩子叫李小雨读初一", "李小雨"),
        ("孩子叫李小雨上初一", "李小雨"),
        ("我女儿李小雨同学", "李小雨"),
    ],
)
def test_name_in_running_text_ends_before_what_follows(typed: str, name: str) -> None:
    assert names(read(typed)) == [(name, "child")]


@pytest.mark.parametrize(
    "typed, name",
    [
        ("我叫李秀兰身份证号是" + SELF_ID, "李秀兰"),
        ("我叫李秀兰，身份证" + SELF_ID, "李秀兰"),
        ("我叫李雷.身份证号是" + SELF_ID, "李雷"),
        ("我叫阿依古丽.买买提，身份证" + SELF_ID, "阿依古丽·买买提"),
    ],
)
def test_name_then_id_number_is_read_as_both_of_the_speaker(typed: str, name: str) -> None:
    reading = read(typed)
    assert names(reading) == [(name, "self")]
    assert ids(reading) == [(SELF_ID, "self")]
    assert reading.kind == "details"


@pytest.mark.parametrize(
    "typed",
    [
        # roles, kinship
        "我是老师",
        "我是家长",
        "我是学生",
        "我是孩子奶奶",
        "我是班主任",
        "我是高中生",
        "我是初中生",
        "我是普通市民",
        "我是王老师",
        "我是李老师，想领卡",
        "爸爸",
        "妈妈",
        "奶奶",
        "孩子他爸",
        "阿姨",
        "孙子",
        "班主任",
        "高中生",
        "都不是",
        "公众",
        # greetings, questions
        "你好",
        "您好",
        "在吗",
        "哈喽",
        "为什么",
        "要钱吗",
        "怎么领卡",
        "多少钱",
        "何时",
        "周末能领吗",
        # everyday replies, yes/no
        "好的",
        "不用",
        "是的",
        "开通",
        "关闭",
        "本人",
        "学生本人",
        "转人工",
        "再见",
        "谢谢",
        "明白了",
        "马上",
        "都不要",
        "明天见",
        "申请",
        "修改",
        "江西",
        "我是江西人",
        "我是南昌的",
        "可以",
        "没有",
        # numbers and the like
        "13812345678",
        "银行卡号6222021234567890123",
        "",
    ],
)
def test_everyday_reply_is_never_read_as_a_name(typed: str) -> None:
    assert names(read(typed)) == []
    assert name_in(typed) is None


# -- 2. ID numbers -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed, value",
    [
        (SELF_ID, SELF_ID),
        (OTHER_ID, OTHER_ID),
        ("36010220100315002x", OTHER_ID),
        ("360102 20100315 002X", OTHER_ID),
        ("360102-20100315-002X", OTHER_ID),
        ("3601 0220 1003 1500 2X", OTHER_ID),
        ("３６０１０２２０１００３１５００２ｘ", OTHER_ID),
        ("３６０１０２　２０１００３１５　００２Ｘ", OTHER_ID),
        ("身份证号是" + CHILD_ID, CHILD_ID),
        ("身份证号：" + CHILD_ID + "。", CHILD_ID),
        ("身份證號碼" + CHILD_ID, CHILD_ID),
        ("身份证：360102-20120315-0021", CHILD_ID),
        (CHILD_ID + "👍", CHILD_ID),
        ("36010219800315002", "36010219800315002"),  # 17 digits: reported, the form explains
        ("3601021980031500271", "3601021980031500271"),  # 19 digits
        ("360102 1980031500 2", "36010219800315002"),
    ],
)
def test_id_number_typed_any_way_is_read_as_an_id_number(typed: str, value: str) -> None:
    reading = read(typed)
    assert ids(reading) == [(value, None)]
    assert reading.kind == "id_number"


def test_id_number_span_is_the_span_in_the_original_text() -> None:
    typed = "身份证号是 ３６０１０２ ２０１００３１５ ００２ｘ 谢谢"
    (detail,) = read(typed).details
    assert typed[detail.start : detail.end] == "３６０１０２ ２０１００３１５ ００２ｘ"


@pytest.mark.parametrize(
    "typed, whose",
    [
        ("我的身份证" + SELF_ID, "self"),
        ("本人身份证号" + SELF_ID, "self"),
        ("家长本人的身份证号是" + SELF_ID, "self"),
        ("孩子身份证号" + CHILD_ID, "child"),
        ("她的身份证号是" + CHILD_ID, "child"),
        ("女儿的身份证号" + CHILD_ID, "child"),
        ("我是孩子他妈，身份证" + SELF_ID, "self"),
    ],
)
def test_id_number_after_a_cue_is_read_as_whose_the_cue_says(typed: str, whose: str) -> None:
    assert ids(read(typed)) == [(SELF_ID if whose == "self" else CHILD_ID, whose)]


@pytest.mark.parametrize(
    "typed",
    [
        "13812345678",
        "我电话是13812345678",
        "138 1234 5678",
        "手机号：138-1234-5678",
        "12345",
        "2024-03-15",
        "订单号20240315123456789",
        "银行卡号6222021234567890123",
        "验证码123456",
        "1 " * 30,
        "我今年12岁",
    ],
)
def test_phone_and_other_numbers_are_never_read_as_an_id_number(typed: str) -> None:
    assert ids(read(typed)) == []


def test_phone_number_next_to_an_id_number_is_left_out() -> None:
    assert ids(read("手机号13812345678，身份证号" + CHILD_ID)) == [(CHILD_ID, None)]
    assert ids(read("13812345678 " + CHILD_ID)) == [(CHILD_ID, None)]


@pytest.mark.parametrize("typed", [SELF_ID + " " + CHILD_ID, SELF_ID + CHILD_ID, SELF_ID + "，" + CHILD_ID])
def test_two_id_numbers_in_a_row_are_read_as_two(typed: str) -> None:
    assert [v for v, _ in ids(read(typed))] == [SELF_ID, CHILD_ID]


# -- 3. several details ------------------------------------------------------------------------------------------------


def test_parent_and_child_details_in_one_message_are_read_as_each_ones() -> None:
    reading = read(f"我是李秀兰，身份证{SELF_ID}，给女儿李小雨领卡，她的身份证号是{CHILD_ID}")
    assert [(d.field, d.value, d.whose) for d in reading.details] == [
        ("name", "李秀兰", "self"),
        ("id_number", SELF_ID, "self"),
        ("name", "李小雨", "child"),
        ("id_number", CHILD_ID, "child"),
    ]
    assert reading.role == "parent"
    assert reading.kind == "details"


def test_parent_and_child_details_in_traditional_with_full_width_digits_are_read_the_same() -> None:
    full = SELF_ID.translate({c: c + 0xFEE0 for c in range(0x30, 0x3A)})
    reading = read(f"我是李秀蘭，身份證{full}，給女兒李小雨領卡，她的身份證號是{CHILD_ID}！")
    assert [(d.field, d.value, d.whose) for d in reading.details] == [
        ("name", "李秀兰", "self"),
        ("id_number", SELF_ID, "self"),
        ("name", "李小雨", "child"),
        ("id_number", CHILD_ID, "child"),
    ]


def test_name_and_id_number_without_cue_are_read_as_of_no_one_in_particular() -> None:
    reading = read("李秀兰 " + SELF_ID)
    assert [(d.field, d.whose) for d in reading.details] == [("name", None), ("id_number", None)]
    assert reading.kind == "details"


def test_name_comma_id_number_is_read_as_the_speakers() -> None:
    reading = read("李秀兰，身份证" + SELF_ID)
    assert names(reading) == [("李秀兰", "self")]
    assert ids(reading) == [(SELF_ID, "self")]


def test_my_id_and_the_childs_id_are_read_as_each_ones() -> None:
    reading = read(f"我的身份证是{SELF_ID}，孩子的是{CHILD_ID}")
    assert ids(reading) == [(SELF_ID, "self"), (CHILD_ID, "child")]


def test_name_before_the_mother_is_read_as_the_childs() -> None:
    reading = read("我是李小雨的妈妈")
    assert names(reading) == [("李小雨", "child")]
    assert (reading.role, reading.claimant) == ("parent", "parent")


def test_details_spans_point_into_the_original_text() -> None:
    typed = f"我是李秀蘭，身份證{SELF_ID}"
    for detail in read(typed).details:
        assert typed[detail.start : detail.end]


def test_entity_of_the_model_is_used_where_the_text_gives_no_boundary() -> None:
    typed = "我叫李秀兰来自南昌"
    entity = {"entity": "person_name", "value": "李秀兰", "start": 2, "end": 5}
    assert names(read(typed, [entity])) == [("李秀兰", "self")]
    assert names(read("陈大伟", [{"entity": "person_name", "value": "陈大伟", "start": 0, "end": 3}])) == [
        ("陈大伟", None)
    ]


# -- 4. roles ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed, role",
    [
        ("我是老师", "teacher"),
        ("我是教师", "teacher"),
        ("我是班主任", "teacher"),
        ("老师", "teacher"),
        ("我是小学老师", "teacher"),
        ("我是大学生", "university_student"),
        ("大学生", "university_student"),
        ("研究生", "university_student"),
        ("本科生", "university_student"),
        ("大专", "university_student"),
        ("我读大学", "university_student"),
        ("中小学生", "k12_student"),
        ("初中生", "k12_student"),
        ("职高", "k12_student"),
        ("中职生", "k12_student"),
        ("社会公众", "public"),
        ("普通市民", "public"),
        ("上班族", "public"),
        ("都不是", "public"),
        ("社会人员", "public"),
        ("我是社会公众", "public"),
    ],
)
def test_role_statement_is_read_as_that_role(typed: str, role: str) -> None:
    reading = read(typed)
    assert reading.role == role
    assert reading.kind == "role"
    assert reading.details == ()


@pytest.mark.parametrize(
    "typed",
    ["我是家长", "孩子他妈", "我是他爸爸", "帮孩子领", "给女儿领", "家长代领", "代领", "我是学生家长", "家长"],
)
def test_parent_statement_is_read_as_the_parent_role(typed: str) -> None:
    reading = read(typed)
    assert (reading.role, reading.claimant) == ("parent", "parent")
    assert reading.kind == "claimant"


@pytest.mark.parametrize("typed", ["我是学生", "我是初中生", "我是高中生", "我是学生本人", "学生本人", "我上初二"])
def test_student_statement_is_read_as_the_k12_role(typed: str) -> None:
    reading = read(typed)
    assert (reading.role, reading.claimant) == ("k12_student", "self")


@pytest.mark.parametrize("typed", ["老师让我领卡", "学校老师通知的", "老师说要领卡", "我不是学生", "妈妈让我来领卡"])
def test_mention_of_a_role_is_not_read_as_a_role_statement(typed: str) -> None:
    reading = read(typed)
    assert reading.role is None
    assert reading.claimant is None


@pytest.mark.parametrize(
    "typed, relative",
    [
        ("我是孩子奶奶，孩子爸妈不在家", "奶奶"),
        ("我是他外公", "外公"),
        ("我是孩子的外婆", "外婆"),
        ("我是她舅舅", "舅舅"),
        ("我是孩子姑姑", "姑姑"),
        ("我是他哥哥", "哥哥"),
        ("孩子爷爷", "爷爷"),
    ],
)
def test_relative_statement_is_read_as_a_relative_on_the_parent_path(typed: str, relative: str) -> None:
    reading = read(typed)
    assert reading.relative == relative
    assert reading.role == "parent"
    assert reading.claimant is None
    assert names(reading) == []
    assert reading.kind == "role"


def test_role_entity_of_the_model_is_used_only_when_it_is_the_whole_message() -> None:
    assert read("老师", [{"entity": "role", "value": "teacher", "start": 0, "end": 2}]).role == "teacher"
    assert read("教职工家属", [{"entity": "role", "value": "teacher", "start": 0, "end": 5}]).role == "teacher"
    assert read("老师让我领卡", [{"entity": "role", "value": "teacher", "start": 0, "end": 2}]).role is None


# -- 5. claimant -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    ["我是学生本人", "学生本人", "本人", "我自己领", "自己领", "我是学生", "本人领取", "我本人", "本人。", "我自己"],
)
def test_student_himself_is_read_as_claimant_self(typed: str) -> None:
    reading = read(typed)
    assert reading.claimant == "self"
    assert reading.kind == "claimant"
    assert reading.details == ()


@pytest.mark.parametrize("typed", ["家长代领", "我是家长", "家长", "帮孩子领", "我是他妈妈", "代领", "家长帮忙领取"])
def test_parent_for_the_child_is_read_as_claimant_parent(typed: str) -> None:
    reading = read(typed)
    assert reading.claimant == "parent"
    assert reading.role == "parent"
    assert reading.kind == "claimant"


# -- 6. corrections ----------------------------------------------------------------------------------------------------


def test_name_typed_wrong_then_the_right_one_is_read_as_a_name_correction() -> None:
    reading = read("刚才名字打错了，应该是李小雨")
    assert reading.corrections == (Correction("name", None),)
    assert names(reading) == [("李小雨", None)]
    assert reading.kind == "correction"


@pytest.mark.parametrize(
    "typed, corrections",
    [
        ("身份证号输错了", [("id_number", None)]),
        ("身份證號輸錯了", [("id_number", None)]),
        ("改一下孩子的名字", [("name", "child")]),
        ("孩子身份证号少打了一位", [("id_number", "child")]),
        ("身份证号多了一位", [("id_number", None)]),
        ("我的名字写错了", [("name", "self")]),
        ("我要改名字", [("name", None)]),
        ("重新输一下身份证号", [("id_number", None)]),
        ("人脸识别我不想开了", [("face_verification", None)]),
        ("人脸识别改成开通", [("face_verification", None)]),
        ("信息填错了", [("any", None)]),
        ("有个地方写错了", [("any", None)]),
        ("刚才填的不对", [("any", None)]),
        ("名字没错但是身份证号错了", [("id_number", None)]),
        ("是李小雨才对", [("name", None)]),
    ],
)
def test_correction_is_read_as_a_correction_of_that_field(typed: str, corrections: list[tuple[str, object]]) -> None:
    reading = read(typed)
    assert [(c.field, c.whose) for c in reading.corrections] == corrections
    assert reading.kind == "correction"


def test_my_id_number_written_wrong_with_the_right_one_is_read_as_the_speakers_correction() -> None:
    reading = read("我的身份证号写错了，是" + SELF_ID)
    assert reading.corrections == (Correction("id_number", "self"),)
    assert reading.details == (Detail("id_number", SELF_ID, "self", 11, 29),)


def test_name_right_id_number_changed_is_read_as_the_id_correction_only() -> None:
    reading = read("名字没错，身份证号改成" + CHILD_ID)
    assert reading.corrections == (Correction("id_number", None),)
    assert ids(reading) == [(CHILD_ID, None)]


def test_should_be_an_id_number_is_read_as_an_id_correction() -> None:
    reading = read("应该是" + CHILD_ID)
    assert reading.corrections == (Correction("id_number", None),)


@pytest.mark.parametrize(
    "typed", ["没错", "不错", "对的", "没有错", "名字没写错", "不用改了", "不需要修改", "这样对不对", "都对"]
)
def test_no_mistake_is_not_read_as_a_correction(typed: str) -> None:
    assert read(typed).corrections == ()


# -- 7. greetings, questions, other ------------------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["你好", "您好！", "在吗", "在吗？", "哈喽", "hello", "你好呀😊", "有人吗", "早上好"])
def test_greeting_alone_is_read_as_a_greeting(typed: str) -> None:
    assert read(typed).kind == "greeting"


@pytest.mark.parametrize(
    "typed",
    [
        "为什么",
        "要钱吗",
        "怎么领卡",
        "请问怎么领卡？",
        "学习号是什么",
        "在哪里领",
        "多少钱",
        "能不能帮我领",
        "为啥要人脸识别",
        "人脸识别要钱吗",
        "可以用护照吗",
        "领卡?",
    ],
)
def test_question_is_read_as_a_question(typed: str) -> None:
    reading = read(typed)
    assert reading.kind == "question"
    assert reading.details == ()


def test_role_with_a_question_is_read_as_a_question_that_states_the_role() -> None:
    reading = read("我是老师，怎么领卡")
    assert (reading.kind, reading.role) == ("question", "teacher")


@pytest.mark.parametrize(
    "typed", ["好的", "不用", "是的", "开通", "转人工", "再见", "", "   ", "😊", "你好，我想领卡", "嗯"]
)
def test_everything_else_is_read_as_other(typed: str) -> None:
    reading = read(typed)
    assert reading.kind == "other"
    assert reading.details == reading.corrections == ()


# -- robustness, speed -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "unit",
    [
        "我是",
        "叫",
        "李秀兰，",
        "改",
        "错了，",
        "1 ",
        f"我叫李秀兰，身份证{SELF_ID}，孩子叫李小雨。",
        "给",
        "李",
        "·李",
        "是",
        "🙂",
    ],
)
def test_ten_kilobytes_of_text_is_read_quickly(unit: str) -> None:
    text = (unit * (10_000 // len(unit) + 1))[:10_000]
    started = time.perf_counter()
    reading = read(text)
    assert time.perf_counter() - started < 0.5
    assert reading.text == text


def test_reading_is_deterministic_and_frozen() -> None:
    typed = f"我是李秀兰，身份证{SELF_ID}，给女儿李小雨领卡"
    assert read(typed) == read(typed)
    with pytest.raises(AttributeError):
        read(typed).kind = "other"  # type: ignore[misc]


VARIED = [
    "李小雨",
    "我叫李秀兰",
    "你好",
    "怎么领卡",
    "好的",
    SELF_ID,
    "360102 20100315 002X",
    "我是老师",
    "家长代领",
    f"我是李秀兰，身份证{SELF_ID}，给女儿李小雨领卡，她的身份证号是{CHILD_ID}",
    "刚才名字打错了，应该是李小雨",
    "我是孩子奶奶，孩子爸妈不在家",
    "人脸识别我不想开了",
    "13812345678",
    "阿依古丽•买买提",
    "張偉",
    "學生本人",
    "名字没错，身份证号改成" + CHILD_ID,
    "为什么要人脸识别？",
    "我的身份证号写错了，是" + SELF_ID,
]


def test_two_thousand_varied_messages_are_read_in_under_one_and_a_half_seconds() -> None:
    messages = [m + ("" if i % 3 else "。") for i, m in enumerate(VARIED * 100)]
    read(messages[0])  # the OpenCC table loads once
    started = time.perf_counter()
    for message in messages:
        read(message)
    assert time.perf_counter() - started < 1.5
