"""One message read with the form's question in view (`Turn`): the path it
states or switches to, the corrections it makes, the details it fills and
whose they are, yes or no to the question asked, and, when it answers
nothing, why (see actions/claim_form.py's docstring).
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker

from actions.claim_questions import (
    DETAIL_FIELDS,
    FIXED_ANSWERS,
    FORM,
    GUARDIAN,
    ID_SLOTS,
    NAME_SLOTS,
    PERSON,
    realname,
    slot_label,
)
from actions.messages import Say
from actions.reading import Correction, Reading, read
from contract import beijing
from contract.buttons import FIX_CHILD_ID, FIX_CHILD_NAME, FIX_GUARDIAN_ID, FIX_GUARDIAN_NAME, Button
from contract.paths import PATH_LABELS, PATHS, SELF_SERVICE_PATHS
from identity import validate_id
from identity.surnames import NOT_NAMES, has_surname

YES, NO = "affirm", "deny"


def _payload_entities(tracker: Tracker) -> dict[str, str]:
    """Entities only buttons send (k12_claimant, detail, followup), and the
    role a button or the model found."""
    found: dict[str, str] = {}
    for e in tracker.latest_message.get("entities") or []:
        if e.get("entity") in ("k12_claimant", "detail", "followup", "role") and e.get("value"):
            found.setdefault(str(e["entity"]), str(e["value"]))
    return found


def whose_by_age(id_number: str) -> str | None:
    """A parent's ID or a child's, told by the birth date it holds (under
    18: the child's)."""
    check = validate_id(id_number)
    if not check.ok:
        return None
    born = int(check.normalised[6:10])
    return "child" if beijing.today().year - born < 18 else "self"


def _last_set(tracker: Tracker, candidates: tuple[str, ...]) -> str | None:
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
        self.asked: str | None = tracker.get_slot("requested_slot") if active else None
        self.role: str | None = tracker.get_slot("role")
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
        return (
            self.asked in NAME_SLOTS
            and 2 <= len(text) <= 4
            and has_surname(text)
            and not text.startswith(("我", "是"))
            and text not in NOT_NAMES
        )

    def read_path(self) -> None:
        claimant = (
            self.reading.claimant
            if (self.reading.kind in ("claimant", "role") or self.asked in ("role", "k12_claimant"))
            else None
        )
        if self.payload.get("k12_claimant") == "self":
            claimant = "self"
        role = self.payload.get("role") if self.payload.get("role") in PATHS else self.reading.role
        if role is not None and not self.text.startswith("/") and self.looks_like_a_name():
            role = None  # "黄公众" asked for a name: a name, not "I am the public"
        if claimant == "parent":
            role = "parent"
        elif claimant == "self":
            if (
                self.role in (None, "k12_student")
                or self.asked == "k12_claimant"
                or (self.role == "parent" and role in (None, "k12_student"))
            ):
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
                    self.choices = (
                        [FIX_GUARDIAN_NAME, FIX_CHILD_NAME] if f == "name" else [FIX_GUARDIAN_ID, FIX_CHILD_ID]
                    )
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
                found = next(
                    (
                        i
                        for i, d in enumerate(self.reading.details)
                        if d.field == field
                        and i not in used
                        and (d.whose is None or self.slot_for(d.field, d.whose) == slot)
                    ),
                    None,
                )
                if found is None:
                    self.clear(slot)
                    continue
                used.add(found)
                self.updates[slot] = self.reading.details[found].value
                self.notes.append(
                    Say(
                        "utter_detail_changed",
                        {"detail": slot_label(slot, self.role), "value": self.reading.details[found].value},
                    )
                )
        if corrections or detail:
            self.updates["details_confirmed"] = None
        return used

    def clear(self, slot: str) -> None:
        if slot == "role":
            self.updates.update(role=None, k12_claimant=None, details_confirmed=None)
            return
        self.updates[slot] = None
        self.updates["details_confirmed"] = None
        self.notes.append(
            Say("utter_enter_again", {"detail": slot_label(slot, self.role)})
            if slot != "face_verification"
            else Say("utter_choose_face_again")
        )

    # -- details -----------------------------------------------------------------------

    def slot_for(self, field: str, whose: str | None) -> str | None:
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
        asked_person = (
            GUARDIAN if self.asked in GUARDIAN.values() else PERSON if self.asked in PERSON.values() else None
        )
        if asked_person is not None and self.asked is not None and DETAIL_FIELDS[self.asked] == field:
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
                slot = next(
                    (
                        s
                        for s in (PERSON[d.field], GUARDIAN[d.field])
                        if self.role == "parent" and self.slot(s) == d.value
                    ),
                    slot,
                )
            current = self.slot(slot)
            # The question asked, when this detail answers another one.
            off_question = self.asked if self.asked in DETAIL_FIELDS and DETAIL_FIELDS[self.asked] != d.field else None
            if current is None or slot == self.asked:
                self.updates[slot] = d.value
                filled.append(slot)
            elif current == d.value:
                if off_question:
                    self.notes.append(
                        Say(
                            "utter_detail_already_noted",
                            {"detail": slot_label(slot, self.role), "asked": slot_label(off_question, self.role)},
                        )
                    )
                    self.handled = True
            elif off_question:
                # A name typed at the ID question when the name is known:
                # say what is expected rather than overwrite.
                response = "utter_name_already_filled" if d.field == "name" else "utter_id_number_already_filled"
                self.notes.append(
                    Say(response, {"detail": slot_label(slot, self.role), "asked": slot_label(off_question, self.role)})
                )
                self.handled = True
            else:
                # At the confirmation: a different value is a correction.
                self.updates[slot] = d.value
                self.updates["details_confirmed"] = None
                self.notes.append(
                    Say("utter_detail_changed", {"detail": slot_label(slot, self.role), "value": d.value})
                )
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

    def explain(self) -> Say | None:
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
