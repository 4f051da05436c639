"""ID numbers are sealed in the conversation (trust/sealing.py), opened only
for the actions (actions/sealing.py), and masked in every event the tracker
store keeps (bot/redaction.py)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from actions.sealing import SealingExecutor, open_call, seal_events
from identity.freetext import mask_ids_in_text
from tests.people import MOTHER_WANG, TEACHER, XIAOMING
from trust import sealing

ID = XIAOMING.id_number


def test_a_sealed_id_opens_to_the_number_and_shows_only_the_masked_number() -> None:
    ref = sealing.seal(ID)
    assert ref.startswith(sealing.PREFIX) and ID not in ref
    assert sealing.unseal(ref) == ID
    assert sealing.masked(ref) == ID[:4] + "*" * 10 + ID[-4:]
    assert sealing.seal(ref) == ref  # sealing twice changes nothing
    assert sealing.seal(ID) == ref  # deterministic: an unchanged slot looks unchanged


def test_a_reference_made_with_another_key_or_tampered_with_opens_to_nothing() -> None:
    ref = sealing.seal(ID, key="another-key")
    assert sealing.unseal(ref) is None
    good = sealing.seal(ID)
    tampered = good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB")
    assert sealing.unseal(tampered) is None
    assert sealing.unseal(sealing.PREFIX + "3601**********0012:not-base64!") is None


@pytest.mark.parametrize("value", [None, "", 42, True, "李小雨"])
def test_what_is_no_id_number_passes_unchanged(value: Any) -> None:
    assert sealing.unseal(value) == value
    if not isinstance(value, str) or not value:
        assert sealing.seal(value) == value


@pytest.mark.parametrize(
    "typed, stored",
    [
        (f"身份证{ID}谢谢", f"身份证{ID[:4]}**********{ID[-4:]}谢谢"),
        (" ".join([ID[:6], ID[6:14], ID[14:]]), f"{ID[:4]}**********{ID[-4:]}"),
        (ID.translate({c: c + 0xFEE0 for c in range(0x30, 0x3A)}), f"{ID[:4]}**********{ID[-4:]}"),
        (ID[:-1], f"{ID[:4]}*********{ID[-5:-1]}"),  # one digit short: masked all the same
        ("学习号360123456789，电话13812345678", "学习号360123456789，电话13812345678"),
    ],
)
def test_free_text_keeps_no_id_number_but_card_and_phone_numbers(typed: str, stored: str) -> None:
    assert mask_ids_in_text(typed) == stored


def call(slots: dict[str, Any], events: list[dict[str, Any]], metadata: dict[str, Any]) -> dict[str, Any]:
    return {
        "next_action": "action_ask_details_confirmed",
        "sender_id": "s1",
        "version": "3.6.21",
        "domain": {"forms": {}, "slots": {}},
        "tracker": {
            "sender_id": "s1",
            "slots": slots,
            "events": events,
            "latest_message": {"text": "好", "intent": {"name": "affirm"}, "entities": [], "metadata": metadata},
            "paused": False,
            "followup_action": None,
            "active_loop": {"name": "claim_form"},
            "latest_action_name": "action_listen",
        },
    }


def test_the_action_server_opens_every_reference_and_seals_what_an_action_sets() -> None:
    sealed_child, sealed_parent = sealing.seal(XIAOMING.id_number), sealing.seal(MOTHER_WANG.id_number)
    verified = {"verified_realname": {"name": TEACHER.name, "id_number": sealing.seal(TEACHER.id_number)}}
    c = call(
        {"id_number": sealed_child, "guardian_id_number": sealed_parent, "person_name": XIAOMING.name},
        [
            {"event": "slot", "name": "id_number", "value": sealed_child},
            {"event": "user", "text": "好", "metadata": copy.deepcopy(verified)},
        ],
        copy.deepcopy(verified),
    )
    opened = open_call(c)["tracker"]
    assert opened["slots"]["id_number"] == XIAOMING.id_number
    assert opened["slots"]["guardian_id_number"] == MOTHER_WANG.id_number
    assert opened["slots"]["person_name"] == XIAOMING.name
    assert opened["events"][0]["value"] == XIAOMING.id_number
    assert opened["events"][1]["metadata"]["verified_realname"]["id_number"] == TEACHER.id_number
    assert opened["latest_message"]["metadata"]["verified_realname"]["id_number"] == TEACHER.id_number
    events = seal_events(
        [
            {"event": "slot", "name": "id_number", "value": XIAOMING.id_number},
            {"event": "slot", "name": "person_name", "value": XIAOMING.name},
            {"event": "slot", "name": "guardian_id_number", "value": None},
        ]
    )
    assert events == [
        {"event": "slot", "name": "id_number", "value": sealed_child},
        {"event": "slot", "name": "person_name", "value": XIAOMING.name},
        {"event": "slot", "name": "guardian_id_number", "value": None},
    ]


async def test_the_confirmation_shows_the_person_the_number_they_typed_from_sealed_slots() -> None:
    executor = SealingExecutor()
    executor.register_package("actions")
    slots = {
        "role": "parent",
        "guardian_name": MOTHER_WANG.name,
        "guardian_id_number": sealing.seal(MOTHER_WANG.id_number),
        "person_name": XIAOMING.name,
        "id_number": sealing.seal(XIAOMING.id_number),
        "face_verification": False,
    }
    result = await executor.run(call(slots, [], {}))
    assert result is not None
    text = " ".join(str(m.get("details") or m.get("text") or "") for m in result.responses)
    assert XIAOMING.id_number in text and MOTHER_WANG.id_number in text
    assert "idref:" not in text


async def test_an_id_number_an_action_sets_goes_back_to_rasa_sealed() -> None:
    executor = SealingExecutor()
    executor.register_package("actions")
    c = call({"role": "parent", "guardian_name": MOTHER_WANG.name, "requested_slot": "guardian_id_number"}, [], {})
    c["next_action"] = "validate_claim_form"
    c["domain"] = {
        "forms": {"claim_form": {"required_slots": ["role", "guardian_name", "guardian_id_number"]}},
        "slots": {},
    }
    latest = {
        "text": MOTHER_WANG.id_number,
        "intent": {"name": "inform", "confidence": 0.99},
        "entities": [{"entity": "id_number", "value": MOTHER_WANG.id_number}],
        "metadata": {},
    }
    c["tracker"]["latest_message"] = latest
    c["tracker"]["events"] = [{"event": "user", "text": latest["text"], "parse_data": latest}]
    result = await executor.run(c)
    assert result is not None
    set_ids = [e["value"] for e in result.events if e.get("event") == "slot" and e.get("name") == "guardian_id_number"]
    assert set_ids == [sealing.seal(MOTHER_WANG.id_number)]
