"""The claim form: which questions each kind of claimant is asked, and how
a typed message fills them.

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
from datetime import date
from typing import Any, Optional

from rasa_sdk import FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.forms import REQUESTED_SLOT
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import privacy
from actions.backend_client import BackendClient, BackendUnavailable, backend
from actions.failures import fix_buttons
from actions.privacy import notice_before
from actions.messages import ID_PROBLEMS, NAME_PROBLEMS, Say
from actions.reading import Correction, Detail, Reading, read
from contract.buttons import CANCEL_NO, CANCEL_YES, CHILD_CLAIMS_SELF, FIX_CHILD_ID, FIX_CHILD_NAME, FIX_GUARDIAN_ID, FIX_GUARDIAN_NAME, HUMAN, Button, buttons
from contract.metadata import VERIFIED_REALNAME
from contract.paths import PATH_LABELS, PATHS, SELF_SERVICE_PATHS
from identity import check_name, validate_id
from identity.names import MIDDLE_DOT
from identity.surnames import NOT_NAMES, has_surname

FORM = "claim_form"
# "继续" to "确定不领了吗？" means go on, whatever intent the model reads in it.
GO_ON = re.compile(r"^(不是[，,\s]*)?(继续|接着|还要领|要领)")
MAX_WRONG = 3
# The holder's slots, and the parent's own on the parent path.
PERSON = {"name": "person_name", "id_number": "id_number"}
GUARDIAN = {"name": "guardian_name", "id_number": "guardian_id_number"}
NAME_SLOTS = ("person_name", "guardian_name")
ID_SLOTS = ("id_number", "guardian_id_number")
DETAIL_FIELDS = {"person_name": "name", "guardian_name": "name", "id_number": "id_number",
                 "guardian_id_number": "id_number"}
# The questions answered by a choice (utter_not_an_answer has a variation for each).
FIXED_ANSWERS = ("role", "k12_claimant", "face_verification", "details_confirmed")
# Actions that may run between a message and the form reading it.
STARTERS = ("claim_form", "action_listen", "action_start_claim", "action_next_child")
# Intents that rules answer mid-form (data/rules*.yml). Rasa gives the
# active form the first look at every message and lets a rule answer only
# when the form rejects it: the form rejects these unless the message also
# holds a detail or a correction for it (a name the model took for a
# question is still the name).
RULE_INTENTS = frozenset((
    "greet", "goodbye", "thank", "cancel", "request_human", "refresh_identity", "out_of_scope", "ask_followup",
    "relative_claim", "next_child", "repeat", "dont_know", "faq_official", "faq_school_feedback",
    "faq_claim_failed", "faq_cannot_claim_for_child", "faq_verified_no_card", "faq_identity_mismatch",
    "faq_claim_entry", "faq_view_card", "faq_claim_period", "faq_what_is_account", "faq_fee",
    "faq_face_recognition", "faq_contact_support",
))
YES, NO = "affirm", "deny"
_NAME_PREFIX = re.compile(r"^(我的?|孩子的?|小孩的?|娃的?|家长的?|本人的?)?(姓名|名字)?(叫|是|为|:|：)*")


def bare_name(text: str) -> Optional[str]:
    """A message that is just a name the reading did not take (胡·不存,
    郑老师 as typed at the name question): plausible, short, led by a
    surname or with a middle dot, not an everyday reply."""
    norm, problem = check_name(_NAME_PREFIX.sub("", text).strip("。.!！ "))
    if problem is not None or norm in NOT_NAMES:
        return None
    return norm if (MIDDLE_DOT in norm or (len(norm) <= 4 and has_surname(norm))) else None


def required_for(role: Optional[str], verified: bool = True) -> list[str]:
    """The questions of each path, in the order they are asked. The role
    comes first on every path, so a path switch mid-form ("我其实是家长") is
    read whatever is being asked, and a cleared detail is asked again
    before the confirmation. The university, teacher and public paths claim
    for the chat's own verified real name: without one there is nothing to
    ask, and action_claim_card says why (issue 13)."""
    if role in SELF_SERVICE_PATHS and not verified:
        return ["role"]
    if role not in PATHS:
        # Details typed before the role are kept (and checked) meanwhile.
        return ["role", "person_name", "id_number"]
    if role == "parent":
        return ["role", "guardian_name", "guardian_id_number", "person_name", "id_number", "face_verification",
                "details_confirmed"]
    if role == "k12_student":
        # k12_claimant stays listed once answered: rasa-sdk validates only
        # the slots that are still required.
        return ["role", "k12_claimant", "person_name", "id_number", "face_verification", "details_confirmed"]
    return ["role", "person_name", "id_number", "details_confirmed"]


SLOT_LABELS = {"person_name": "姓名", "id_number": "身份证号", "guardian_name": "家长姓名",
               "guardian_id_number": "家长身份证号", "face_verification": "人脸识别选项", "role": "领卡身份"}
PARENT_SLOT_LABELS = {**SLOT_LABELS, "person_name": "孩子的姓名", "id_number": "孩子的身份证号",
                      "guardian_name": "您（家长）的姓名", "guardian_id_number": "您（家长）的身份证号"}


def slot_label(slot: str, role: Optional[str]) -> str:
    """What a detail is called to this user ("孩子的姓名" on the parent path)."""
    return (PARENT_SLOT_LABELS if role == "parent" else SLOT_LABELS)[slot]


def realname(tracker: Tracker) -> Optional[dict[str, str]]:
    """The channel's verified real-name identity, from the latest user
    message that carried one. Only the Rasa channel writes this key, after
    checking the mini-program server's signature (bot/channels.py); an
    unsigned identity a client sends never reaches here."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            meta = (event.get("metadata") or {}).get(VERIFIED_REALNAME)
            if isinstance(meta, dict) and meta.get("name") and meta.get("id_number"):
                return {"name": str(meta["name"]), "id_number": str(meta["id_number"])}
    return None


def _payload_entities(tracker: Tracker) -> dict[str, str]:
    """Entities only buttons send (k12_claimant, detail, followup), and the
    role a button or the model found."""
    found: dict[str, str] = {}
    for e in tracker.latest_message.get("entities") or []:
        if e.get("entity") in ("k12_claimant", "detail", "followup", "role") and e.get("value"):
            found.setdefault(str(e["entity"]), str(e["value"]))
    return found


def limit_reached(listing: dict[str, Any]) -> bool:
    """A guardian's proxy claims (the backend's /proxy-claims/query) at its limit."""
    return int(listing.get("count") or 0) >= int(listing.get("limit") or 3)


def children_claimed(listing: dict[str, Any]) -> str:
    """The children of a guardian's proxy claims, masked, as one line."""
    return "、".join(f"{c['name_masked']}（{c['id_masked']}）" for c in listing.get("children", []))


def whose_by_age(id_number: str) -> Optional[str]:
    """A parent's ID or a child's, told by the birth date it holds (under
    18: the child's)."""
    check = validate_id(id_number)
    if not check.ok:
        return None
    born = int(check.normalised[6:10])
    return "child" if date.today().year - born < 18 else "self"


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


def _last_set(tracker: Tracker, candidates: tuple[str, ...]) -> Optional[str]:
    """Which of the candidate slots was filled most recently."""
    for event in reversed(tracker.events):
        if event.get("event") == "slot" and event.get("name") in candidates and event.get("value") is not None:
            return str(event["name"])
    return None


class Turn:
    """One message read with the question in view; collects the slots it
    sets and what to tell the user about them."""

    def __init__(self, tracker: Tracker) -> None:
        self.tracker = tracker
        parsed = tracker.latest_message.get("intent") or {}
        self.intent = parsed.get("name")
        self.text = (tracker.latest_message.get("text") or "").strip()
        self.payload = _payload_entities(tracker)
        self.reading: Reading = read(self.text, tracker.latest_message.get("entities") or [])
        active = tracker.active_loop_name == FORM
        self.asked: Optional[str] = tracker.get_slot("requested_slot") if active else None
        self.role: Optional[str] = tracker.get_slot("role")
        self.updates: dict[str, Any] = {}
        self.notes: list[Say] = []  # what the message changed, said before the next question
        self.menu = False
        self.choices: list[Button] = []  # "家长的还是孩子的？"
        self.handled = False  # understood, though no slot changes

    def slot(self, name: str) -> Any:
        return self.updates[name] if name in self.updates else self.tracker.get_slot(name)

    # -- the path ----------------------------------------------------------------------

    def looks_like_a_name(self) -> bool:
        """Asked for a name, the whole message is one: a surname and one to
        three more characters, though a role word is in it (黄公众, 李学生)."""
        text = self.text.replace(" ", "")
        return (self.asked in NAME_SLOTS and 2 <= len(text) <= 4 and has_surname(text)
                and not text.startswith(("我", "是")) and text not in NOT_NAMES)

    def read_path(self) -> None:
        claimant = self.reading.claimant if (self.reading.kind in ("claimant", "role")
                                             or self.asked in ("role", "k12_claimant")) else None
        if self.payload.get("k12_claimant") == "self":
            claimant = "self"
        role = self.payload.get("role") if self.payload.get("role") in PATHS else self.reading.role
        if role is not None and not self.text.startswith("/") and self.looks_like_a_name():
            role = None  # "黄公众" asked for a name: a name, not "I am the public"
        if claimant == "parent":
            role = "parent"
        elif claimant == "self":
            if (self.role in (None, "k12_student") or self.asked == "k12_claimant"
                    or (self.role == "parent" and role in (None, "k12_student"))):
                # ("我是学生本人" on the parent path: the student claims.)
                role = "k12_student"
                if self.tracker.get_slot("k12_claimant") != "self":
                    self.updates["k12_claimant"] = "self"
        if role is None and self.role is None and any(d.whose == "child" for d in self.reading.details):
            role = "parent"  # "给女儿李小雨领卡"
        if role in PATHS and role != self.role:
            if self.role is not None and self.asked not in ("role", "k12_claimant"):
                self.notes.append(Say("utter_role_changed", {"role_name": PATH_LABELS[role]}))
            self.updates["role"] = role
            self.role = role
        # A verified real name fills the self-service paths' details.
        self_service = self.role in SELF_SERVICE_PATHS
        verified = realname(self.tracker) if self_service and self.slot("person_name") is None else None
        if verified:
            self.updates.update(person_name=verified["name"], id_number=verified["id_number"])

    # -- corrections -------------------------------------------------------------------

    def correction_slots(self, c: Correction) -> list[str]:
        fields = ("name", "id_number") if c.field == "any" else (c.field,)
        slots: list[str] = []
        for f in fields:
            if f == "face_verification":
                slots.append("face_verification")
                continue
            if self.role != "parent":
                slots.append(PERSON[f])
            elif c.whose == "self":
                slots.append(GUARDIAN[f])
            elif c.whose == "child":
                slots.append(PERSON[f])
            elif self.asked in (PERSON[f], GUARDIAN[f]):
                # Whose was not said: the one being asked about.
                slots.append(self.asked)
            else:
                value = next((d for d in self.reading.details if d.field == f), None)
                if value is not None and f == "id_number" and (whose := whose_by_age(value.value)):
                    slots.append(GUARDIAN[f] if whose == "self" else PERSON[f])
                elif value is not None:
                    slots.append(_last_set(self.tracker, (PERSON[f], GUARDIAN[f])) or PERSON[f])
                else:
                    # "身份证号输错了" at the confirmation: the parent's or the child's?
                    self.choices = [FIX_GUARDIAN_NAME, FIX_CHILD_NAME] if f == "name" else [FIX_GUARDIAN_ID,
                                                                                            FIX_CHILD_ID]
        return slots

    def read_corrections(self) -> set[int]:
        """Apply "X打错了，是Y" / "改一下孩子的名字"; returns the indexes of
        the details the corrections consumed."""
        corrections = list(self.reading.corrections)
        detail = self.payload.get("detail")
        if detail:
            corrections = []  # the button says which
            self.clear(detail)
        used: set[int] = set()
        for c in corrections:
            if c.field == "any":
                self.menu = True
                continue
            for slot in self.correction_slots(c):
                if slot == "face_verification":
                    self.updates["face_verification"] = None
                    continue
                field = DETAIL_FIELDS[slot]
                found = next((i for i, d in enumerate(self.reading.details)
                              if d.field == field and i not in used
                              and (d.whose is None or self.slot_for(d.field, d.whose) == slot)), None)
                if found is None:
                    self.clear(slot)
                    continue
                used.add(found)
                self.updates[slot] = self.reading.details[found].value
                self.notes.append(Say("utter_detail_changed", {"detail": slot_label(slot, self.role),
                                                               "value": self.reading.details[found].value}))
        if corrections or detail:
            self.updates["details_confirmed"] = None
        return used

    def clear(self, slot: str) -> None:
        if slot == "role":
            self.updates.update(role=None, k12_claimant=None, details_confirmed=None)
            return
        self.updates[slot] = None
        self.updates["details_confirmed"] = None
        self.notes.append(Say("utter_enter_again", {"detail": slot_label(slot, self.role)})
                          if slot != "face_verification" else Say("utter_choose_face_again"))

    # -- details -----------------------------------------------------------------------

    def slot_for(self, field: str, whose: Optional[str]) -> Optional[str]:
        """The slot a name or an ID number fills on this path."""
        if self.role != "parent":
            return PERSON[field]
        if whose == "self":
            return GUARDIAN[field]
        if whose == "child":
            return PERSON[field]
        # Not said: the person being asked about, unless it is the other
        # kind of detail and only the other person lacks it ("李晓明" typed
        # at the parent's ID question when the child's name is missing).
        asked_person = GUARDIAN if self.asked in GUARDIAN.values() else PERSON if self.asked in PERSON.values() else None
        if asked_person is not None and DETAIL_FIELDS[self.asked] == field:
            return asked_person[field]
        order = [asked_person, PERSON if asked_person is GUARDIAN else GUARDIAN] if asked_person else [GUARDIAN, PERSON]
        for person in order:
            if self.slot(person[field]) is None:
                return person[field]
        # Both known: the one given last (as a correction without "whose" does).
        return _last_set(self.tracker, (PERSON[field], GUARDIAN[field])) or PERSON[field]

    def read_details(self, used: set[int]) -> None:
        filled: list[str] = []
        for i, d in enumerate(self.reading.details):
            if i in used:
                continue
            slot = self.slot_for(d.field, d.whose)
            if slot is None:
                continue
            if d.whose is None:
                # Retyped as it was given for either person: that one's.
                slot = next((s for s in (PERSON[d.field], GUARDIAN[d.field])
                             if self.role == "parent" and self.slot(s) == d.value), slot)
            current = self.slot(slot)
            off_question = self.asked in DETAIL_FIELDS and DETAIL_FIELDS[self.asked] != d.field
            if current is None or slot == self.asked:
                self.updates[slot] = d.value
                filled.append(slot)
            elif current == d.value:
                if off_question:
                    self.notes.append(Say("utter_detail_already_noted", {
                        "detail": slot_label(slot, self.role), "asked": slot_label(self.asked, self.role)}))
                    self.handled = True
            elif off_question:
                # A name typed at the ID question when the name is known:
                # say what is expected rather than overwrite.
                response = "utter_name_already_filled" if d.field == "name" else "utter_id_number_already_filled"
                self.notes.append(Say(response, {"detail": slot_label(slot, self.role),
                                                 "asked": slot_label(self.asked, self.role)}))
                self.handled = True
            else:
                # At the confirmation: a different value is a correction.
                self.updates[slot] = d.value
                self.updates["details_confirmed"] = None
                self.notes.append(Say("utter_detail_changed", {"detail": slot_label(slot, self.role),
                                                               "value": d.value}))
        if len(filled) > 1 or (filled and self.asked not in (None, *filled)):
            noted = "、".join(slot_label(s, self.role) for s in filled)
            self.notes.append(Say("utter_details_noted", {"noted": noted}))

    # -- yes / no ----------------------------------------------------------------------

    def read_yes_no(self) -> None:
        if self.asked == "face_verification" and "face_verification" not in self.updates:
            if self.intent == YES:
                self.updates["face_verification"] = True
            elif self.intent == NO:
                self.updates["face_verification"] = False
        elif self.asked == "details_confirmed" and "details_confirmed" not in self.updates and not self.menu:
            if self.intent == YES and not self.reading.corrections:
                self.updates["details_confirmed"] = True
            elif self.intent == NO:
                self.menu = True  # "需要修改": which detail?

    # -- the whole message ---------------------------------------------------------------

    def understood(self) -> bool:
        return bool(self.updates) or self.menu or self.handled or bool(self.choices)

    def explain(self) -> Optional[Say]:
        """Why the message cannot answer the question being asked."""
        if self.asked is None:
            return None
        kind = self.reading.kind
        what = {"what": slot_label(self.asked, self.role)} if self.asked in DETAIL_FIELDS else {}
        if self.asked in NAME_SLOTS:
            if kind in ("role", "claimant"):
                return Say("utter_role_is_not_a_name", what)
            if kind in ("question", "greeting", "other"):
                return Say("utter_not_a_name", what)
            return None  # a name-shaped answer: validation has the last word
        if self.asked in ID_SLOTS:
            return Say("utter_not_an_id_number", what)
        # One variation a question, chosen by requested_slot (domain.yml).
        return Say("utter_not_an_answer") if self.asked in FIXED_ANSWERS else None


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
        if (turn.asked == "details_confirmed" and privacy.consents(turn.text) and not tracker.get_slot("change_menu")
                and privacy.needs_guardian_consent(turn.role, tracker.get_slot("k12_claimant"),
                                                   tracker.get_slot("id_number"))):
            return [SlotSet("details_confirmed", True)]  # "我妈妈同意了"
        if turn.asked in NAME_SLOTS and turn.reading.kind == "other" and not turn.reading.details:
            name = bare_name(turn.text)
            if name:
                turn.reading = replace(turn.reading, kind="name",
                                       details=(Detail("name", name, None, 0, len(turn.text)),))
        if tracker.get_slot("change_menu"):
            turn.updates["change_menu"] = False
            self._menu_choice(turn)
        elif turn.reading.corrections and all(c.field == "any" for c in turn.reading.corrections) and (
                "身份" in turn.text.replace("身份证", "")):
            turn.payload["detail"] = "role"  # "领卡身份选错了"
        if turn.intent in RULE_INTENTS and turn.asked and not (
                turn.reading.details or turn.payload.get("detail")
                or any(c.field != "any" for c in turn.reading.corrections)):
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
            filled = [b for b in fix_buttons(turn.role) if b.slot() in (None, "role") or turn.slot(b.slot()) is not None]
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
        if (turn.payload.get("detail") or turn.reading.details
                or any(c.field != "any" for c in turn.reading.corrections)):
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
        whose = "child" if any(w in text for w in ("孩子", "小孩", "女儿", "儿子", "学生")) else (
            "self" if any(w in text for w in ("我", "家长", "本人")) else None)
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

    async def validate_role(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        if value not in PATHS:
            return {"role": None}
        events: dict[str, Any] = {"role": value, "details_confirmed": None}
        if value != "k12_student":
            events["k12_claimant"] = None
        return events

    async def validate_details_confirmed(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        return {"details_confirmed": True if value is True else None}

    async def validate_k12_claimant(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        return {"k12_claimant": "self" if value == "self" else None}

    async def validate_face_verification(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        return {"face_verification": value if isinstance(value, bool) else None}

    async def validate_person_name(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        return self._name("person_name", value, dispatcher, tracker)

    async def validate_guardian_name(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        return self._name("guardian_name", value, dispatcher, tracker)

    async def validate_id_number(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        result = self._id("id_number", value, dispatcher, tracker)
        guardian = tracker.get_slot("guardian_id_number")
        if result.get("id_number") and tracker.get_slot("role") == "parent" and result["id_number"] == guardian:
            return self._wrong("id_number", Say("utter_child_id_is_guardians"), dispatcher, tracker)
        return result

    async def validate_guardian_id_number(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
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
            dispatcher.utter_message(response="utter_proxy_limit_heads_up", count=listing["count"], children=children,
                                     buttons=buttons(CHILD_CLAIMS_SELF, HUMAN))
