"""The claim form's validation action: how a typed message fills the
questions each kind of claimant is asked (actions/claim_questions.py), one
turn read at a time (actions/claim_turn.py).

Every message the user sends while the form runs is read whole
(actions/reading.py), with the question in view: several details at once
fill everything they hold, whoever's they are (the parent's or the
child's); "名字打错了，是X" changes that one detail and keeps the rest; a
name typed at the ID question is kept where a name was missing, and the
user hears what was expected; a role statement, a greeting or a question is
never stored as a name. Whatever cannot answer the question gets an
explanation of what was expected, and after MAX_WRONG of them, a human.

Slots have custom mappings (domain.yml): `get_extraction_events` reads the
message once and sets the slots; the `validate_<slot>` methods check each
value as before (name plausibility, ID checksum).
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from rasa_sdk import FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import REQUESTED_SLOT
from rasa_sdk.types import DomainDict

from actions import privacy
from actions.backend_client import BackendClient, BackendUnavailable, backend
from actions.claim_questions import NAME_SLOTS, realname, required_for
from actions.claim_turn import Turn
from actions.failures import fix_buttons
from actions.messages import ID_PROBLEMS, NAME_PROBLEMS, Say
from actions.privacy import notice_before
from actions.reading import Correction, Detail
from contract.buttons import CANCEL_NO, CANCEL_YES, CHILD_CLAIMS_SELF, HUMAN, buttons
from contract.paths import PATHS
from identity import check_name, validate_id
from identity.names import MIDDLE_DOT
from identity.surnames import NOT_NAMES, has_surname

# "继续" to "确定不领了吗？" means go on, whatever intent the model reads in it.
GO_ON = re.compile(r"^(不是[，,\s]*)?(继续|接着|还要领|要领)")
MAX_WRONG = 3
# Actions that may run between a message and the form reading it.
STARTERS = ("claim_form", "action_listen", "action_start_claim", "action_next_child")
# Intents that rules answer mid-form (data/rules*.yml). Rasa gives the
# active form the first look at every message and lets a rule answer only
# when the form rejects it: the form rejects these unless the message also
# holds a detail or a correction for it (a name the model took for a
# question is still the name).
RULE_INTENTS = frozenset(
    (
        "greet",
        "goodbye",
        "thank",
        "cancel",
        "request_human",
        "refresh_identity",
        "out_of_scope",
        "ask_followup",
        "relative_claim",
        "next_child",
        "repeat",
        "dont_know",
        "faq_official",
        "faq_school_feedback",
        "faq_claim_failed",
        "faq_cannot_claim_for_child",
        "faq_verified_no_card",
        "faq_identity_mismatch",
        "faq_claim_entry",
        "faq_view_card",
        "faq_claim_period",
        "faq_what_is_account",
        "faq_fee",
        "faq_face_recognition",
        "faq_contact_support",
    )
)
_NAME_PREFIX = re.compile(r"^(我的?|孩子的?|小孩的?|娃的?|家长的?|本人的?)?(姓名|名字)?(叫|是|为|:|：)*")


def bare_name(text: str) -> str | None:
    """A message that is just a name the reading did not take (胡·不存,
    郑老师 as typed at the name question): plausible, short, led by a
    surname or with a middle dot, not an everyday reply."""
    norm, problem = check_name(_NAME_PREFIX.sub("", text).strip("。.!！ "))
    if problem is not None or norm in NOT_NAMES:
        return None
    return norm if (MIDDLE_DOT in norm or (len(norm) <= 4 and has_surname(norm))) else None


def limit_reached(listing: dict[str, Any]) -> bool:
    """A guardian's proxy claims (the backend's /proxy-claims/query) at its limit."""
    return int(listing.get("count") or 0) >= int(listing.get("limit") or 3)


def children_claimed(listing: dict[str, Any]) -> str:
    """The children of a guardian's proxy claims, masked, as one line."""
    return "、".join(f"{c['name_masked']}（{c['id_masked']}）" for c in listing.get("children", []))


def _before_this_message(tracker: Tracker, slot: str) -> Any:
    """A slot's value before the latest user message (the form has set
    this message's values on the tracker already)."""
    seen_user = False
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            seen_user = True
        elif seen_user and event.get("event") == "slot" and event.get("name") == slot:
            return event.get("value")
    return None


class ValidateClaimForm(FormValidationAction):
    client: BackendClient = backend

    def name(self) -> str:
        return "validate_claim_form"

    async def required_slots(
        self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[str]:
        return required_for(tracker.get_slot("role"), verified=realname(tracker) is not None)

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        extraction = await self.get_extraction_events(dispatcher, tracker, domain)
        tracker.add_slots(extraction)
        validation = await self._extract_validation_events(dispatcher, tracker, domain)
        validated = {e["name"] for e in validation}
        # rasa-sdk returns only the required slots it validated: what the
        # reading set besides (bookkeeping, the other path's details) is
        # kept as well.
        kept = [e for e in extraction if e["name"] not in validated]
        events = kept + validation
        asked_next = next((e["value"] for e in reversed(events) if e["name"] == REQUESTED_SLOT), None)
        return events + notice_before(asked_next, tracker.get_slot(privacy.SHOWN_SLOT), dispatcher)

    @staticmethod
    def fresh_message(tracker: Tracker) -> bool:
        """Is the latest user message for the form to read? Not when the form
        comes back after a rule answered it (a question, "不取消" after
        "算了"): only the form itself and the actions that start it may have
        run since."""
        for event in reversed(tracker.events):
            kind = event.get("event")
            if kind == "user":
                return True
            if kind == "action" and event.get("name") not in STARTERS:
                return False
        return False

    async def get_extraction_events(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        if not self.fresh_message(tracker):
            return []
        turn = Turn(tracker)
        if tracker.get_slot("pending_cancel"):
            if turn.intent in ("affirm", "deny", "cancel") and not GO_ON.match(turn.text):
                return []  # "确定不领了吗？" answered: its rules take it
            turn.updates["pending_cancel"] = False  # moved on ("继续领卡", a name): the claim goes on
        if privacy.refuses(turn.asked, turn.text):
            dispatcher.utter_message(response="utter_privacy_refused", buttons=buttons(CANCEL_YES, CANCEL_NO))
            return [SlotSet("pending_cancel", True)]
        if (
            turn.asked == "details_confirmed"
            and privacy.consents(turn.text)
            and not tracker.get_slot("change_menu")
            and privacy.needs_guardian_consent(
                turn.role, tracker.get_slot("k12_claimant"), tracker.get_slot("id_number")
            )
        ):
            return [SlotSet("details_confirmed", True)]  # "我妈妈同意了"
        if turn.asked in NAME_SLOTS and turn.reading.kind == "other" and not turn.reading.details:
            name = bare_name(turn.text)
            if name:
                turn.reading = replace(
                    turn.reading, kind="name", details=(Detail("name", name, None, 0, len(turn.text)),)
                )
        if tracker.get_slot("change_menu"):
            turn.updates["change_menu"] = False
            self._menu_choice(turn)
        elif (
            turn.reading.corrections
            and all(c.field == "any" for c in turn.reading.corrections)
            and ("身份" in turn.text.replace("身份证", ""))
        ):
            turn.payload["detail"] = "role"  # "领卡身份选错了"
        if (
            turn.intent in RULE_INTENTS
            and turn.asked
            and not (
                turn.reading.details
                or turn.payload.get("detail")
                or any(c.field != "any" for c in turn.reading.corrections)
            )
        ):
            return []  # rejected: the intent's rule answers it
        if turn.intent == "claim_card" and not (turn.reading.details or turn.reading.role):
            turn.handled = True  # "我要领卡" mid-claim: go on with it
        turn.read_path()
        used = turn.read_corrections()
        turn.read_details(used)
        turn.read_yes_no()
        for note in turn.notes:
            note.to(dispatcher)
        if turn.choices:
            dispatcher.utter_message(response="utter_whose_detail", buttons=buttons(*turn.choices))
        elif turn.menu and turn.asked == "details_confirmed":
            turn.updates["change_menu"] = True  # the confirmation question becomes "要修改哪一项？"
            turn.updates["details_confirmed"] = None
        elif turn.menu:
            filled = [
                b for b in fix_buttons(turn.role) if (s := b.slot()) is None or s == "role" or turn.slot(s) is not None
            ]
            dispatcher.utter_message(response="utter_which_detail", buttons=buttons(*filled))
        elif not turn.understood():
            explanation = turn.explain()
            if explanation and turn.asked:
                counts = self._count_wrong(turn.asked, dispatcher, tracker, explanation)
                turn.updates["wrong_answers"] = counts
        if turn.asked and not turn.updates:
            # Answered by a note or the menu: a bookkeeping event keeps Rasa
            # from rejecting the form (it would fall back and drop the notes).
            turn.updates["wrong_answers"] = tracker.get_slot("wrong_answers") or {}
        return [SlotSet(k, v) for k, v in turn.updates.items()]

    @staticmethod
    def _menu_choice(turn: Turn) -> None:
        """Right after "要修改哪一项？", "孩子的名字" alone names the detail."""
        if (
            turn.payload.get("detail")
            or turn.reading.details
            or any(c.field != "any" for c in turn.reading.corrections)
        ):
            return
        text = turn.text
        if "身份" in text.replace("身份证", ""):
            turn.payload["detail"] = "role"  # "领卡身份选错了", "换个身份"
            return
        field = "id_number" if ("身份证" in text or "号" in text) else "name" if ("名" in text) else None
        if "人脸" in text or "刷脸" in text:
            field = "face_verification"
        if field is None:
            return
        whose = (
            "child"
            if any(w in text for w in ("孩子", "小孩", "女儿", "儿子", "学生"))
            else ("self" if any(w in text for w in ("我", "家长", "本人")) else None)
        )
        turn.reading = replace(turn.reading, corrections=(Correction(field, whose),))  # type: ignore[arg-type]

    @staticmethod
    def _count_wrong(slot: str, dispatcher: CollectingDispatcher, tracker: Tracker, explanation: Say) -> dict[str, int]:
        counts = dict(tracker.get_slot("wrong_answers") or {})
        counts[slot] = counts.get(slot, 0) + 1
        explanation.to(dispatcher)
        if counts[slot] >= MAX_WRONG:
            dispatcher.utter_message(response="utter_human_offer", buttons=buttons(HUMAN))
        return counts

    # -- validation ------------------------------------------------------------------

    def _wrong(self, slot: str, explanation: Say, dispatcher: CollectingDispatcher, tracker: Tracker) -> dict[str, Any]:
        """Explain, ask again; after MAX_WRONG wrong answers, offer a human."""
        return {slot: None, "wrong_answers": self._count_wrong(slot, dispatcher, tracker, explanation)}

    def _name(self, slot: str, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker) -> dict[str, Any]:
        if value is None:
            return {slot: None}
        name, problem = check_name(str(value))
        if problem:
            return self._wrong(slot, Say(NAME_PROBLEMS[problem]), dispatcher, tracker)
        return {slot: name}

    def _id(self, slot: str, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker) -> dict[str, Any]:
        if value is None:
            return {slot: None}
        check = validate_id(str(value))
        if not check.ok:
            wrong = self._wrong(slot, Say(ID_PROBLEMS[check.problem or "characters"]), dispatcher, tracker)
            return {**wrong, "failure_reason": "invalid_id_number"}
        return {slot: check.normalised}

    async def validate_role(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value not in PATHS:
            return {"role": None}
        events: dict[str, Any] = {"role": value, "details_confirmed": None}
        if value != "k12_student":
            events["k12_claimant"] = None
        return events

    async def validate_details_confirmed(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return {"details_confirmed": True if value is True else None}

    async def validate_k12_claimant(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return {"k12_claimant": "self" if value == "self" else None}

    async def validate_face_verification(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return {"face_verification": value if isinstance(value, bool) else None}

    async def validate_person_name(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return self._name("person_name", value, dispatcher, tracker)

    async def validate_guardian_name(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return self._name("guardian_name", value, dispatcher, tracker)

    async def validate_id_number(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        result = self._id("id_number", value, dispatcher, tracker)
        guardian = tracker.get_slot("guardian_id_number")
        if result.get("id_number") and tracker.get_slot("role") == "parent" and result["id_number"] == guardian:
            return self._wrong("id_number", Say("utter_child_id_is_guardians"), dispatcher, tracker)
        return result

    async def validate_guardian_id_number(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        result = self._id("guardian_id_number", value, dispatcher, tracker)
        guardian_id = result.get("guardian_id_number")
        if guardian_id and guardian_id == tracker.get_slot("id_number"):
            return self._wrong("guardian_id_number", Say("utter_guardian_id_is_childs"), dispatcher, tracker)
        if guardian_id and guardian_id != _before_this_message(tracker, "guardian_id_number"):
            await self._limit_heads_up(guardian_id, dispatcher)
        return result

    async def _limit_heads_up(self, guardian_id: str, dispatcher: CollectingDispatcher) -> None:
        """A parent who already claimed for three children hears the limit
        before typing a fourth child's details (the claim of one of the
        three may still be repeated)."""
        try:
            listing = (await self.client.proxy_claims(guardian_id)).body
        except BackendUnavailable:
            return  # the claim itself checks the limit
        if limit_reached(listing):
            children = children_claimed(listing)
            dispatcher.utter_message(
                response="utter_proxy_limit_heads_up",
                count=listing["count"],
                children=children,
                buttons=buttons(CHILD_CLAIMS_SELF, HUMAN),
            )
