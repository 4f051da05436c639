"""After a failed claim: the next steps each failure offers, as buttons
that are also understood typed (contract/buttons.py). The wording of the
failures' follow-up answers is in domain.yml (utter_failure_*, one
variation per failure_reason)."""

from __future__ import annotations

from contract.buttons import (
    CHILD_CLAIMS_SELF,
    CHILDREN_CLAIMED,
    CLAIM_AGAIN,
    FIX_CHILD_ID,
    FIX_CHILD_NAME,
    FIX_FACE,
    FIX_GUARDIAN_ID,
    FIX_GUARDIAN_NAME,
    FIX_ID,
    FIX_NAME,
    FIX_ROLE,
    HOTLINE,
    HUMAN,
    RETRY,
    SCHOOL_FIX,
    Button,
)


def next_steps(code: str | None, role: str | None) -> list[Button]:
    """What a user can do after a failure with this code on this path."""
    parent = role == "parent"
    fix_holder = [FIX_CHILD_NAME, FIX_CHILD_ID] if parent else [FIX_NAME, FIX_ID]
    if code == "identity_not_found":
        return [*fix_holder, HUMAN, HOTLINE]
    if code == "invalid_id_number":
        return [FIX_CHILD_ID, FIX_GUARDIAN_ID, HUMAN] if parent else [FIX_ID, HUMAN]
    if code == "guardian_mismatch":
        return [FIX_GUARDIAN_NAME, FIX_GUARDIAN_ID, CHILD_CLAIMS_SELF, SCHOOL_FIX, HUMAN]
    if code == "not_enrolled":
        return [SCHOOL_FIX, FIX_ROLE, HUMAN, HOTLINE]
    if code == "proxy_limit_reached":
        return [CHILD_CLAIMS_SELF, CHILDREN_CLAIMED, HUMAN]
    if code == "rate_limited":
        return [HOTLINE, HUMAN]
    if code == "backend_unavailable":
        return [RETRY, HUMAN]
    return [CLAIM_AGAIN, HUMAN]


def fix_buttons(role: str | None) -> list[Button]:
    """One button a detail of this path, to change just that one."""
    if role == "parent":
        found = [FIX_GUARDIAN_NAME, FIX_GUARDIAN_ID, FIX_CHILD_NAME, FIX_CHILD_ID, FIX_FACE]
    elif role == "k12_student":
        found = [FIX_NAME, FIX_ID, FIX_FACE]
    else:
        found = [FIX_NAME, FIX_ID]
    return [*found, FIX_ROLE]
