"""The claim SQL (backend/claims/statements.py) against its operations: every
named parameter is bound, PostgreSQL's numbering keeps a repeated name one
parameter, and the failures the rate limit counts are contract codes. (The
statements run for real in tests/backend/claims/test_claims.py, on SQLite and PostgreSQL.)"""

from __future__ import annotations

import datetime as dt
import re

from backend.claims import statements
from backend.claims.binding import STATEMENTS, attempt_parameters, parameters
from backend.claims.operations import (
    FindCard,
    Gate,
    HasProxyClaim,
    InsertCard,
    LogAttempt,
    Op,
    RecentFailures,
    TakeProxySlot,
    UpdateCard,
)
from backend.claims.postgres_runner import numbered
from backend.claims.records import Attempt, CardValues
from contract.failures import FAILURE_CODES

NOW = dt.datetime(2019, 6, 18, 9, 0)
NAMED = re.compile(r"(?<![:\w]):([a-z_][a-z0-9_]*)")
ATTEMPT = Attempt(
    created_at=NOW,
    channel_user="chat",
    action="claim",
    path="public",
    id_hash="h1",
    id_masked="m",
    name_masked="n",
    guardian_id_hash=None,
    guardian_id_masked=None,
)
CARD = CardValues(
    card_number="360000000011",
    holder_id_number="X",
    holder_name="张三",
    path="public",
    identities=["public"],
    permissions=["learning_space"],
    face_verification=None,
    claimed_by_guardian_id=None,
    channel_user="chat",
    district_code=None,
    school_code=None,
    school_name=None,
    created_at=NOW,
    updated_at=NOW,
)
FAILURES = RecentFailures("chat", "h1", "h2", NOW, 5)
ONE_OF_EACH: list[Op] = [
    FAILURES,
    Gate(FAILURES, "X"),
    FindCard("X"),
    HasProxyClaim("G", "C"),
    TakeProxySlot("G", 1, "C", NOW),
    InsertCard(CARD, ATTEMPT),
    UpdateCard(1, ["public"], ["learning_space"], None, None, None, NOW),
    LogAttempt(ATTEMPT),
]


def test_every_operation_has_a_statement_whose_parameters_it_binds() -> None:
    assert {type(op) for op in ONE_OF_EACH} == set(STATEMENTS)
    for op in ONE_OF_EACH:
        wanted = set(NAMED.findall(STATEMENTS[type(op)]))
        assert wanted and wanted <= set(parameters(op)), type(op).__name__


def test_the_card_and_its_log_row_in_one_statement_bind_both() -> None:
    op = InsertCard(CARD, ATTEMPT)
    wanted = set(NAMED.findall(statements.INSERT_CARD_LOGGED))
    assert wanted == set(parameters(op)) | set(attempt_parameters(ATTEMPT))


def test_postgres_numbering_keeps_a_repeated_name_one_parameter() -> None:
    text, names = numbered(statements.RECENT_FAILURES)
    assert names == ["channel_user", "id_hash", "guardian_id_hash", "since", "limit"]
    assert "id_hash IN ($2, $3)" in text and "guardian_id_hash IN ($2, $3)" in text
    assert ":" not in text.replace("::", "")
    assert numbered("SELECT CAST(:x AS text)::varchar, :x")[0] == "SELECT CAST($1 AS text)::varchar, $1"


def test_the_rate_limit_counts_contract_failure_codes() -> None:
    for sql in (statements.RECENT_FAILURES, statements.GATE):
        counted = re.search(r"failure_code IN \(([^)]*)\)", sql)
        assert counted is not None
        codes = [c.strip().strip("'") for c in counted.group(1).split(",")]
        assert codes == ["identity_not_found", "not_enrolled", "guardian_mismatch"]
        assert set(codes) <= set(FAILURE_CODES)
