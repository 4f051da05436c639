"""Actions of the claim path, in the style of RasaHQ/financial-demo: a
tracker as the action server receives it (JSON), the action run against
the real backend, and the exact events and messages expected."""

from __future__ import annotations

import time
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.backend_client import BackendClient
from actions.claim_actions import ActionAskDetailsConfirmed, ActionClaimCard
from actions.claim_form import ValidateClaimForm
from tests.conftest import TOKEN, Api
from tests.people import (
    FATHER_LI,
    GUARDIAN_HU,
    IMPERSONATED,
    MOTHER_WANG,
    PUBLIC,
    TEACHER,
    TYPED_STUDENT_LIU,
    VOCATIONAL,
    XIAOMING,
)
from tests.responses import rendered

VERIFIED_TEACHER = {"verified_realname": {"name": TEACHER.name, "id_number": TEACHER.id_number}}
ALL_SLOTS = [
    "role",
    "k12_claimant",
    "guardian_name",
    "guardian_id_number",
    "person_name",
    "id_number",
    "face_verification",
    "details_confirmed",
]
DOMAIN: dict[str, Any] = {"forms": {"claim_form": {"required_slots": ALL_SLOTS}}, "slots": {}}


def tracker(
    slots: dict[str, Any],
    text: str = "",
    intent: str = "inform",
    entities: list[dict[str, Any]] | None = None,
    metadata: dict[str, Any] | None = None,
    active_loop: str | None = "claim_form",
    sender: str = "chat-1",
    confidence: float = 0.99,
) -> Tracker:
    """A tracker as Rasa sends it: slots, the latest message, the events."""
    latest = {
        "text": text,
        "intent": {"name": intent, "confidence": confidence},
        "entities": entities or [],
        "metadata": metadata or {},
    }
    all_slots = {
        s: None
        for s in ALL_SLOTS + ["wrong_answers", "pending_cancel", "card_number", "failure_reason", "requested_slot"]
    }
    all_slots["privacy_notice_shown"] = True  # mid-claim: shown before the first detail was asked
    all_slots.update(slots)
    return Tracker.from_dict(
        {
            "sender_id": sender,
            "slots": all_slots,
            "latest_message": latest,
            # The slots were set in earlier turns, then the user spoke.
            "events": [{"event": "slot", "name": k, "value": v} for k, v in slots.items() if v is not None]
            + [{"event": "user", "text": text, "parse_data": latest, "metadata": metadata or {}}],
            "paused": False,
            "followup_action": None,
            "active_loop": {"name": active_loop} if active_loop else {},
            "latest_action_name": "action_listen",
        }
    )


async def run_form(t: Tracker) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The events, and the messages as the user reads them (domain.yml's
    responses rendered: tests/responses.py)."""
    dispatcher = CollectingDispatcher()
    events = await ValidateClaimForm().run(dispatcher, t, DOMAIN)
    return events, rendered(dispatcher.messages, t)


async def test_parent_name_fills_the_slot_being_asked() -> None:
    t = tracker(
        {"role": "parent", "requested_slot": "guardian_name"},
        text="我叫李建国",
        entities=[{"entity": "person_name", "value": "李建国"}],
    )
    events, messages = await run_form(t)
    assert events == [SlotSet("guardian_name", "李建国"), SlotSet("requested_slot", "guardian_id_number")]
    assert messages == []


async def test_traditional_full_width_and_prefix_are_understood() -> None:
    t = tracker({"role": "k12_student", "k12_claimant": "self", "requested_slot": "person_name"}, text="名字是張偉")
    events, _ = await run_form(t)
    assert events == [SlotSet("person_name", "张伟"), SlotSet("requested_slot", "id_number")]
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in XIAOMING.id_number)
    t = tracker(
        {"role": "k12_student", "k12_claimant": "self", "person_name": "李小明", "requested_slot": "id_number"},
        text=f"身份证号 {full_width}",
    )
    events, _ = await run_form(t)
    assert events == [SlotSet("id_number", XIAOMING.id_number), SlotSet("requested_slot", "face_verification")]


async def test_wrong_checksum_is_explained_and_asked_again_then_human_offered() -> None:
    bad = XIAOMING.id_number[:-1] + ("0" if XIAOMING.id_number[-1] != "0" else "1")
    wrong: dict[str, int] = {}
    for attempt in (1, 2, 3):
        t = tracker(
            {
                "role": "k12_student",
                "k12_claimant": "self",
                "person_name": "李小明",
                "requested_slot": "id_number",
                "wrong_answers": wrong,
            },
            text=bad,
        )
        events, messages = await run_form(t)
        wrong = {"id_number": attempt}
        assert events == [
            SlotSet("id_number", None),
            SlotSet("wrong_answers", wrong),
            SlotSet("failure_reason", "invalid_id_number"),
            SlotSet("requested_slot", "id_number"),
        ]
        assert "校验位" in messages[0]["text"]
        assert (len(messages) == 2) is (attempt == 3)
    assert messages[1]["buttons"] == [{"title": "转人工", "payload": "/request_human"}]


@pytest.mark.parametrize("text", ["<script>alert(1)</script>", "Robert'); DROP TABLE students;--", "😀😀", ""])
async def test_hostile_names_are_refused_politely(text: str) -> None:
    """Markup, SQL, emoji or nothing at the name question: stored nowhere
    (no SlotSet of the name at all), the wrong answer counted, and the user
    hears what is expected, without the input echoed back."""
    t = tracker({"role": "k12_student", "k12_claimant": "self", "requested_slot": "person_name"}, text=text)
    events, messages = await run_form(t)
    assert events == [SlotSet("wrong_answers", {"person_name": 1}), SlotSet("requested_slot", "person_name")]
    assert [m["text"] for m in messages] == ["没有识别到姓名。请只输入姓名（与身份证一致）。"]


async def test_bare_name_the_model_read_as_yes_is_the_name() -> None:
    """The intent model reads some unknown three-character words, such as
    the name 姜然宸, as "affirm" with high confidence (seen in bench/bot.py)."""
    for name in ("姜然宸", "付睿然", "欧阳娜娜", "阿依古丽·买买提"):
        t = tracker(
            {"role": "k12_student", "k12_claimant": "self", "requested_slot": "person_name"},
            text=name,
            intent="affirm",
            confidence=0.97,
        )
        events, messages = await run_form(t)
        assert events == [SlotSet("person_name", name), SlotSet("requested_slot", "id_number")], name
        assert messages == []


async def test_everyday_replies_are_not_names() -> None:
    for text, intent in (("好的", "affirm"), ("谢谢", "thank"), ("明白了", "affirm"), ("为什么", "out_of_scope")):
        t = tracker(
            {"role": "k12_student", "k12_claimant": "self", "requested_slot": "person_name"},
            text=text,
            intent=intent,
            confidence=0.97,
        )
        events, _ = await run_form(t)
        assert SlotSet("person_name", text) not in events, text


async def test_details_to_change_are_asked_again_in_the_same_claim() -> None:
    """ "需要修改" opens the change menu ("要修改哪一项？") instead of clearing
    everything; the detail picked is the only one asked again."""
    slots = {
        "role": "k12_student",
        "k12_claimant": "self",
        "person_name": "李小明",
        "id_number": XIAOMING.id_number,
        "face_verification": True,
        "requested_slot": "details_confirmed",
    }
    events, messages = await run_form(tracker(slots, text="需要修改", intent="deny"))
    assert events == [
        SlotSet("change_menu", True),
        SlotSet("details_confirmed", None),
        SlotSet("requested_slot", "details_confirmed"),
    ]
    assert messages == []
    dispatcher = CollectingDispatcher()
    assert await ActionAskDetailsConfirmed().run(dispatcher, tracker({**slots, "change_menu": True}), DOMAIN) == []
    assert [(m["response"], m["buttons"]) for m in dispatcher.messages] == [
        (
            "utter_which_detail",
            [
                {"title": "修改姓名", "payload": '/correct{"detail": "person_name"}'},
                {"title": "修改身份证号", "payload": '/correct{"detail": "id_number"}'},
                {"title": "修改人脸识别选项", "payload": '/correct{"detail": "face_verification"}'},
                {"title": "换一个领卡身份", "payload": '/correct{"detail": "role"}'},
                {"title": "确认无误，领卡", "payload": "/affirm"},
            ],
        )
    ]
    t = tracker(
        {**slots, "change_menu": True},
        text='/correct{"detail": "id_number"}',
        intent="correct",
        entities=[{"entity": "detail", "value": "id_number"}],
    )
    events, messages = await run_form(t)
    # Nothing is lost: the name and the face choice stay.
    assert events == [
        SlotSet("change_menu", False),
        SlotSet("id_number", None),
        SlotSet("details_confirmed", None),
        SlotSet("requested_slot", "id_number"),
    ]
    assert [m["text"] for m in messages] == ["好的，请重新输入身份证号。"]


async def test_a_wish_to_change_read_as_yes_is_a_no() -> None:
    slots = {
        "role": "public",
        "person_name": "李小明",
        "id_number": XIAOMING.id_number,
        "requested_slot": "details_confirmed",
    }
    for typed, confirmed in (("需要修改", None), ("名字写错了", None), ("没错", True), ("确认无误", True)):
        events, _ = await run_form(tracker(slots, text=typed, intent="affirm"))
        assert SlotSet("details_confirmed", confirmed) in events, typed


async def test_faq_mid_form_fills_nothing() -> None:
    t = tracker({"role": "parent", "requested_slot": "person_name"}, text="领卡要收费吗", intent="faq_fee")
    events, messages = await run_form(t)
    assert events == [SlotSet("requested_slot", "guardian_name")]  # still the first missing question
    assert messages == []


async def test_realname_metadata_prefills_self_service_paths() -> None:
    """The role is already known (kept from an earlier claim: action_start_claim
    clears the details after a card, not the role): the verified real name
    still fills the missing details (README, shared/CONTRACT.md: "on the
    university, teacher and public paths it pre-fills person_name and
    id_number")."""
    meta = {"verified_realname": {"name": TEACHER.name, "id_number": TEACHER.id_number}}
    t = tracker(
        {"role": "teacher"},
        text="我是老师",
        intent="choose_role",
        metadata=meta,
        entities=[{"entity": "role", "value": "teacher"}],
    )
    events, _ = await run_form(t)
    assert events == [
        SlotSet("person_name", TEACHER.name),
        SlotSet("id_number", TEACHER.id_number),
        SlotSet("requested_slot", "details_confirmed"),
    ]


async def test_switching_to_parent_keeps_what_applies() -> None:
    t = tracker(
        {"role": "k12_student", "k12_claimant": "self", "person_name": "李小明", "requested_slot": "id_number"},
        text="我其实是家长",
        intent="choose_role",
        entities=[{"entity": "role", "value": "parent"}],
    )
    events, _ = await run_form(t)
    assert events == [
        SlotSet("role", "parent"),
        SlotSet("details_confirmed", None),
        SlotSet("k12_claimant", None),
        SlotSet("requested_slot", "guardian_name"),
    ]


async def test_the_privacy_notice_comes_once_before_the_first_name_is_asked() -> None:
    t = tracker(
        {"role": None, "requested_slot": "role", "privacy_notice_shown": None},
        text="我是家长",
        intent="choose_role",
        entities=[{"entity": "role", "value": "parent"}],
    )
    events, messages = await run_form(t)
    assert SlotSet("role", "parent") in events
    assert events[-2:] == [SlotSet("requested_slot", "guardian_name"), SlotSet("privacy_notice_shown", True)]
    assert messages[0]["response"] == "utter_privacy_notice"
    assert messages[0]["privacy_url"].endswith("/privacy")
    shown = tracker(
        {"role": "parent", "requested_slot": "guardian_name"},
        text="我叫李建国",
        entities=[{"entity": "person_name", "value": "李建国"}],
    )
    events, messages = await run_form(shown)
    assert messages == [] and SlotSet("privacy_notice_shown", True) not in events


@pytest.mark.parametrize("text", ["不同意", "我不同意", "拒绝"])
async def test_refusing_the_notice_at_a_name_or_id_question_asks_whether_to_stop(text: str) -> None:
    t = tracker({"role": "parent", "requested_slot": "guardian_name"}, text=text, intent="deny")
    events, messages = await run_form(t)
    assert SlotSet("pending_cancel", True) in events
    assert "确定不领了吗" in messages[0]["text"]
    assert [b["title"] for b in messages[0]["buttons"]] == ["确定，不领了", "不取消"]


async def test_a_parents_consent_typed_at_the_under_14_confirmation_confirms() -> None:
    slots = {
        "role": "k12_student",
        "k12_claimant": "self",
        "person_name": XIAOMING.name,
        "id_number": XIAOMING.id_number,
        "face_verification": False,
        "requested_slot": "details_confirmed",
    }
    events, _ = await run_form(
        tracker(slots, text="我妈妈同意了", intent="choose_role", entities=[{"entity": "role", "value": "parent"}])
    )
    assert SlotSet("details_confirmed", True) in events and SlotSet("role", "parent") not in events
    events, _ = await run_form(tracker(slots, text="家长不同意", intent="deny"))
    assert SlotSet("details_confirmed", True) not in events


async def test_the_privacy_notice_is_not_shown_for_the_role_question() -> None:
    t = tracker({"role": None, "requested_slot": "role", "privacy_notice_shown": None}, text="你好", intent="greet")
    events, messages = await run_form(t)
    assert all(m.get("response") != "utter_privacy_notice" for m in messages)


async def confirmation(slots: dict[str, Any]) -> list[dict[str, Any]]:
    dispatcher = CollectingDispatcher()
    await ActionAskDetailsConfirmed().run(dispatcher, tracker(slots, text="开通"), DOMAIN)
    return dispatcher.messages


async def test_a_student_under_14_claiming_alone_is_asked_for_a_parents_consent_or_the_parent_path() -> None:
    messages = await confirmation(
        {
            "role": "k12_student",
            "k12_claimant": "self",
            "person_name": XIAOMING.name,
            "id_number": XIAOMING.id_number,
            "face_verification": True,
        }
    )
    assert [m["response"] for m in messages] == ["utter_confirm_details_with_consent"]
    assert [b["title"] for b in messages[0]["buttons"]] == ["家长已同意，确认领卡", "家长代领", "需要修改"]
    assert XIAOMING.id_number in messages[0]["details"]


@pytest.mark.parametrize("person", [TYPED_STUDENT_LIU, VOCATIONAL])
async def test_a_student_of_14_or_more_confirms_alone(person: Any) -> None:
    messages = await confirmation(
        {
            "role": "k12_student",
            "k12_claimant": "self",
            "person_name": person.name,
            "id_number": person.id_number,
            "face_verification": False,
        }
    )
    assert [m["response"] for m in messages] == ["utter_confirm_details"]


async def test_a_parent_claiming_for_a_child_under_14_is_not_asked_again_for_consent() -> None:
    messages = await confirmation(
        {
            "role": "parent",
            "guardian_name": FATHER_LI.name,
            "guardian_id_number": FATHER_LI.id_number,
            "person_name": XIAOMING.name,
            "id_number": XIAOMING.id_number,
            "face_verification": False,
        }
    )
    assert [m["response"] for m in messages] == ["utter_confirm_details"]


def test_the_consent_age_is_counted_to_the_day() -> None:
    from datetime import date

    from actions.privacy import under_consent_age

    born_2012_03_15 = IMPERSONATED.id_number
    assert under_consent_age(born_2012_03_15, today=date(2026, 3, 14))
    assert not under_consent_age(born_2012_03_15, today=date(2026, 3, 15))
    assert not under_consent_age("36010220150910013X", today=date(2026, 1, 1))  # not a valid number


async def test_confirmation_shows_the_details_in_full() -> None:
    """The person who typed the details checks every character (transcripts,
    logs and staff pages mask them; the confirmation does not)."""
    t = tracker(
        {
            "role": "parent",
            "guardian_name": FATHER_LI.name,
            "guardian_id_number": FATHER_LI.id_number,
            "person_name": XIAOMING.name,
            "id_number": XIAOMING.id_number,
            "face_verification": True,
        }
    )
    dispatcher = CollectingDispatcher()
    assert await ActionAskDetailsConfirmed().run(dispatcher, t, DOMAIN) == []
    [message] = dispatcher.messages
    assert message["response"] == "utter_confirm_details"
    assert message["details"] == (
        f"领卡身份：家长为孩子代领\n家长姓名：{FATHER_LI.name}\n"
        f"家长身份证号：{FATHER_LI.id_number}\n孩子姓名：{XIAOMING.name}\n"
        f"孩子身份证号：{XIAOMING.id_number}\n人脸识别验证：开通"
    )
    assert message["buttons"] == [
        {"title": "确认无误，领卡", "payload": "/affirm"},
        {"title": "需要修改", "payload": "/deny"},
    ]


def claim_action(api: Api | None, url: str | None = None) -> ActionClaimCard:
    action = ActionClaimCard()
    action.client = BackendClient(url=url or str(api.client.make_url("")), token=TOKEN, timeout_s=2.5)  # type: ignore[union-attr]
    return action


def confirmed(**slots: Any) -> Tracker:
    return tracker({"details_confirmed": True, **slots}, active_loop=None)


async def test_claim_card_issues_and_sets_the_card_number(api: Api) -> None:
    action = claim_action(api)
    dispatcher = CollectingDispatcher()
    t = confirmed(
        role="parent",
        guardian_name=MOTHER_WANG.name,
        guardian_id_number=MOTHER_WANG.id_number,
        person_name=XIAOMING.name,
        id_number=XIAOMING.id_number,
        face_verification=False,
    )
    events = await action.run(dispatcher, t, DOMAIN)
    number = await api.scalar("SELECT card_number FROM cards")
    assert events == [SlotSet("card_number", number), SlotSet("failure_reason", None)]
    text = rendered(dispatcher.messages, t)[0]["text"]
    assert text.startswith("领卡成功") and number in text and "卡包" in text
    assert XIAOMING.id_number not in text
    await action.client.close()


async def test_someone_elses_card_is_not_shown_but_said_to_be_claimed(api: Api) -> None:
    """Issue 13: a chat that only knows the student's name and ID number hears
    that the card exists, and what to do if it was not them; the chat that
    claimed it, or the holder by verified real name, sees it."""
    action = claim_action(api)
    k12 = dict(
        role="k12_student",
        k12_claimant="self",
        person_name=XIAOMING.name,
        id_number=XIAOMING.id_number,
        face_verification=False,
    )
    await action.run(
        CollectingDispatcher(),
        tracker({"details_confirmed": True, **k12}, active_loop=None, sender="chat-of-xiaoming"),
        DOMAIN,
    )
    number = await api.scalar("SELECT card_number FROM cards")
    dispatcher = CollectingDispatcher()
    events = await action.run(
        dispatcher, tracker({"details_confirmed": True, **k12}, active_loop=None, sender="a-classmate"), DOMAIN
    )
    assert events == [SlotSet("card_number", number), SlotSet("failure_reason", None)]
    assert dispatcher.messages[0]["response"] == "utter_card_held_by_another"
    assert number not in str(dispatcher.messages)
    verified = {"verified_realname": {"name": XIAOMING.name, "id_number": XIAOMING.id_number}}
    dispatcher = CollectingDispatcher()
    t = tracker({"details_confirmed": True, **k12}, active_loop=None, sender="new-phone", metadata=verified)
    await action.run(dispatcher, t, DOMAIN)
    assert number in rendered(dispatcher.messages, t)[0]["text"]
    await action.client.close()


async def test_claim_card_explains_guardian_mismatch(api: Api) -> None:
    action = claim_action(api)
    dispatcher = CollectingDispatcher()
    t = confirmed(
        role="parent",
        guardian_name=GUARDIAN_HU.name,
        guardian_id_number=GUARDIAN_HU.id_number,
        person_name=XIAOMING.name,
        id_number=XIAOMING.id_number,
        face_verification=True,
    )
    events = await action.run(dispatcher, t, DOMAIN)
    assert events == [SlotSet("failure_reason", "guardian_mismatch"), SlotSet("details_confirmed", None)]
    assert "联系孩子所在学校" in rendered(dispatcher.messages, t)[0]["text"]
    await action.client.close()


async def test_backend_down_answers_within_three_seconds_and_keeps_details() -> None:
    action = claim_action(None, url="http://127.0.0.1:9")
    dispatcher = CollectingDispatcher()
    t = tracker(
        {"details_confirmed": True, "role": "teacher", "person_name": TEACHER.name, "id_number": TEACHER.id_number},
        active_loop=None,
        metadata=VERIFIED_TEACHER,
    )
    started = time.monotonic()
    events = await action.run(dispatcher, t, DOMAIN)
    assert time.monotonic() - started < 3
    assert events == [SlotSet("failure_reason", "backend_unavailable")]
    assert "重试" in rendered(dispatcher.messages, t)[0]["text"]
    await action.client.close()


async def test_answering_who_claims_fills_the_slot() -> None:
    t = tracker(
        {"role": "k12_student", "requested_slot": "k12_claimant"},
        text='/inform{"k12_claimant": "self"}',
        entities=[{"entity": "k12_claimant", "value": "self"}],
    )
    events, _ = await run_form(t)
    assert events == [SlotSet("k12_claimant", "self"), SlotSet("requested_slot", "person_name")]


async def test_a_name_that_looks_like_a_role_is_still_the_answer() -> None:
    t = tracker(
        {"role": "k12_student", "k12_claimant": "self", "requested_slot": "person_name"},
        text="黄公众",
        intent="choose_role",
        entities=[{"entity": "role", "value": "public"}],
    )
    events, _ = await run_form(t)
    assert events == [SlotSet("person_name", "黄公众"), SlotSet("requested_slot", "id_number")]


@pytest.mark.parametrize("role", ["university_student", "teacher", "public"])
async def test_the_self_service_paths_ask_nothing_without_a_verified_real_name(role: str) -> None:
    """Issue 13: their card is the chat's own verified identity; typed
    details would prove nothing. The form ends at once and
    action_claim_card says why."""
    t = tracker(
        {"requested_slot": "role"},
        text=f'/choose_role{{"role": "{role}"}}',
        intent="choose_role",
        entities=[{"entity": "role", "value": role}],
    )
    events, _ = await run_form(t)
    assert events == [
        SlotSet("role", role),
        SlotSet("details_confirmed", None),
        SlotSet("k12_claimant", None),
        SlotSet("requested_slot", None),
    ]


@pytest.mark.parametrize("role", ["university_student", "teacher", "public"])
async def test_typed_details_on_a_self_service_path_claim_nothing(api: Api, role: str) -> None:
    action = claim_action(api)
    dispatcher = CollectingDispatcher()
    t = confirmed(role=role, person_name=PUBLIC.name, id_number=PUBLIC.id_number)
    events = await action.run(dispatcher, t, DOMAIN)
    assert events == [
        SlotSet("role", None),
        SlotSet("person_name", None),
        SlotSet("id_number", None),
        SlotSet("details_confirmed", None),
    ]
    assert [m["response"] for m in dispatcher.messages] == ["utter_realname_required"]
    assert await api.scalar("SELECT count(*) FROM cards") == 0
    await action.client.close()


async def test_a_self_service_claim_is_for_the_verified_person_whatever_was_typed(api: Api) -> None:
    action = claim_action(api)
    dispatcher = CollectingDispatcher()
    t = tracker(
        {"details_confirmed": True, "role": "teacher", "person_name": "郑老帅", "id_number": PUBLIC.id_number},
        active_loop=None,
        metadata=VERIFIED_TEACHER,
    )
    await action.run(dispatcher, t, DOMAIN)
    assert await api.scalar("SELECT holder_id_number FROM cards") == TEACHER.id_number
    assert "领卡成功" in rendered(dispatcher.messages, t)[0]["text"]
    await action.client.close()


async def test_an_unsigned_identity_in_metadata_fills_nothing() -> None:
    """Only the Rasa channel writes `verified_realname`, after checking the
    signature (bot/channels.py); what a client calls `realname` is ignored."""
    meta = {"realname": {"name": TEACHER.name, "id_number": TEACHER.id_number}}
    t = tracker(
        {"requested_slot": "role"},
        text='/choose_role{"role": "teacher"}',
        intent="choose_role",
        metadata=meta,
        entities=[{"entity": "role", "value": "teacher"}],
    )
    events, _ = await run_form(t)
    assert events == [
        SlotSet("role", "teacher"),
        SlotSet("details_confirmed", None),
        SlotSet("k12_claimant", None),
        SlotSet("requested_slot", None),
    ]


async def test_realname_metadata_prefills_when_the_role_is_chosen() -> None:
    meta = {"verified_realname": {"name": TEACHER.name, "id_number": TEACHER.id_number}}
    t = tracker(
        {"requested_slot": "role"},
        text='/choose_role{"role": "teacher"}',
        intent="choose_role",
        metadata=meta,
        entities=[{"entity": "role", "value": "teacher"}],
    )
    events, _ = await run_form(t)
    assert events == [
        SlotSet("role", "teacher"),
        SlotSet("person_name", TEACHER.name),
        SlotSet("id_number", TEACHER.id_number),
        SlotSet("details_confirmed", None),
        SlotSet("k12_claimant", None),
        SlotSet("requested_slot", "details_confirmed"),
    ]


async def test_the_typed_name_wins_over_a_partial_entity() -> None:
    t = tracker(
        {"role": "parent", "requested_slot": "guardian_name"},
        text="陈大伟",
        entities=[{"entity": "person_name", "value": "大伟"}],
    )
    events, _ = await run_form(t)
    assert events == [SlotSet("guardian_name", "陈大伟"), SlotSet("requested_slot", "guardian_id_number")]
    # In a longer sentence the entity is the name.
    t = tracker(
        {"role": "parent", "requested_slot": "guardian_name"},
        text="我是孩子的爸爸李建国",
        entities=[{"entity": "person_name", "value": "李建国"}],
    )
    events, _ = await run_form(t)
    assert events == [SlotSet("guardian_name", "李建国"), SlotSet("requested_slot", "guardian_id_number")]


@pytest.mark.parametrize(
    "text, intent, confidence, taken",
    [
        ("郭妍月", "faq_claim_period", 0.66, True),  # an unsure guess does not stop a name (seen in bench/bot.py)
        ("要钱吗", "faq_fee", 0.99, False),  # a clear question is answered instead
        ("不开通", "deny", 0.98, False),  # an answer to another question is no name
        ("算了", "cancel", 0.55, False),  # cancelling always counts
    ],
)
async def test_what_counts_as_the_answer_to_a_name_question(
    text: str, intent: str, confidence: float, taken: bool
) -> None:
    t = tracker(
        {"role": "k12_student", "k12_claimant": "self", "requested_slot": "person_name"},
        text=text,
        intent=intent,
        confidence=confidence,
    )
    events, _ = await run_form(t)
    assert (SlotSet("person_name", text) in events) is taken


async def test_an_id_shaped_number_answers_the_id_question_whatever_the_intent() -> None:
    t = tracker(
        {"role": "public", "person_name": "黄公众", "requested_slot": "id_number"},
        text=f"我的身份证是{PUBLIC.id_number}",
        intent="faq_identity_mismatch",
        confidence=0.95,
    )
    events, _ = await run_form(t)
    assert events[0] == SlotSet("id_number", PUBLIC.id_number)
