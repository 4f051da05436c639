"""The personal-information notice (PIPL arts. 17 and 29): shown once in a
conversation, right before the first question that asks for a name or an
ID number, with the link to the privacy page the backend serves
(`GET /privacy`). Going on with the claim is the consent the notice asks
for; "不领了" ends the claim (its rule clears what was given).

`PRIVACY_PAGE_URL` is the page's public address; by default the backend's
own (`BACKEND_URL` + /privacy), which is right for the web chat page.

PIPL art. 31 (children under 14): the manual lets K-12 students claim for
themselves. When the ID number shows a student under 14 on that path, the
confirmation asks that a parent (guardian) has agreed, and offers the
parent path instead, where the registry checks that the one claiming is the
recorded guardian (docs/PRIVACY.md).
"""

from __future__ import annotations

import os
import re
from datetime import date
from typing import Any

from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.backend_client import DEFAULT_URL
from contract import beijing
from identity import validate_id

SHOWN_SLOT = "privacy_notice_shown"
# The questions that collect personal information (the confirmation too:
# a verified real name fills the details without asking).
PERSONAL_QUESTIONS = frozenset({"person_name", "guardian_name", "id_number", "guardian_id_number", "details_confirmed"})


# "不同意" to the notice, at a question for a name or an ID number.
REFUSAL = re.compile(r"^\s*(?:我|本人)?(?:不同意|拒绝|不授权|不愿意(?:提供)?)")
# "我妈妈同意了", "家长同意" at the under-14 confirmation (any 不 makes it no consent).
CONSENT = re.compile(r"同意|答应|批准|允许")


def refuses(asked: str | None, text: str) -> bool:
    """Is this message a refusal of the notice (at a question for a name or
    an ID number; at the confirmation "不同意" means "需要修改")?"""
    return asked in PERSONAL_QUESTIONS and asked != "details_confirmed" and bool(REFUSAL.match(text))


def consents(text: str) -> bool:
    return bool(CONSENT.search(text)) and "不" not in text


def privacy_url() -> str:
    configured = os.environ.get("PRIVACY_PAGE_URL")
    if configured:
        return configured
    return (os.environ.get("BACKEND_URL") or DEFAULT_URL).rstrip("/") + "/privacy"


def notice_before(next_question: str | None, shown: Any, dispatcher: CollectingDispatcher) -> list[dict[str, Any]]:
    """The notice, when `next_question` collects personal information and
    the notice was not shown yet; the slot event that remembers it."""
    if shown or next_question not in PERSONAL_QUESTIONS:
        return []
    dispatcher.utter_message(response="utter_privacy_notice", privacy_url=privacy_url())
    return [SlotSet(SHOWN_SLOT, True)]


# -- PIPL art. 31: children under 14 --------------------------------------------------

CONSENT_AGE = 14


def under_consent_age(id_number: Any, today: date | None = None) -> bool:
    """Is the holder of this ID number younger than 14 (by the birth date it
    holds)? False for anything that is not a valid ID number."""
    check = validate_id(id_number) if isinstance(id_number, str) else None
    if check is None or not check.ok or check.birth_date is None:
        return False
    today = today or beijing.today()  # ages by the date in China, not the server's
    born = check.birth_date
    age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    return age < CONSENT_AGE


def needs_guardian_consent(role: Any, claimant: Any, id_number: Any) -> bool:
    """A K-12 student under 14 claiming for themselves: the confirmation
    asks for a parent's consent (or offers the parent path, where the
    registry checks the guardian). On the parent path the guardian is the
    one claiming, and consents by doing so."""
    return role == "k12_student" and claimant == "self" and under_consent_age(id_number)
