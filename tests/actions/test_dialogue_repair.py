"""Conversation repair (issue 12, "people type, they don't tap"), one test a
case of shared/CONVERSATION_REPAIR.md, in the style of RasaHQ/financial-demo:
a tracker as the action server receives it, the action run, and the exact
events and messages expected."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.backend_client import BackendClient
from actions.claim_actions import ActionAskDetailsConfirmed
from actions.claim_form import ValidateClaimForm
from actions.support_actions import (
    ActionFailureFollowup,
    ActionFaqClaimFailed,
    ActionNextChild,
    ActionRepeat,
    ActionStartClaim,
)
from contract.buttons import (
    CHILD_CLAIMS_SELF,
    CHILDREN_CLAIMED,
    CONFIRM,
    FIX_CHILD_ID,
    FIX_CHILD_NAME,
    FIX_FACE,
    FIX_GUARDIAN_ID,
    FIX_GUARDIAN_NAME,
    FIX_ID,
    FIX_NAME,
    FIX_ROLE,
    HOTLINE,
    HUMAN,
    RETRY,
    SCHOOL_FIX,
    WHAT_NOW,
    Button,
    buttons,
)
from tests.actions.test_actions import DOMAIN, run_form, tracker
from tests.conftest import TOKEN, Api
from tests.people import CHEN_CHILDREN, FATHER_CHEN, FATHER_LI, PUBLIC, TEACHER, XIAOMING
from tests.responses import rendered

ROOT = Path(__file__).resolve().parents[2]
FATHER, CHILD = FATHER_LI, XIAOMING
OTHER_ID = CHEN_CHILDREN[1].id_number  # a valid ID number that is not XIAOMING's

PARENT = {"role": "parent"}
PARENT_ALL = {
    "role": "parent",
    "guardian_name": FATHER.name,
    "guardian_id_number": FATHER.id_number,
    "person_name": CHILD.name,
    "id_number": CHILD.id_number,
    "face_verification": True,
}
K12 = {"role": "k12_student", "k12_claimant": "self"}
K12_ALL = {**K12, "person_name": CHILD.name, "id_number": CHILD.id_number, "face_verification": False}
AT_CONFIRMATION = {"requested_slot": "details_confirmed"}

HUMAN_OFFER = "看起来这一步不太顺利。需要的话可以转人工客服帮您处理，或拨打客服电话 0791-88185066。"
WHICH_DETAIL = "请问要修改哪一项？点选下面的选项，或直接告诉我，例如“身份证号输错了”。"


def after(t: Tracker, *events: dict[str, Any]) -> Tracker:
    """The tracker with events that came after the user's message."""
    t.events.extend(events)
    return t


def action(name: str) -> dict[str, Any]:
    return {"event": "action", "name": name}


def texts(messages: list[dict[str, Any]]) -> list[str | None]:
    return [m["text"] for m in messages]


def said(messages: list[dict[str, Any]]) -> list[tuple[str | None, str | None, list[dict[str, str]]]]:
    """(response, text, buttons) of each message (run and run_form render
    the responses: the text is what the user reads)."""
    return [(m.get("response"), m.get("text"), m.get("buttons") or []) for m in messages]


async def run(act: Any, t: Tracker) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The events, and the messages as the user reads them (tests/responses.py)."""
    dispatcher = CollectingDispatcher()
    events = await act.run(dispatcher, t, DOMAIN)
    return events, rendered(dispatcher.messages, t)


# -- several details in one message -------------------------------------------------------------------


async def test_several_details_in_the_message_that_starts_the_claim_fill_everything_parent_and_child_apart() -> None:
    # No loop is active yet: action_start_claim ran and the form reads the
    # message that started it (requested_slot is still None).
    text = f"我是李建国，身份证{FATHER.id_number}，给女儿李小明领卡，她的身份证号是{CHILD.id_number}"
    t = after(tracker({}, text=text, intent="claim_card", active_loop=None), action("action_start_claim"))
    events, messages = await run_form(t)
    assert events == [
        SlotSet("role", "parent"),
        SlotSet("guardian_name", FATHER.name),
        SlotSet("guardian_id_number", FATHER.id_number),
        SlotSet("person_name", CHILD.name),
        SlotSet("id_number", CHILD.id_number),
        SlotSet("details_confirmed", None),
        SlotSet("k12_claimant", None),
        SlotSet("requested_slot", "face_verification"),
    ]
    assert texts(messages) == ["好的，已记下：您（家长）的姓名、您（家长）的身份证号、孩子的姓名、孩子的身份证号。"]


async def test_several_details_mid_form_fill_everything_and_only_what_is_missing_is_asked() -> None:
    t = tracker(
        {**PARENT, "requested_slot": "guardian_name"},
        text=f"我叫李建国，身份证{FATHER.id_number}，孩子李小明，身份证{CHILD.id_number}",
    )
    events, messages = await run_form(t)
    assert events == [
        SlotSet("guardian_name", FATHER.name),
        SlotSet("guardian_id_number", FATHER.id_number),
        SlotSet("person_name", CHILD.name),
        SlotSet("id_number", CHILD.id_number),
        SlotSet("requested_slot", "face_verification"),
    ]
    assert texts(messages) == ["好的，已记下：您（家长）的姓名、您（家长）的身份证号、孩子的姓名、孩子的身份证号。"]


async def test_a_name_and_id_without_cues_fill_the_person_being_asked_about() -> None:
    t = tracker({**PARENT, "requested_slot": "guardian_name"}, text=f"李建国 {FATHER.id_number}")
    events, messages = await run_form(t)
    assert events == [
        SlotSet("guardian_name", FATHER.name),
        SlotSet("guardian_id_number", FATHER.id_number),
        SlotSet("requested_slot", "person_name"),
    ]
    assert texts(messages) == ["好的，已记下：您（家长）的姓名、您（家长）的身份证号。"]


async def test_claiming_for_a_daughter_makes_the_role_parent_and_the_name_the_childs() -> None:
    t = after(tracker({}, text="给女儿李小雨领卡", intent="claim_card", active_loop=None), action("action_start_claim"))
    events, messages = await run_form(t)
    assert events == [
        SlotSet("role", "parent"),
        SlotSet("person_name", "李小雨"),
        SlotSet("details_confirmed", None),
        SlotSet("k12_claimant", None),
        SlotSet("requested_slot", "guardian_name"),
    ]
    assert messages == []


# -- corrections ----------------------------------------------------------------------------------------


async def test_a_correction_of_the_childs_name_with_a_value_at_a_question_changes_it_and_keeps_the_rest() -> None:
    t = tracker(
        {**PARENT_ALL, "id_number": None, "face_verification": None, "requested_slot": "id_number"},
        text="孩子名字打错了，是李晓明",
        intent="correct",
    )
    events, messages = await run_form(t)
    assert events == [
        SlotSet("person_name", "李晓明"),
        SlotSet("details_confirmed", None),
        SlotSet("requested_slot", "id_number"),
    ]
    assert texts(messages) == ["好的，孩子的姓名改为：李晓明"]


async def test_a_correction_of_the_parents_name_with_a_value_at_the_childs_question_goes_to_the_parent() -> None:
    t = tracker(
        {
            **PARENT,
            "guardian_name": FATHER.name,
            "guardian_id_number": FATHER.id_number,
            "requested_slot": "person_name",
        },
        text="我的名字打错了，是李建军",
        intent="correct",
    )
    events, messages = await run_form(t)
    assert events == [
        SlotSet("guardian_name", "李建军"),
        SlotSet("details_confirmed", None),
        SlotSet("requested_slot", "person_name"),
    ]
    assert texts(messages) == ["好的，您（家长）的姓名改为：李建军"]


async def test_a_correction_without_a_value_at_a_question_clears_just_that_detail_and_asks_it() -> None:
    t = tracker(
        {
            **PARENT,
            "guardian_name": FATHER.name,
            "guardian_id_number": FATHER.id_number,
            "requested_slot": "person_name",
        },
        text="我的身份证号输错了",
        intent="correct",
    )
    events, messages = await run_form(t)
    assert events == [
        SlotSet("guardian_id_number", None),
        SlotSet("details_confirmed", None),
        SlotSet("requested_slot", "guardian_id_number"),
    ]
    assert texts(messages) == ["好的，请重新输入您（家长）的身份证号。"]


@pytest.mark.parametrize(
    "text, slot, value, note",
    [
        ("孩子的名字打错了，是李晓明", "person_name", "李晓明", "好的，孩子的姓名改为：李晓明"),
        ("我的名字打错了，是李建军", "guardian_name", "李建军", "好的，您（家长）的姓名改为：李建军"),
        # Whose not said: the name given last (the child's).
        ("名字打错了，是李晓明", "person_name", "李晓明", "好的，孩子的姓名改为：李晓明"),
    ],
)
async def test_a_correction_with_a_value_at_the_confirmation_changes_that_detail_and_asks_to_confirm_again(
    text: str, slot: str, value: str, note: str
) -> None:
    events, messages = await run_form(tracker({**PARENT_ALL, **AT_CONFIRMATION}, text=text, intent="correct"))
    assert events == [
        SlotSet(slot, value),
        SlotSet("details_confirmed", None),
        SlotSet("requested_slot", "details_confirmed"),
    ]
    assert texts(messages) == [note]


async def test_whose_detail_is_asked_when_a_parent_does_not_say() -> None:
    events, messages = await run_form(
        tracker({**PARENT_ALL, **AT_CONFIRMATION}, text="身份证号输错了", intent="correct")
    )
    assert events == [SlotSet("details_confirmed", None), SlotSet("requested_slot", "details_confirmed")]
    assert messages[0]["response"] == "utter_whose_detail"
    assert [b["title"] for b in messages[0]["buttons"]] == ["修改家长身份证号", "修改孩子身份证号"]


async def test_a_corrected_id_without_whose_goes_to_the_person_of_its_age() -> None:
    events, messages = await run_form(
        tracker(
            {**PARENT_ALL, **AT_CONFIRMATION}, text=f"身份证号输错了，应该是{FATHER_LI.id_number}", intent="correct"
        )
    )
    assert SlotSet("guardian_id_number", FATHER_LI.id_number) in events


@pytest.mark.parametrize(
    "text, slot, note",
    [
        ("孩子的身份证号输错了", "id_number", "好的，请重新输入孩子的身份证号。"),
        ("我的身份证号输错了", "guardian_id_number", "好的，请重新输入您（家长）的身份证号。"),
        ("改一下孩子的名字", "person_name", "好的，请重新输入孩子的姓名。"),
    ],
)
async def test_a_correction_without_a_value_at_the_confirmation_asks_just_that_detail_again(
    text: str, slot: str, note: str
) -> None:
    events, messages = await run_form(tracker({**PARENT_ALL, **AT_CONFIRMATION}, text=text, intent="correct"))
    assert events == [SlotSet(slot, None), SlotSet("details_confirmed", None), SlotSet("requested_slot", slot)]
    assert texts(messages) == [note]


@pytest.mark.parametrize(
    "slots, text, slot, value, note",
    [
        (K12_ALL, "李晓明", "person_name", "李晓明", "好的，姓名改为：李晓明"),
        (K12_ALL, OTHER_ID, "id_number", OTHER_ID, f"好的，身份证号改为：{OTHER_ID}"),
        (PARENT_ALL, f"孩子身份证号是{OTHER_ID}", "id_number", OTHER_ID, f"好的，孩子的身份证号改为：{OTHER_ID}"),
        (
            PARENT_ALL,
            f"我的身份证号是{FATHER_CHEN.id_number}",
            "guardian_id_number",
            FATHER_CHEN.id_number,
            f"好的，您（家长）的身份证号改为：{FATHER_CHEN.id_number}",
        ),
    ],
)
async def test_a_different_value_typed_at_the_confirmation_is_a_correction(
    slots: dict[str, Any], text: str, slot: str, value: str, note: str
) -> None:
    events, messages = await run_form(tracker({**slots, **AT_CONFIRMATION}, text=text))
    assert events == [
        SlotSet(slot, value),
        SlotSet("details_confirmed", None),
        SlotSet("requested_slot", "details_confirmed"),
    ]
    assert texts(messages) == [note]


async def test_yes_at_the_confirmation_confirms() -> None:
    events, messages = await run_form(tracker({**K12_ALL, **AT_CONFIRMATION}, text="确认无误，领卡", intent="affirm"))
    assert events == [SlotSet("details_confirmed", True), SlotSet("requested_slot", None)]
    assert messages == []


# -- a detail typed at another detail's question -----------------------------------------------------


@pytest.mark.parametrize("text", ["李小明", "孩子叫李小明"])
async def test_a_name_typed_at_the_id_question_is_kept_where_the_name_was_missing(text: str) -> None:
    # The parent's name is known; the child's is missing: the name is the
    # child's, and the ID question is asked again.
    t = tracker({**PARENT, "guardian_name": FATHER.name, "requested_slot": "guardian_id_number"}, text=text)
    events, messages = await run_form(t)
    assert events == [SlotSet("person_name", CHILD.name), SlotSet("requested_slot", "guardian_id_number")]
    assert texts(messages) == ["好的，已记下：孩子的姓名。"]


async def test_a_different_name_typed_at_the_id_question_when_the_name_is_known_is_not_stored() -> None:
    t = tracker({**K12, "person_name": CHILD.name, "requested_slot": "id_number"}, text="李晓明")
    events, messages = await run_form(t)
    assert events == [SlotSet("wrong_answers", {}), SlotSet("requested_slot", "id_number")]
    assert texts(messages) == ["这看起来是姓名，姓名已经填写过了（如需修改，请说“修改姓名”）。现在需要的是身份证号。"]


async def test_the_same_name_typed_again_at_the_id_question_says_what_is_expected() -> None:
    t = tracker(
        {
            **PARENT,
            "guardian_name": FATHER.name,
            "guardian_id_number": FATHER.id_number,
            "person_name": CHILD.name,
            "requested_slot": "id_number",
        },
        text=CHILD.name,
    )
    events, messages = await run_form(t)
    assert events == [SlotSet("wrong_answers", {}), SlotSet("requested_slot", "id_number")]
    assert texts(messages) == ["孩子的姓名已经记下了，现在需要的是孩子的身份证号。"]


async def test_the_parents_own_name_retyped_at_the_parents_id_question_is_not_the_childs_name() -> None:
    """The parent types their own name again at their ID question: it is
    the parent's name (already known), not the missing child's name."""
    t = tracker({**PARENT, "guardian_name": FATHER.name, "requested_slot": "guardian_id_number"}, text=FATHER.name)
    events, messages = await run_form(t)
    assert SlotSet("person_name", FATHER.name) not in events
    assert events == [SlotSet("wrong_answers", {}), SlotSet("requested_slot", "guardian_id_number")]
    assert texts(messages) == ["您（家长）的姓名已经记下了，现在需要的是您（家长）的身份证号。"]


# -- what is never a name ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "slots, text, intent, explanation",
    [
        (K12, "我是学生", "choose_role", "这是领卡身份，不是姓名。请输入姓名（与身份证一致）。"),
        (K12, "学生", "choose_role", "这是领卡身份，不是姓名。请输入姓名（与身份证一致）。"),
        (K12, "我是初中生", "choose_role", "这是领卡身份，不是姓名。请输入姓名（与身份证一致）。"),
        # The model misread a greeting or a question as an answer: still no name.
        (K12, "你好", "inform", "没有识别到姓名。请只输入姓名（与身份证一致）。"),
        (K12, "怎么领卡？", "inform", "没有识别到姓名。请只输入姓名（与身份证一致）。"),
    ],
)
async def test_role_statements_greetings_and_questions_are_never_stored_as_names(
    slots: dict[str, Any], text: str, intent: str, explanation: str
) -> None:
    events, messages = await run_form(tracker({**slots, "requested_slot": "person_name"}, text=text, intent=intent))
    assert events == [SlotSet("wrong_answers", {"person_name": 1}), SlotSet("requested_slot", "person_name")]
    assert texts(messages) == [explanation]


@pytest.mark.parametrize("text", ["我是家长", "我是孩子的妈妈"])
async def test_a_parent_stating_the_role_at_the_parents_name_question_hears_what_is_expected(text: str) -> None:
    events, messages = await run_form(
        tracker({**PARENT, "requested_slot": "guardian_name"}, text=text, intent="choose_role")
    )
    assert events == [SlotSet("wrong_answers", {"guardian_name": 1}), SlotSet("requested_slot", "guardian_name")]
    assert texts(messages) == ["这是领卡身份，不是姓名。请输入您（家长）的姓名（与身份证一致）。"]


@pytest.mark.parametrize("text", ["我是学生", "我是学生本人"])
async def test_a_student_restating_the_role_at_the_name_question_hears_what_is_expected(text: str) -> None:
    """On the k12 path, "我是学生" at the name question is no name either;
    the user should hear what is expected, as on the other paths."""
    events, messages = await run_form(tracker({**K12, "requested_slot": "person_name"}, text=text, intent="inform"))
    assert not any(e["name"] == "person_name" for e in events)
    assert events[-1] == SlotSet("requested_slot", "person_name")
    assert messages and "请输入姓名" in messages[0]["text"]


async def test_after_three_wrong_answers_a_human_is_offered() -> None:
    wrong: dict[str, int] = {}
    for attempt in (1, 2, 3):
        t = tracker({**K12, "requested_slot": "person_name", "wrong_answers": wrong}, text="怎么领卡？")
        events, messages = await run_form(t)
        wrong = {"person_name": attempt}
        assert events == [SlotSet("wrong_answers", wrong), SlotSet("requested_slot", "person_name")]
        explanation = ("没有识别到姓名。请只输入姓名（与身份证一致）。", [])
        human = (HUMAN_OFFER, [{"title": "转人工", "payload": "/request_human"}])
        assert [(m["text"], m["buttons"]) for m in messages] == (
            [explanation, human] if attempt == 3 else [explanation]
        )


# -- the change menu -------------------------------------------------------------------------------------


async def test_no_at_the_confirmation_opens_the_change_menu_and_clears_nothing() -> None:
    events, messages = await run_form(tracker({**PARENT_ALL, **AT_CONFIRMATION}, text="需要修改", intent="deny"))
    assert events == [
        SlotSet("change_menu", True),
        SlotSet("details_confirmed", None),
        SlotSet("requested_slot", "details_confirmed"),
    ]
    assert messages == []


@pytest.mark.parametrize(
    "slots, fixes",
    [
        (PARENT_ALL, [FIX_GUARDIAN_NAME, FIX_GUARDIAN_ID, FIX_CHILD_NAME, FIX_CHILD_ID, FIX_FACE, FIX_ROLE]),
        (K12_ALL, [FIX_NAME, FIX_ID, FIX_FACE, FIX_ROLE]),
        ({"role": "public", "person_name": PUBLIC.name, "id_number": PUBLIC.id_number}, [FIX_NAME, FIX_ID, FIX_ROLE]),
    ],
)
async def test_the_change_menu_asks_which_detail_with_one_button_per_detail_of_the_path(
    slots: dict[str, Any], fixes: list[Button]
) -> None:
    t = tracker({**slots, "change_menu": True, **AT_CONFIRMATION}, text="需要修改", intent="deny")
    events, messages = await run(ActionAskDetailsConfirmed(), t)
    assert events == []
    assert said(messages) == [("utter_which_detail", WHICH_DETAIL, buttons(*fixes, CONFIRM))]


async def test_the_parents_change_menu_buttons_say_whose_detail() -> None:
    assert buttons(FIX_GUARDIAN_NAME, FIX_GUARDIAN_ID, FIX_CHILD_NAME, FIX_CHILD_ID) == [
        {"title": "修改家长姓名", "payload": '/correct{"detail": "guardian_name"}'},
        {"title": "修改家长身份证号", "payload": '/correct{"detail": "guardian_id_number"}'},
        {"title": "修改孩子姓名", "payload": '/correct{"detail": "person_name"}'},
        {"title": "修改孩子身份证号", "payload": '/correct{"detail": "id_number"}'},
    ]


@pytest.mark.parametrize(
    "detail, note",
    [
        ("id_number", "好的，请重新输入孩子的身份证号。"),
        ("guardian_name", "好的，请重新输入您（家长）的姓名。"),
    ],
)
async def test_tapping_a_detail_in_the_change_menu_clears_just_that_detail(detail: str, note: str) -> None:
    t = tracker(
        {**PARENT_ALL, "change_menu": True, **AT_CONFIRMATION},
        text=f'/correct{{"detail": "{detail}"}}',
        intent="correct",
        entities=[{"entity": "detail", "value": detail}],
    )
    events, messages = await run_form(t)
    assert events == [
        SlotSet("change_menu", False),
        SlotSet(detail, None),
        SlotSet("details_confirmed", None),
        SlotSet("requested_slot", detail),
    ]
    assert texts(messages) == [note]


@pytest.mark.parametrize(
    "text, slot, note",
    [
        ("孩子的身份证号", "id_number", ["好的，请重新输入孩子的身份证号。"]),
        ("我的名字", "guardian_name", ["好的，请重新输入您（家长）的姓名。"]),
        ("人脸识别", "face_verification", []),
    ],
)
async def test_typing_a_detail_in_the_change_menu_clears_just_that_detail(
    text: str, slot: str, note: list[str]
) -> None:
    t = tracker({**PARENT_ALL, "change_menu": True, **AT_CONFIRMATION}, text=text)
    events, messages = await run_form(t)
    assert events == [
        SlotSet("change_menu", False),
        SlotSet(slot, None),
        SlotSet("details_confirmed", None),
        SlotSet("requested_slot", slot),
    ]
    assert texts(messages) == note


async def test_confirming_from_the_change_menu_confirms() -> None:
    t = tracker({**PARENT_ALL, "change_menu": True, **AT_CONFIRMATION}, text="确认无误，领卡", intent="affirm")
    events, messages = await run_form(t)
    assert events == [
        SlotSet("change_menu", False),
        SlotSet("details_confirmed", True),
        SlotSet("requested_slot", None),
    ]
    assert messages == []


async def test_a_vague_wish_to_change_at_a_question_offers_the_details_given_so_far() -> None:
    t = tracker({**K12, "person_name": CHILD.name, "requested_slot": "id_number"}, text="我要改一下", intent="correct")
    events, messages = await run_form(t)
    assert events == [SlotSet("details_confirmed", None), SlotSet("requested_slot", "id_number")]
    assert said(messages) == [("utter_which_detail", WHICH_DETAIL, buttons(FIX_NAME, FIX_ROLE))]


# -- who claims, and switching paths -----------------------------------------------------------------------


async def test_i_am_the_student_at_the_claimant_question_is_the_student_claiming() -> None:
    t = tracker({"role": "k12_student", "requested_slot": "k12_claimant"}, text="我是学生本人")
    events, messages = await run_form(t)
    assert events == [SlotSet("k12_claimant", "self"), SlotSet("requested_slot", "person_name")]
    assert messages == []


@pytest.mark.parametrize("intent", ["choose_role", "inform"])
async def test_parent_claims_at_the_claimant_question_switches_to_the_parent_path(intent: str) -> None:
    t = tracker({"role": "k12_student", "requested_slot": "k12_claimant"}, text="家长代领", intent=intent)
    events, messages = await run_form(t)
    assert events == [
        SlotSet("role", "parent"),
        SlotSet("details_confirmed", None),
        SlotSet("k12_claimant", None),
        SlotSet("requested_slot", "guardian_name"),
    ]
    assert texts(messages) == []  # an answer to the question, not a change to announce


async def test_a_role_switch_mid_form_is_announced_and_keeps_the_details_that_apply() -> None:
    t = tracker(
        {**K12, "person_name": CHILD.name, "requested_slot": "id_number"}, text="我其实是家长", intent="choose_role"
    )
    events, messages = await run_form(t)
    # The name stays (now the child's); the parent's own details are asked first.
    assert events == [
        SlotSet("role", "parent"),
        SlotSet("details_confirmed", None),
        SlotSet("k12_claimant", None),
        SlotSet("requested_slot", "guardian_name"),
    ]
    assert texts(messages) == ["好的，领卡身份改为：家长代领。"]


async def test_the_student_taking_over_from_the_parent_is_announced() -> None:
    t = tracker({**PARENT, "guardian_name": FATHER.name, "requested_slot": "guardian_id_number"}, text="我是学生本人")
    events, messages = await run_form(t)
    assert events == [
        SlotSet("k12_claimant", "self"),
        SlotSet("role", "k12_student"),
        SlotSet("details_confirmed", None),
        SlotSet("requested_slot", "person_name"),
    ]
    assert texts(messages) == ["好的，领卡身份改为：中小学生/中职学生。"]


# -- what rules answer mid-form ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, intent",
    [
        ("再见", "goodbye"),
        ("领卡要收费吗", "faq_fee"),
        ("转人工", "request_human"),
        ("你好", "greet"),
        ("我要改一下", "goodbye"),
    ],
)
async def test_rule_intents_mid_form_make_the_form_reject(text: str, intent: str) -> None:
    t = tracker({**K12, "requested_slot": "person_name"}, text=text, intent=intent)
    assert await ValidateClaimForm().get_extraction_events(CollectingDispatcher(), t, DOMAIN) == []
    events, messages = await run_form(t)
    # Only the question asked again: Rasa rejects the form and the rule answers.
    assert events == [SlotSet("requested_slot", "person_name")]
    assert messages == []


@pytest.mark.parametrize(
    "slots, text, intent, expected, note",
    [
        (
            {**K12, "requested_slot": "person_name"},
            "李小明，再见",
            "goodbye",
            [SlotSet("person_name", CHILD.name), SlotSet("requested_slot", "id_number")],
            [],
        ),
        (
            {**K12, "requested_slot": "person_name"},
            "我叫李小明，领卡要收费吗",
            "faq_fee",
            [SlotSet("person_name", CHILD.name), SlotSet("requested_slot", "id_number")],
            [],
        ),
        (
            {**K12, "person_name": CHILD.name, "requested_slot": "id_number"},
            f"身份证{CHILD.id_number}，转人工",
            "request_human",
            [SlotSet("id_number", CHILD.id_number), SlotSet("requested_slot", "face_verification")],
            [],
        ),
        (
            {**K12, "person_name": CHILD.name, "requested_slot": "id_number"},
            "名字打错了，是李晓明",
            "goodbye",
            [
                SlotSet("person_name", "李晓明"),
                SlotSet("details_confirmed", None),
                SlotSet("requested_slot", "id_number"),
            ],
            ["好的，姓名改为：李晓明"],
        ),
    ],
)
async def test_a_rule_intent_whose_message_holds_a_detail_is_read_by_the_form(
    slots: dict[str, Any], text: str, intent: str, expected: list[dict[str, Any]], note: list[str]
) -> None:
    events, messages = await run_form(tracker(slots, text=text, intent=intent))
    assert events == expected
    assert texts(messages) == note


async def test_the_form_does_not_reread_a_message_a_rule_already_answered() -> None:
    # "领卡要收费吗" was answered by its rule; the form comes back to its question.
    t = after(
        tracker({**K12, "requested_slot": "person_name"}, text="领卡要收费吗", intent="faq_fee"),
        action("utter_faq_fee"),
        {"event": "bot", "text": "学习号电子卡完全免费"},
    )
    assert ValidateClaimForm.fresh_message(t) is False
    events, messages = await run_form(t)
    assert events == [SlotSet("requested_slot", "person_name")]
    assert messages == []


async def test_the_form_does_not_count_a_no_to_cancelling_as_a_wrong_answer() -> None:
    slots = {**K12, "requested_slot": "person_name"}
    # Fresh, "不取消" at the name question would be a wrong answer...
    events, _ = await run_form(tracker(slots, text="不取消", intent="deny"))
    assert events == [SlotSet("wrong_answers", {"person_name": 1}), SlotSet("requested_slot", "person_name")]
    # ...but after "算了" it answered "确定不领了吗？", and action_resume_claim ran.
    t = after(
        tracker(slots, text="不取消", intent="deny"),
        action("action_resume_claim"),
        {"event": "bot", "text": "好的，我们继续。"},
        {"event": "slot", "name": "pending_cancel", "value": False},
    )
    events, messages = await run_form(t)
    assert events == [SlotSet("requested_slot", "person_name")]
    assert messages == []


async def test_the_form_reads_the_message_after_the_actions_that_start_it() -> None:
    for starter in ("action_listen", "action_start_claim", "claim_form"):
        t = after(tracker({**K12, "requested_slot": "person_name"}, text="李小明"), action(starter))
        assert ValidateClaimForm.fresh_message(t) is True, starter
        events, _ = await run_form(t)
        assert events == [SlotSet("person_name", CHILD.name), SlotSet("requested_slot", "id_number")], starter


# -- another child -----------------------------------------------------------------------------------------

CHILD_CLEARED = [
    SlotSet(s, None)
    for s in (
        "person_name",
        "id_number",
        "face_verification",
        "details_confirmed",
        "card_number",
        "failure_reason",
        "wrong_answers",
        "k12_claimant",
        "change_menu",
    )
]


def next_child(api: Api | None) -> ActionNextChild:
    act = ActionNextChild()
    url = str(api.client.make_url("")) if api else "http://127.0.0.1:9"
    act.client = BackendClient(url=url, token=TOKEN, timeout_s=2.5)
    return act


def after_card(guardian: Any, child: Any) -> Tracker:
    return tracker(
        {
            "role": "parent",
            "guardian_name": guardian.name,
            "guardian_id_number": guardian.id_number,
            "person_name": child.name,
            "id_number": child.id_number,
            "face_verification": True,
            "details_confirmed": True,
            "card_number": "JX0000000001",
        },
        text="还有一个孩子",
        intent="next_child",
        active_loop=None,
    )


async def claim_for(api: Api, guardian: Any, child: Any) -> None:
    status, body = await api.claim(
        path="parent",
        name=child.name,
        id_number=child.id_number,
        guardian_name=guardian.name,
        guardian_id_number=guardian.id_number,
        channel_user="chat-1",
        face_verification=False,
    )
    assert status == 201 and body["success"], body


async def test_another_child_keeps_the_parents_details_and_clears_the_childs(api: Api) -> None:
    await claim_for(api, FATHER_CHEN, CHEN_CHILDREN[0])
    act = next_child(api)
    events, messages = await run(act, after_card(FATHER_CHEN, CHEN_CHILDREN[0]))
    await act.client.close()
    assert events == [*CHILD_CLEARED, FollowupAction("claim_form")]
    assert said(messages) == [
        (
            "utter_next_child",
            "好的，为另一个孩子领卡。家长信息沿用：陈*伟（3601**********031X），只需要填写这个孩子的信息。",
            [],
        )
    ]


async def test_another_child_without_the_parents_details_starts_the_parent_path() -> None:
    t = tracker(
        {
            "role": "k12_student",
            "k12_claimant": "self",
            "person_name": CHILD.name,
            "id_number": CHILD.id_number,
            "card_number": "JX0000000001",
        },
        text="还有一个孩子",
        intent="next_child",
        active_loop=None,
    )
    events, messages = await run(next_child(None), t)
    assert events == [*CHILD_CLEARED, SlotSet("role", "parent"), FollowupAction("claim_form")]
    assert said(messages) == [("utter_claim_for_a_child", "好的，为孩子代领电子卡。", [])]


async def test_another_child_at_the_three_child_limit_is_explained_before_a_fourth_is_tried(api: Api) -> None:
    for child in CHEN_CHILDREN[:3]:
        await claim_for(api, FATHER_CHEN, child)
    act = next_child(api)
    events, messages = await run(act, after_card(FATHER_CHEN, CHEN_CHILDREN[2]))
    await act.client.close()
    # No form: the role is cleared so the user chooses how to go on.
    assert events == [*CHILD_CLEARED, SlotSet("role", None)]
    assert said(messages) == [
        (
            "utter_proxy_limit_reached_listed",
            "您已经为 3 个孩子代领了电子卡：陈*（3601**********0516）、陈*（3601**********0534）、"
            "陈*（3601**********0552）。"
            "目前每位家长最多代领三张，不能再代领第四张。其他孩子可以按中小学生本人领取（填孩子本人的姓名和身份证号，不核对监护人）。",
            [
                {"title": "让孩子本人领取", "payload": '/choose_role{"k12_claimant": "self"}'},
                {"title": "转人工", "payload": "/request_human"},
            ],
        )
    ]


async def test_another_child_mentioned_during_a_claim_waits_for_this_one() -> None:
    t = tracker(
        {**PARENT, "guardian_name": FATHER.name, "requested_slot": "guardian_id_number"},
        text="还有一个孩子",
        intent="next_child",
    )
    events, messages = await run(next_child(None), t)
    assert events == []
    assert said(messages) == [
        ("utter_next_child_mid_claim", "好的，先把这个孩子的卡领完，完成后再为另一个孩子领。", [])
    ]


# -- after a failure: why, what now, what the school must change -------------------------------------------

FAILURE_STEPS: dict[str, tuple[str, list[Button]]] = {
    "identity_not_found": ("k12_student", [FIX_NAME, FIX_ID, HUMAN, HOTLINE]),
    "invalid_id_number": ("parent", [FIX_CHILD_ID, FIX_GUARDIAN_ID, HUMAN]),
    "guardian_mismatch": ("parent", [FIX_GUARDIAN_NAME, FIX_GUARDIAN_ID, CHILD_CLAIMS_SELF, SCHOOL_FIX, HUMAN]),
    "not_enrolled": ("k12_student", [SCHOOL_FIX, FIX_ROLE, HUMAN, HOTLINE]),
    "proxy_limit_reached": ("parent", [CHILD_CLAIMS_SELF, CHILDREN_CLAIMED, HUMAN]),
    "rate_limited": ("teacher", [HOTLINE, HUMAN]),
    "backend_unavailable": ("public", [RETRY, HUMAN]),
}
FOLLOWUPS = {"why": "为什么", "what_now": "那怎么办", "school": "需要学校改什么"}


def expected_followup(code: str, asks: str) -> list[tuple[str, str, list[dict[str, str]]]]:
    """The response of the followup, its variation of this failure (the
    school's answer: its default for the failures the school cannot fix)."""
    steps = FAILURE_STEPS[code][1]
    shown = {"why": [WHAT_NOW, HUMAN], "what_now": steps, "school": [b for b in steps if b != SCHOOL_FIX]}[asks]
    response = f"utter_failure_{asks}"
    variations = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))["responses"][response]
    own = [
        v["text"]
        for v in variations
        if {"type": "slot", "name": "failure_reason", "value": code} in v.get("condition", [])
    ]
    default = [v["text"] for v in variations if not v.get("condition")]
    return [(response, (own or default)[0], buttons(*shown))]


@pytest.mark.parametrize("asks", list(FOLLOWUPS))
@pytest.mark.parametrize("code", list(FAILURE_STEPS))
async def test_a_typed_followup_after_a_failure_is_answered_from_that_failure(code: str, asks: str) -> None:
    t = tracker(
        {"role": FAILURE_STEPS[code][0], "failure_reason": code},
        text=FOLLOWUPS[asks],
        intent="ask_followup",
        active_loop=None,
    )
    events, messages = await run(ActionFailureFollowup(), t)
    assert events == []
    assert said(messages) == expected_followup(code, asks)


@pytest.mark.parametrize("asks", list(FOLLOWUPS))
@pytest.mark.parametrize("code", list(FAILURE_STEPS))
async def test_a_tapped_followup_after_a_failure_is_answered_from_that_failure(code: str, asks: str) -> None:
    t = tracker(
        {"role": FAILURE_STEPS[code][0], "failure_reason": code},
        text=f'/ask_followup{{"followup": "{asks}"}}',
        intent="ask_followup",
        active_loop=None,
        entities=[{"entity": "followup", "value": asks}],
    )
    events, messages = await run(ActionFailureFollowup(), t)
    assert events == []
    assert said(messages) == expected_followup(code, asks)


@pytest.mark.parametrize(
    "text, asks",
    [
        ("咋办", "what_now"),
        ("该怎么弄", "what_now"),
        ("学校那边要改啥", "school"),
        ("为啥", "why"),
        ("怎么回事", "why"),
    ],
)
async def test_followups_in_other_words(text: str, asks: str) -> None:
    t = tracker(
        {"role": "parent", "failure_reason": "guardian_mismatch"}, text=text, intent="ask_followup", active_loop=None
    )
    assert ActionFailureFollowup.asks(t) == asks


def test_every_failure_has_its_own_why_and_what_now_and_the_school_answer_a_default() -> None:
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    codes = set(domain["slots"]["failure_reason"]["values"])
    assert codes == set(FAILURE_STEPS)

    def conditioned(response: str) -> tuple[set[str], int]:
        variations = domain["responses"][response]
        values = {c["value"] for v in variations for c in v.get("condition", []) if c["name"] == "failure_reason"}
        return values, sum(1 for v in variations if not v.get("condition"))

    for response in ("utter_failure_why", "utter_failure_what_now"):
        assert conditioned(response) == (codes, 1), response
    assert conditioned("utter_failure_school") == ({"guardian_mismatch", "not_enrolled", "identity_not_found"}, 1)


async def test_a_followup_with_no_failure_in_this_chat_answers_what_the_manual_says(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = BackendClient(url=str(api.client.make_url("")), token=TOKEN, timeout_s=2.5)
    monkeypatch.setattr(ActionFaqClaimFailed, "client", client)
    t = tracker({}, text="为什么", intent="ask_followup", active_loop=None)
    events, messages = await run(ActionFailureFollowup(), t)
    await client.close()
    assert events == []
    assert said(messages) == [
        (
            "utter_claim_failed_general",
            "“领取失败”可能有以下原因：\n（1）网络异常，此时领卡人数较多，您可以选择网络较好的区域或稍后再试；\n"
            "（2）身份信息填写错误，请再次确认填写的姓名、身份证号是否正确。\n需要的话，我现在就可以帮您领卡。",
            [{"title": "开始领卡", "payload": "/claim_card"}],
        )
    ]


# -- repeat ------------------------------------------------------------------------------------------------


def conversation(*turns: tuple[str, list[dict[str, Any]]], text: str = "再说一遍") -> Tracker:
    """user/bot turns, then the latest user message."""
    t = tracker({}, text=text, intent="repeat", active_loop=None)
    latest = t.events.pop()
    for user, bots in turns:
        t.events.append({"event": "user", "text": user, "parse_data": {}})
        t.events.append(action("action_listen"))
        for bot in bots:
            t.events.append({"event": "bot", "text": bot["text"], "data": {"buttons": bot.get("buttons")}})
        t.events.append(action("action_listen"))
    t.events.append(latest)
    return t


async def test_repeat_says_the_previous_bot_turn_again_with_its_buttons() -> None:
    role_buttons = [{"title": "我是家长", "payload": '/choose_role{"role": "parent"}'}]
    t = conversation(
        ("我要领卡", [{"text": "请选择您的领卡身份：", "buttons": role_buttons}]),
        ("我是家长", [{"text": "好的。"}, {"text": "请输入您（家长）本人的姓名："}]),
    )
    events, messages = await run(ActionRepeat(), t)
    assert events == []
    assert said(messages) == [(None, "好的。", []), (None, "请输入您（家长）本人的姓名：", [])]
    t = conversation(("我要领卡", [{"text": "请选择您的领卡身份：", "buttons": role_buttons}]))
    events, messages = await run(ActionRepeat(), t)
    assert said(messages) == [(None, "请选择您的领卡身份：", role_buttons)]


async def test_repeat_skips_a_turn_in_which_the_bot_said_nothing() -> None:
    t = conversation(("你好", [{"text": "您好！"}]), ("嗯", []))
    events, messages = await run(ActionRepeat(), t)
    assert said(messages) == [(None, "您好！", [])]


async def test_repeat_with_nothing_said_yet() -> None:
    events, messages = await run(ActionRepeat(), conversation())
    assert events == []
    assert said(messages) == [
        (
            "utter_nothing_to_repeat",
            "我刚才还没说什么呢。您可以说“我要领卡”，或者直接问我领卡遇到的问题。",
            [{"title": "开始领卡", "payload": "/claim_card"}],
        )
    ]


# -- starting a claim again ----------------------------------------------------------------------------------


async def test_a_correction_after_identity_not_found_keeps_the_details_and_changes_only_that_one() -> None:
    slots = {**PARENT_ALL, "details_confirmed": None, "failure_reason": "identity_not_found"}
    t = tracker(slots, text="孩子名字打错了，是李晓明", intent="correct", active_loop=None)
    events, messages = await run(ActionStartClaim(), t)
    assert events == [SlotSet("failure_reason", None), SlotSet("details_confirmed", None)]
    assert messages == []
    # Then the form, started by the correction, reads it.
    t = after(
        tracker({**slots, "failure_reason": None}, text="孩子名字打错了，是李晓明", intent="correct", active_loop=None),
        action("action_start_claim"),
    )
    events, messages = await run_form(t)
    assert events == [
        SlotSet("person_name", "李晓明"),
        SlotSet("details_confirmed", None),
        SlotSet("requested_slot", "details_confirmed"),
    ]
    assert texts(messages) == ["好的，孩子的姓名改为：李晓明"]


async def test_claim_card_after_a_card_starts_afresh() -> None:
    t = tracker(
        {**PARENT_ALL, "details_confirmed": True, "card_number": "JX0000000001", "change_menu": False},
        text="我要领卡",
        intent="claim_card",
        active_loop=None,
    )
    events, messages = await run(ActionStartClaim(), t)
    assert events == [
        SlotSet(s, None)
        for s in (
            "person_name",
            "id_number",
            "guardian_name",
            "guardian_id_number",
            "face_verification",
            "details_confirmed",
            "card_number",
            "failure_reason",
            "wrong_answers",
            "change_menu",
        )
    ]
    assert messages == []


async def test_claim_card_after_a_failure_that_is_not_a_fix_starts_afresh() -> None:
    t = tracker({**K12_ALL, "failure_reason": "not_enrolled"}, text="重新领卡", intent="claim_card", active_loop=None)
    events, _ = await run(ActionStartClaim(), t)
    assert events == [
        SlotSet(s, None)
        for s in (
            "person_name",
            "id_number",
            "guardian_name",
            "guardian_id_number",
            "face_verification",
            "details_confirmed",
            "card_number",
            "failure_reason",
            "wrong_answers",
            "change_menu",
        )
    ]


async def test_a_retry_after_backend_unavailable_keeps_everything() -> None:
    t = tracker(
        {
            "role": "teacher",
            "person_name": TEACHER.name,
            "id_number": TEACHER.id_number,
            "details_confirmed": True,
            "failure_reason": "backend_unavailable",
        },
        text="我要领卡",
        intent="claim_card",
        active_loop=None,
    )
    events, messages = await run(ActionStartClaim(), t)
    assert events == []
    assert messages == []


async def test_claim_card_during_a_claim_left_mid_way_goes_on_with_it() -> None:
    t = tracker({**PARENT, "guardian_name": FATHER.name}, text="我要领卡", intent="claim_card", active_loop=None)
    events, messages = await run(ActionStartClaim(), t)
    assert events == []
    assert texts(messages) == ["好的，我们接着刚才的领卡继续，已填写的信息都保留着。"]


# -- moving on from "确定不领了吗？" and naming the role in the change menu --------------------


@pytest.mark.parametrize(
    "text, intent", [("继续领卡", "claim_card"), ("继续", "claim_card"), ("不是，继续领", "inform")]
)
async def test_going_on_instead_of_answering_the_cancel_question_keeps_the_claim(text: str, intent: str) -> None:
    t = tracker({**K12, "requested_slot": "person_name", "pending_cancel": True}, text=text, intent=intent)
    events, _ = await run_form(t)
    assert SlotSet("pending_cancel", False) in events
    assert events[-1] == SlotSet("requested_slot", "person_name")


async def test_a_name_typed_instead_of_answering_the_cancel_question_is_the_name() -> None:
    t = tracker({**K12, "requested_slot": "person_name", "pending_cancel": True}, text=CHILD.name)
    events, _ = await run_form(t)
    assert SlotSet("pending_cancel", False) in events and SlotSet("person_name", CHILD.name) in events


@pytest.mark.parametrize("intent", ["affirm", "deny", "cancel"])
async def test_the_cancel_question_answered_is_left_to_its_rules(intent: str) -> None:
    t = tracker({**K12, "requested_slot": "person_name", "pending_cancel": True}, text="好", intent=intent)
    events, _ = await run_form(t)
    assert events == [SlotSet("requested_slot", "person_name")]  # rejected: the cancel rules answer


@pytest.mark.parametrize(
    "text, intent",
    [("换个身份", "faq_identity_mismatch"), ("领卡身份选错了", "correct"), ("人脸识别", "faq_face_recognition")],
)
async def test_the_change_menu_understands_the_role_and_face_named_in_words(text: str, intent: str) -> None:
    t = tracker({**PARENT_ALL, **AT_CONFIRMATION, "change_menu": True}, text=text, intent=intent)
    events, _ = await run_form(t)
    if "身份" in text:
        assert SlotSet("role", None) in events and events[-1] == SlotSet("requested_slot", "role")
    else:
        assert SlotSet("face_verification", None) in events
        assert events[-1] == SlotSet("requested_slot", "face_verification")


async def test_a_parent_at_the_three_child_limit_hears_it_before_typing_a_fourth_child(api: Api) -> None:
    for child in CHEN_CHILDREN[:3]:
        await claim_for(api, FATHER_CHEN, child)
    t = tracker(
        {"role": "parent", "guardian_name": FATHER_CHEN.name, "requested_slot": "guardian_id_number"},
        text=FATHER_CHEN.id_number,
    )
    form = ValidateClaimForm()
    form.client = BackendClient(url=str(api.client.make_url("")), token=TOKEN, timeout_s=2.5)
    dispatcher = CollectingDispatcher()
    events = await form.run(dispatcher, t, DOMAIN)
    await form.client.close()
    assert SlotSet("guardian_id_number", FATHER_CHEN.id_number) in events  # one of the three may be claimed again
    [message] = rendered(dispatcher.messages, t)
    assert "每位家长最多代领三张" in message["text"]
    assert [b["title"] for b in message["buttons"]] == ["让孩子本人领取", "转人工"]
