"""The claim form: which questions each kind of claimant is asked, how a
free-text answer fills the slot being asked for, and how each answer is
validated as it comes.

Slots have custom mappings (domain.yml); the `extract_<slot>` methods here
read the latest message with the question in view, so "我叫李建国" fills the
parent's name when the parent's name was asked, and the child's otherwise.
"""
from __future__ import annotations

import re
from typing import Any, Optional

from rasa_sdk import FormValidationAction, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.messages import HOTLINE, ID_PROBLEMS, NAME_PROBLEMS
from identity import check_name, validate_id
from identity.names import MIDDLE_DOT
from identity.surnames import NOT_NAMES, has_surname

FORM = "claim_form"
ROLES = ("k12_student", "parent", "university_student", "teacher", "public")
SELF_SERVICE = ("university_student", "teacher", "public")
K12_PATHS = ("k12_student", "parent")
# Intents that are never an answer to the form's question (each has a rule
# that answers it mid-claim). Anything else asked for a name or an ID number
# is taken as the answer and validated: a bare name is often not understood
# as an intent at all, and a specific "that is not a valid name" helps more
# than a generic fallback.
NOT_ANSWERS = {
    "cancel", "request_human", "greet", "goodbye", "thank", "refresh_identity", "choose_role", "claim_card",
    "affirm", "deny",
}
# Always a request, however unsure the model is.
CONTROL_INTENTS = {"cancel", "request_human"}
# Below this confidence, another intent does not stop a plausible answer:
# names such as 郭妍月 ("月") can look like a question about the claim period.
SURE = 0.85
MAX_WRONG = 3
_NAME_PREFIX = re.compile(r"^(我的?|孩子的?|小孩的?|娃的?|家长的?|本人的?)?(姓名|名字)?(叫|是|为|:|：)*")
_ID_IN_TEXT = re.compile(r"[0-9０-９]{6}[\s\-－]*[0-9０-９]{4}[\s\-－]*[0-9０-９]{4}[\s\-－]*[0-9０-９]{3}[0-9０-９xXｘＸ]")


def required_for(role: Optional[str]) -> list[str]:
    """The questions of each path, in the order they are asked. The role
    comes first on every path, so a path switch mid-form ("我其实是家长") is
    extracted whatever is being asked."""
    if role not in ROLES:
        return ["role"]
    if role == "parent":
        return ["role", "guardian_name", "guardian_id_number", "person_name", "id_number", "face_verification",
                "details_confirmed"]
    if role == "k12_student":
        # k12_claimant stays listed once answered: rasa-sdk validates only
        # the slots that are still required.
        return ["role", "k12_claimant", "person_name", "id_number", "face_verification", "details_confirmed"]
    return ["role", "person_name", "id_number", "details_confirmed"]


def realname(tracker: Tracker) -> Optional[dict[str, str]]:
    """The channel's verified real-name identity, from the latest user
    message that carried one."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            meta = (event.get("metadata") or {}).get("realname")
            if isinstance(meta, dict) and meta.get("name") and meta.get("id_number"):
                return {"name": str(meta["name"]), "id_number": str(meta["id_number"])}
    return None


def _role_before_this_turn(tracker: Tracker) -> Optional[str]:
    """The role slot as it was before the latest user message (extraction
    updates the slots as it goes)."""
    seen_user = False
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            seen_user = True
        elif seen_user and event.get("event") == "slot" and event.get("name") == "role":
            return event.get("value")
    return None


def _entity(tracker: Tracker, name: str) -> Optional[str]:
    values = [e.get("value") for e in tracker.latest_message.get("entities", []) if e.get("entity") == name]
    return str(values[0]) if values and values[0] else None


# At the confirmation: words that ask for a change (not 没错 / 不错).
_WANTS_CHANGES = re.compile(r"修改|更改|改一下|改下|要改|改改|不对|有误|(?<![没不])错了|写错|填错|不正确")
# What "需要修改" at the confirmation clears (the path and k12_claimant stay).
RETYPED_SLOTS = ("person_name", "id_number", "guardian_name", "guardian_id_number", "face_verification")


def _bare_name(text: str) -> bool:
    """A message that is just a name: plausible, short, led by a surname (or
    a minority name with a middle dot), and not an everyday reply."""
    norm, problem = check_name(text)
    if problem is not None or norm in NOT_NAMES:
        return False
    return MIDDLE_DOT in norm or (len(norm) <= 4 and has_surname(norm))


class ValidateClaimForm(FormValidationAction):
    def name(self) -> str:
        return "validate_claim_form"

    async def required_slots(
        self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[str]:
        return required_for(tracker.get_slot("role"))

    # -- extraction ------------------------------------------------------------------

    def _answering(self, tracker: Tracker, slot: str) -> bool:
        """Is the latest message the answer to the question about `slot`?"""
        parsed = tracker.latest_message.get("intent") or {}
        intent, confidence = parsed.get("name"), float(parsed.get("confidence") or 0.0)
        if intent not in CONTROL_INTENTS and confidence < SURE:
            intent = "inform"  # unsure: take it as the answer, validation has the last word
        if intent == "choose_role":
            # Only a different role is a path switch; a name such as 黄公众
            # can look like a role phrase.
            role = _entity(tracker, "role")
            if role in ROLES and role != _role_before_this_turn(tracker):
                return False
            intent = "inform"
        return self._asked(tracker, slot) and intent not in NOT_ANSWERS and not (intent or "").startswith("faq_")

    def _asked(self, tracker: Tracker, slot: str) -> bool:
        return (
            tracker.get_slot("requested_slot") == slot
            and tracker.active_loop_name == FORM
            and not tracker.get_slot("pending_cancel")
        )

    def _text(self, tracker: Tracker) -> str:
        return (tracker.latest_message.get("text") or "").strip()

    def _name_answer(self, tracker: Tracker, slot: str) -> dict[str, Any]:
        typed = _NAME_PREFIX.sub("", self._text(tracker)).strip("。.!！ ")
        if self._asked(tracker, slot) and _bare_name(typed):
            return {slot: typed}  # whatever the intent model made of it (it reads 姜然宸 as "yes")
        if not self._answering(tracker, slot):
            return {}
        # A short plausible answer is the name as typed: the model's entity
        # can be a part of it where Jieba splits the name (陈|大伟).
        if check_name(typed)[1] is None and (len(typed) <= 4 or "·" in check_name(typed)[0]):
            return {slot: typed}
        return {slot: _entity(tracker, "person_name") or typed}

    def _id_answer(self, tracker: Tracker, slot: str) -> dict[str, Any]:
        asked = tracker.get_slot("requested_slot") == slot and not tracker.get_slot("pending_cancel")
        found = _entity(tracker, "id_number") or (m.group(0) if (m := _ID_IN_TEXT.search(self._text(tracker))) else None)
        if asked and found:
            return {slot: found}  # an ID-shaped number answers the question whatever the intent
        if not self._answering(tracker, slot):
            return {}
        return {slot: self._text(tracker)}

    def _yes_no(self, tracker: Tracker, slot: str) -> dict[str, Any]:
        if tracker.get_slot("requested_slot") != slot or tracker.get_slot("pending_cancel"):
            return {}
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        if intent == "affirm":
            return {slot: True}
        if intent == "deny":
            return {slot: False}
        return {}

    async def extract_role(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        value = _entity(tracker, "role")
        if value not in ROLES or value == tracker.get_slot("role"):
            return {}
        extracted: dict[str, Any] = {"role": value}
        # The questions of the new path are known only now: pre-fill what
        # the channel verified, so the user is asked to confirm it at once.
        verified = realname(tracker) if value in SELF_SERVICE and tracker.get_slot("person_name") is None else None
        if verified:
            extracted.update(person_name=verified["name"], id_number=verified["id_number"])
        return extracted

    async def extract_k12_claimant(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        if _entity(tracker, "k12_claimant") == "self":
            return {"k12_claimant": "self"}
        return {}

    async def extract_person_name(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        if tracker.get_slot("role") in SELF_SERVICE and tracker.get_slot("person_name") is None:
            verified = realname(tracker)
            if verified:
                return {"person_name": verified["name"], "id_number": verified["id_number"]}
        return self._name_answer(tracker, "person_name")

    async def extract_id_number(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        return self._id_answer(tracker, "id_number")

    async def extract_guardian_name(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        return self._name_answer(tracker, "guardian_name")

    async def extract_guardian_id_number(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        return self._id_answer(tracker, "guardian_id_number")

    async def extract_face_verification(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        return self._yes_no(tracker, "face_verification")

    async def extract_details_confirmed(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        answer = self._yes_no(tracker, "details_confirmed")
        if answer.get("details_confirmed") and _WANTS_CHANGES.search(self._text(tracker)):
            # The card is issued on this answer: a wish to change something
            # wins over the intent model (it reads 需要修改 as "yes").
            return {"details_confirmed": False}
        return answer

    # -- validation ------------------------------------------------------------------

    def _wrong(self, slot: str, explanation: str, dispatcher: CollectingDispatcher, tracker: Tracker) -> dict[str, Any]:
        """Explain, ask again; after MAX_WRONG wrong answers, offer a human."""
        counts = dict(tracker.get_slot("wrong_answers") or {})
        counts[slot] = counts.get(slot, 0) + 1
        dispatcher.utter_message(text=explanation)
        if counts[slot] >= MAX_WRONG:
            dispatcher.utter_message(
                text=f"看起来这一步不太顺利。需要的话可以转人工客服帮您处理，或拨打客服电话 {HOTLINE}。",
                buttons=[{"title": "转人工", "payload": "/request_human"}],
            )
        return {slot: None, "wrong_answers": counts}

    def _name(self, slot: str, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker) -> dict[str, Any]:
        name, problem = check_name(str(value or ""))
        if problem:
            return self._wrong(slot, NAME_PROBLEMS[problem], dispatcher, tracker)
        return {slot: name}

    def _id(self, slot: str, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker) -> dict[str, Any]:
        check = validate_id(str(value or ""))
        if not check.ok:
            wrong = self._wrong(slot, ID_PROBLEMS[check.problem or "characters"], dispatcher, tracker)
            return {**wrong, "failure_reason": "invalid_id_number"}
        return {slot: check.normalised}

    async def validate_role(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        if value not in ROLES:
            return {"role": None}
        events: dict[str, Any] = {"role": value, "details_confirmed": None}
        if value != "k12_student":
            events["k12_claimant"] = None
        return events

    async def validate_details_confirmed(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        """"需要修改": the details are asked again, in the same claim (the
        path chosen stays; "我其实是家长" still switches it)."""
        if value is False:
            dispatcher.utter_message(text="好的，我们重新填写一下。")
            return {**{slot: None for slot in RETYPED_SLOTS}, "details_confirmed": None}
        return {"details_confirmed": value}

    async def validate_k12_claimant(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        return {"k12_claimant": "self" if value == "self" else None}

    async def validate_person_name(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        return self._name("person_name", value, dispatcher, tracker)

    async def validate_guardian_name(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        return self._name("guardian_name", value, dispatcher, tracker)

    async def validate_id_number(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        return self._id("id_number", value, dispatcher, tracker)

    async def validate_guardian_id_number(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        result = self._id("guardian_id_number", value, dispatcher, tracker)
        if result.get("guardian_id_number") and result["guardian_id_number"] == tracker.get_slot("id_number"):
            return self._wrong("guardian_id_number", "家长的身份证号不能与孩子的相同，请输入您本人的身份证号。",
                               dispatcher, tracker)
        return result
