"""Which domain.yml response says what, and the values computed at run time
that fill its `{variables}`. The wording is in domain.yml's responses
(grounded in the claim manual, shared/seed-notice-and-manual.txt).

Rasa 3.6 fills a response's `{name}` from the keyword arguments of
`dispatcher.utter_message(response=..., name=...)`, then from the slots
(rasa/core/nlg/response.py); it picks a conditional variation by the
slots as they were before the action ran, so a value the action itself
decides (a failure code, a card) picks a response by name instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rasa_sdk.executor import CollectingDispatcher

from contract.paths import IDENTITY_LABELS
from contract.permissions import PERMISSION_LABELS

__all__ = ["IDENTITY_LABELS", "PERMISSION_LABELS", "Say"]


@dataclass(frozen=True)
class Say:
    """A domain response and the values of its `{variables}`."""

    response: str
    values: Mapping[str, Any] = field(default_factory=dict)

    def to(self, dispatcher: CollectingDispatcher, buttons: list[dict[str, Any]] | None = None) -> None:
        dispatcher.utter_message(response=self.response, buttons=buttons, **self.values)


# What is wrong with an ID number (identity.validate_id's problem codes).
ID_PROBLEMS = {
    "empty": "utter_id_problem_empty",
    "length": "utter_id_problem_length",
    "characters": "utter_id_problem_characters",
    "area": "utter_id_problem_area",
    "birth_date": "utter_id_problem_birth_date",
    "checksum": "utter_id_problem_checksum",
}

# What is wrong with a name (identity.check_name's problem codes).
NAME_PROBLEMS = {
    "empty": "utter_name_problem_empty",
    "characters": "utter_name_problem_characters",
    "too_short": "utter_name_problem_too_short",
    "too_long": "utter_name_problem_too_long",
    "dots": "utter_name_problem_dots",
}

# A claim that failed, by failure code (the `failure_reason` slot is set by
# the same action, too late to choose a variation).
FAILURES = {
    "invalid_id_number": "utter_claim_failed_invalid_id_number",
    "identity_not_found": "utter_claim_failed_identity_not_found",
    "not_enrolled": "utter_claim_failed_not_enrolled",
    "guardian_mismatch": "utter_claim_failed_guardian_mismatch",
    "proxy_limit_reached": "utter_claim_failed_proxy_limit_reached",
    "rate_limited": "utter_claim_failed_rate_limited",
    "backend_unavailable": "utter_claim_failed_backend_unavailable",
}

# The same, after what the latest attempt tried ({name_masked}, {id_masked}).
LATEST_FAILURES = {
    "invalid_id_number": "utter_latest_failure_invalid_id_number",
    "identity_not_found": "utter_latest_failure_identity_not_found",
    "not_enrolled": "utter_latest_failure_not_enrolled",
    "guardian_mismatch": "utter_latest_failure_guardian_mismatch",
    "proxy_limit_reached": "utter_latest_failure_proxy_limit_reached",
    "rate_limited": "utter_latest_failure_rate_limited",
    "backend_unavailable": "utter_latest_failure_backend_unavailable",
}

# Kept here, not in domain.yml: Rasa responses have no optional parts, and
# these are the card's first line (a new card or one claimed before) and
# the lines only some cards have. Each is passed to utter_card whole, ""
# when the card has no such line.
CARD_HEADLINES = {"issued": "领卡成功！", "existing": "您已经领取过电子卡，无需重复领取。"}
FACE_LINES = {True: "\n人脸识别验证：已开通", False: "\n人脸识别验证：未开通"}
PATH_NOTE = (
    "\n提示：根据学籍库和教师库的比对结果，您的身份为“{identities}”，已按比对结果分配权限。"
    "如与实际不符，可在个人中心-个人身份-更新身份，或联系所在学校核对信息。"
)


def labels(values: list[str], table: dict[str, str]) -> str:
    return "、".join(table.get(v, v) for v in values)


def card(body: dict[str, Any]) -> Say:
    """The success answer (utter_card): number, identities, permissions,
    where to see it."""
    c = body["card"]
    identities = labels(c["identities"], IDENTITY_LABELS)
    face = c.get("face_verification")
    return Say(
        "utter_card",
        {
            "headline": CARD_HEADLINES["issued" if body.get("status") == "issued" else "existing"],
            "number": c["card_number"],
            "holder": c["holder_name_masked"],
            "holder_id": c["holder_id_masked"],
            "identities": identities,
            # The permission names are this deployment's configuration, not the
            # notice's: the notice says only that they are assigned automatically.
            "permissions": labels(c["permissions"], PERMISSION_LABELS),
            "face": "" if face is None else FACE_LINES[bool(face)],
            "path_note": PATH_NOTE.format(identities=identities) if body.get("path_mismatch") else "",
        },
    )
