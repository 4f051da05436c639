"""Why a claim failed: the contract's failure codes (../shared/CONTRACT.md,
the `failure_reason` slot and the backend's answers), and what staff pages
and reports call them. The bot explains each in a sentence of its own
(actions/messages.py)."""

from __future__ import annotations

INVALID_ID_NUMBER = "invalid_id_number"
IDENTITY_NOT_FOUND = "identity_not_found"
NOT_ENROLLED = "not_enrolled"
GUARDIAN_MISMATCH = "guardian_mismatch"
PROXY_LIMIT_REACHED = "proxy_limit_reached"
RATE_LIMITED = "rate_limited"
BACKEND_UNAVAILABLE = "backend_unavailable"

FAILURE_CODES = (
    INVALID_ID_NUMBER,
    IDENTITY_NOT_FOUND,
    NOT_ENROLLED,
    GUARDIAN_MISMATCH,
    PROXY_LIMIT_REACHED,
    RATE_LIMITED,
    BACKEND_UNAVAILABLE,
)
# Failures on the 学籍库 that the student's school can fix (backend/campaign/fixes.py):
# guardians missing or another's, status not 在读, a name other than the record's.
REGISTRY_FAILURES = (GUARDIAN_MISMATCH, NOT_ENROLLED, IDENTITY_NOT_FOUND)
# Not a claim's failure: a refresh of the identities of someone without a card.
CARD_NOT_FOUND = "card_not_found"

FAILURE_LABELS = {
    "invalid_id_number": "身份证号无效",
    # Name and ID number do not match the 学籍库 or 教师库 (unknown ID, or another name).
    "identity_not_found": "未核验到身份",
    # A K-12 claim whose student is not 在读 (graduated, suspended, withdrawn, or at university).
    "not_enrolled": "学籍非在读",
    "guardian_mismatch": "监护人不符",
    "proxy_limit_reached": "代领已达上限",
    "rate_limited": "失败次数过多",
    "backend_unavailable": "系统繁忙",
    "card_not_found": "未找到电子卡",
}
# A conversation or a ticket without a failure.
NO_FAILURE_LABEL = "无"
