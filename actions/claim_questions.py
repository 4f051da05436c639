"""The claim form's questions: which each kind of claimant is asked, in
which order, and what each detail is called to the user; the slots that
hold the card holder's and, on the parent path, the parent's details; and
the verified real name that answers them on the self-service paths.

actions/claim_turn.py reads a message against these questions;
actions/claim_form.py is the form's validation action.
"""

from __future__ import annotations

from rasa_sdk import Tracker

from contract.metadata import VERIFIED_REALNAME
from contract.paths import PATHS, SELF_SERVICE_PATHS

FORM = "claim_form"
# The holder's slots, and the parent's own on the parent path.
PERSON = {"name": "person_name", "id_number": "id_number"}
GUARDIAN = {"name": "guardian_name", "id_number": "guardian_id_number"}
NAME_SLOTS = ("person_name", "guardian_name")
ID_SLOTS = ("id_number", "guardian_id_number")
DETAIL_FIELDS = {
    "person_name": "name",
    "guardian_name": "name",
    "id_number": "id_number",
    "guardian_id_number": "id_number",
}
# The questions answered by a choice (utter_not_an_answer has a variation for each).
FIXED_ANSWERS = ("role", "k12_claimant", "face_verification", "details_confirmed")


def required_for(role: str | None, verified: bool = True) -> list[str]:
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
        return [
            "role",
            "guardian_name",
            "guardian_id_number",
            "person_name",
            "id_number",
            "face_verification",
            "details_confirmed",
        ]
    if role == "k12_student":
        # k12_claimant stays listed once answered: rasa-sdk validates only
        # the slots that are still required.
        return ["role", "k12_claimant", "person_name", "id_number", "face_verification", "details_confirmed"]
    return ["role", "person_name", "id_number", "details_confirmed"]


SLOT_LABELS = {
    "person_name": "姓名",
    "id_number": "身份证号",
    "guardian_name": "家长姓名",
    "guardian_id_number": "家长身份证号",
    "face_verification": "人脸识别选项",
    "role": "领卡身份",
}
PARENT_SLOT_LABELS = {
    **SLOT_LABELS,
    "person_name": "孩子的姓名",
    "id_number": "孩子的身份证号",
    "guardian_name": "您（家长）的姓名",
    "guardian_id_number": "您（家长）的身份证号",
}


def slot_label(slot: str, role: str | None) -> str:
    """What a detail is called to this user ("孩子的姓名" on the parent path)."""
    return (PARENT_SLOT_LABELS if role == "parent" else SLOT_LABELS)[slot]


def realname(tracker: Tracker) -> dict[str, str] | None:
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
