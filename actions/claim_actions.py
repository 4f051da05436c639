"""Actions of the claim path: the questions whose wording depends on the
path, the confirmation of the collected details, and issuing the card
through the backend."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.backend_client import BackendClient, BackendUnavailable, backend
from actions.claim_questions import realname
from actions.failures import fix_buttons, next_steps
from actions.messages import FAILURES, card
from actions.privacy import needs_guardian_consent
from contract.buttons import (
    CHANGE,
    CLAIM_BY_PARENT,
    CLAIM_SELF,
    CONFIRM,
    CONFIRM_WITH_CONSENT,
    NEXT_CHILD,
    buttons,
)
from contract.buttons import (
    ROLES as ROLE_BUTTONS,
)
from contract.paths import PATH_TITLES, SELF_SERVICE_PATHS

# Slots of the collected details, cleared when the user wants to change them.
DETAIL_SLOTS = (
    "person_name",
    "id_number",
    "guardian_name",
    "guardian_id_number",
    "face_verification",
    "details_confirmed",
)


class ActionAskRole(Action):
    """The role question, with its buttons (payloads with braces cannot
    live in domain responses); wording: utter_ask_role."""

    def name(self) -> str:
        return "action_ask_role"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        dispatcher.utter_message(response="utter_ask_role", buttons=buttons(*ROLE_BUTTONS))
        return []


class ActionAskK12Claimant(Action):
    def name(self) -> str:
        return "action_ask_k12_claimant"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        dispatcher.utter_message(response="utter_ask_k12_claimant", buttons=buttons(CLAIM_SELF, CLAIM_BY_PARENT))
        return []


def summary(tracker: Tracker) -> str:
    """The collected details in full: the person who typed them checks every
    character here (transcripts, logs and staff pages mask them)."""
    role: Any = tracker.get_slot("role")
    lines = [f"领卡身份：{PATH_TITLES.get(role, role)}"]
    if role == "parent":
        lines.append(f"家长姓名：{tracker.get_slot('guardian_name') or ''}")
        lines.append(f"家长身份证号：{tracker.get_slot('guardian_id_number') or ''}")
        lines.append(f"孩子姓名：{tracker.get_slot('person_name') or ''}")
        lines.append(f"孩子身份证号：{tracker.get_slot('id_number') or ''}")
    else:
        lines.append(f"姓名：{tracker.get_slot('person_name') or ''}")
        lines.append(f"身份证号：{tracker.get_slot('id_number') or ''}")
    if role in ("k12_student", "parent"):
        lines.append("人脸识别验证：" + ("开通" if tracker.get_slot("face_verification") else "不开通"))
    return "\n".join(lines)


class ActionAskDetailsConfirmed(Action):
    """Shows the collected details and asks for confirmation; after "需要修改"
    asks which detail to change instead."""

    def name(self) -> str:
        return "action_ask_details_confirmed"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        if tracker.get_slot("change_menu"):
            dispatcher.utter_message(
                response="utter_which_detail", buttons=buttons(*fix_buttons(tracker.get_slot("role")), CONFIRM)
            )
            return []
        if needs_guardian_consent(
            tracker.get_slot("role"), tracker.get_slot("k12_claimant"), tracker.get_slot("id_number")
        ):
            dispatcher.utter_message(
                response="utter_confirm_details_with_consent",
                details=summary(tracker),
                buttons=buttons(CONFIRM_WITH_CONSENT, CLAIM_BY_PARENT, CHANGE),
            )
            return []
        dispatcher.utter_message(
            response="utter_confirm_details", details=summary(tracker), buttons=buttons(CONFIRM, CHANGE)
        )
        return []


def show_card(dispatcher: CollectingDispatcher, body: dict[str, Any], more: list[dict[str, Any]] | None = None) -> None:
    """The card to its holder, its recorded guardian or the chat that claimed
    it; anyone else hears only that it was claimed, and what to do if it was
    not them (the backend decides who is who: `holder_proven`)."""
    if body.get("holder_proven"):
        card(body).to(dispatcher, more)
    else:
        dispatcher.utter_message(response="utter_card_held_by_another")


def claim_body(tracker: Tracker) -> dict[str, Any]:
    role = tracker.get_slot("role")
    body: dict[str, Any] = {
        "path": role,
        "name": tracker.get_slot("person_name"),
        "id_number": tracker.get_slot("id_number"),
        "channel_user": tracker.sender_id,
    }
    verified = realname(tracker)
    if verified is not None:
        body["verified_id_number"] = verified["id_number"]
        if role in SELF_SERVICE_PATHS:
            # The card is the verified person's, whatever was typed since.
            body["name"], body["id_number"] = verified["name"], verified["id_number"]
    if role in ("k12_student", "parent"):
        body["face_verification"] = bool(tracker.get_slot("face_verification"))
    if role == "parent":
        body["guardian_name"] = tracker.get_slot("guardian_name")
        body["guardian_id_number"] = tracker.get_slot("guardian_id_number")
    return body


class ActionClaimCard(Action):
    """Issues the card once the details are confirmed; explains a failure in
    plain words and says what to do next."""

    client: BackendClient = backend

    def name(self) -> str:
        return "action_claim_card"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        role = tracker.get_slot("role")
        if role in SELF_SERVICE_PATHS and realname(tracker) is None:
            # The claimant is the chat's own verified identity: typed details
            # prove nothing (anyone can type anyone's name and ID number).
            dispatcher.utter_message(response="utter_realname_required")
            return [SlotSet(slot, None) for slot in ("role", "person_name", "id_number", "details_confirmed")]
        if not tracker.get_slot("details_confirmed"):
            dispatcher.utter_message(response="utter_fill_in_again")
            return [SlotSet(slot, None) for slot in DETAIL_SLOTS]
        try:
            reply = await self.client.claim(**claim_body(tracker))
        except BackendUnavailable:
            dispatcher.utter_message(
                response=FAILURES["backend_unavailable"], buttons=buttons(*next_steps("backend_unavailable", role))
            )
            return [SlotSet("failure_reason", "backend_unavailable")]
        if reply.ok:
            more = [NEXT_CHILD] if role == "parent" else []
            show_card(dispatcher, reply.body, buttons(*more))
            return [SlotSet("card_number", reply.body["card"]["card_number"]), SlotSet("failure_reason", None)]
        code = reply.code if reply.code in FAILURES else "identity_not_found"
        dispatcher.utter_message(response=FAILURES[code], buttons=buttons(*next_steps(code, role)))
        events: list[EventType] = [SlotSet("failure_reason", code)]
        if code in ("invalid_id_number", "identity_not_found", "guardian_mismatch"):
            # Let the user correct the details: confirm again after editing.
            events.append(SlotSet("details_confirmed", None))
        return events
