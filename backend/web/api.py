"""JSON API for the action server, under /api/v1, behind a service token.

Request bodies are validated here (shape, types, lengths, plausible names);
a malformed request is refused with 4xx before anything is written. Claim
failures (wrong details, limits) are answers, not errors: 422, or 429 for
`rate_limited`, with the contract's failure code in `code`.
"""

from __future__ import annotations

import hmac
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import select

from backend.appkeys import CLAIMS, DB, HASHER, SETTINGS
from backend.campaign.fixes import corrected_for
from backend.claims.attempts import latest_attempts
from backend.claims.service import ClaimRequest, Outcome, card_for, card_view
from backend.models import ProxyClaim, Student, Ticket, utcnow
from backend.web.errors import ApiError, Handler, answer_json, json_body, json_response
from contract.limits import MAX_PROXY_CHILDREN
from contract.paths import PATHS
from identity import mask_id, mask_name, name_problem, normalise_name, validate_id
from identity.logfilter import redact

OPENAPI_PATH = Path(__file__).with_name("openapi.yaml")
MAX_ID_INPUT = 64
MAX_USER = 128
PREFIX = "/api/"


# -- request parsing -----------------------------------------------------------


def string(body: dict[str, Any], key: str, *, max_len: int, required: bool = True) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            raise ApiError(400, "missing_field", f"{key} is required", field=key)
        return None
    if not isinstance(value, str):
        raise ApiError(400, "wrong_type", f"{key} must be a string", field=key)
    if "\x00" in value:
        raise ApiError(400, "bad_request", f"{key} contains a NUL character", field=key)
    if len(value) > max_len:
        raise ApiError(400, "too_long", f"{key} is longer than {max_len} characters", field=key)
    return value


def boolean(body: dict[str, Any], key: str) -> bool | None:
    value = body.get(key)
    if value is not None and not isinstance(value, bool):
        raise ApiError(400, "wrong_type", f"{key} must be true, false or null", field=key)
    return value


def person_name(body: dict[str, Any], key: str) -> str:
    value = string(body, key, max_len=MAX_ID_INPUT)
    assert value is not None
    problem = name_problem(value)
    if problem:
        raise ApiError(422, "invalid_name", f"{key} is not a plausible name", field=key, detail=problem)
    return value


def channel_user(body: dict[str, Any]) -> str | None:
    """The chat channel's user id; blank counts as none (so blank users do
    not share one rate limit)."""
    value = string(body, "channel_user", max_len=MAX_USER, required=False)
    return value.strip() or None if value is not None else None


def integer(body: dict[str, Any], key: str, default: int, lo: int, hi: int) -> int:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ApiError(400, "wrong_type", f"{key} must be an integer from {lo} to {hi}", field=key)
    return value


def outcome_response(outcome: Outcome) -> web.Response:
    if outcome.success:
        return json_response(outcome.as_dict(), status=201 if outcome.status == "issued" else 200)
    status = {"rate_limited": 429, "card_not_found": 404}.get(outcome.failure_code or "", 422)
    return json_response(outcome.as_dict(), status=status)


# -- handlers ------------------------------------------------------------------


def verified_id(body: dict[str, Any]) -> str | None:
    """`verified_id_number`: the ID of the chat's verified real name, as the
    action server read it from the Rasa channel (optional)."""
    if body.get("verified_id_number") is None:
        return None
    return valid_id(body, "verified_id_number")


def claim_request(body: dict[str, Any]) -> ClaimRequest:
    path = string(body, "path", max_len=32)
    if path not in PATHS:
        raise ApiError(422, "invalid_path", "path must be one of " + ", ".join(PATHS), field="path")
    parent = path == "parent"
    return ClaimRequest(
        path=path,
        name=person_name(body, "name"),
        id_number=string(body, "id_number", max_len=MAX_ID_INPUT) or "",
        guardian_name=person_name(body, "guardian_name") if parent else None,
        guardian_id_number=string(body, "guardian_id_number", max_len=MAX_ID_INPUT) if parent else None,
        face_verification=boolean(body, "face_verification"),
        channel_user=channel_user(body),
        verified_id_number=verified_id(body),
    )


async def post_claim(request: web.Request) -> web.Response:
    req = claim_request(await json_body(request))
    return outcome_response(await request.app[CLAIMS].claim(req))


async def post_match(request: web.Request) -> web.Response:
    req = claim_request(await json_body(request))
    return outcome_response(await request.app[CLAIMS].claim(req, issue=False))


async def post_refresh(request: web.Request) -> web.Response:
    body = await json_body(request)
    outcome = await request.app[CLAIMS].refresh(
        person_name(body, "name"),
        string(body, "id_number", max_len=MAX_ID_INPUT) or "",
        channel_user(body),
    )
    return outcome_response(outcome)


def valid_id(body: dict[str, Any], key: str) -> str:
    check = validate_id(string(body, key, max_len=MAX_ID_INPUT) or "")
    if not check.ok:
        raise ApiError(422, "invalid_id_number", f"{key} is not a valid ID number", field=key, detail=check.problem)
    return check.normalised


async def post_card_query(request: web.Request) -> web.Response:
    """The card of a person; with `name`, only when the name matches too."""
    body = await json_body(request)
    id_number = valid_id(body, "id_number")
    name = string(body, "name", max_len=MAX_ID_INPUT, required=False)
    async with request.app[DB].reading() as session:
        card = await card_for(session, id_number)
    if card is None or (name is not None and normalise_name(name) != card.holder_name):
        raise ApiError(404, "card_not_found", "no card for this person")
    return json_response({"success": True, "card": card_view(card)})


async def post_attempt_query(request: web.Request) -> web.Response:
    body = await json_body(request)
    user = channel_user(body)
    id_hash = request.app[HASHER](valid_id(body, "id_number")) if body.get("id_number") is not None else None
    if not user and not id_hash:
        raise ApiError(400, "missing_field", "give channel_user or id_number")
    limit = integer(body, "limit", 10, 1, 100)
    async with request.app[DB].reading() as session:
        attempts = await latest_attempts(session, channel_user=user, id_hash=id_hash, limit=limit)
    return json_response({"success": True, "attempts": attempts})


async def post_corrected_query(request: web.Request) -> web.Response:
    """Whether this chat's earlier claim, failed on the registry (guardian,
    status, name), has since been corrected by a registry import: the
    students concerned, masked, newest correction first."""
    body = await json_body(request)
    user = channel_user(body)
    if not user:
        raise ApiError(400, "missing_field", "channel_user is required", field="channel_user")
    async with request.app[DB].reading() as session:
        found = await corrected_for(session, request.app[HASHER], user)
    records = [{"failure_code": c.failure_code, "name_masked": c.student_masked} for c in found]
    return json_response({"success": True, "corrected": records})


async def post_proxy_query(request: web.Request) -> web.Response:
    """The children a guardian has claimed for (masked), and the limit."""
    body = await json_body(request)
    guardian_id = valid_id(body, "guardian_id_number")
    async with request.app[DB].reading() as session:
        rows = await session.execute(
            select(ProxyClaim.slot, ProxyClaim.child_id_number, Student.name)
            .join(Student, Student.id_number == ProxyClaim.child_id_number, isouter=True)
            .where(ProxyClaim.guardian_id_number == guardian_id)
            .order_by(ProxyClaim.slot)
        )
        children = [
            {"slot": slot, "id_masked": mask_id(child), "name_masked": mask_name(name or "")}
            for slot, child, name in rows
        ]
    return json_response({"success": True, "limit": MAX_PROXY_CHILDREN, "count": len(children), "children": children})


async def post_ticket(request: web.Request) -> web.Response:
    """转人工: open a support ticket for a conversation (one open ticket per
    conversation: asking again returns it)."""
    body = await json_body(request)
    user = channel_user(body)
    if not user:
        raise ApiError(400, "missing_field", "channel_user is required", field="channel_user")
    reason = string(body, "reason", max_len=64, required=False) or "request_human"
    summary = string(body, "summary", max_len=512, required=False)
    async with request.app[DB].writing() as session:
        ticket = (
            await session.scalars(
                select(Ticket).where(Ticket.channel_user == user, Ticket.status != "resolved").limit(1)
            )
        ).first()
        created = ticket is None
        if ticket is None:
            ticket = Ticket(
                channel_user=user,
                reason=reason,
                summary=redact(summary) if summary else None,
                status="open",
                created_at=utcnow(),
            )
            session.add(ticket)
            await session.flush()
    return json_response(
        {"success": True, "ticket_number": ticket.number, "status": ticket.status, "created": created},
        status=201 if created else 200,
    )


async def get_openapi(request: web.Request) -> web.Response:
    return web.Response(text=OPENAPI_PATH.read_text(encoding="utf-8"), content_type="application/yaml")


# -- middleware ----------------------------------------------------------------


@web.middleware
async def service_token(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith("/api/v1/") and request.path != "/api/v1/openapi.yaml":
        expected = request.app[SETTINGS].service_token
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {expected}".encode()):
            raise ApiError(401, "unauthorized", "a valid service token is required")
    return await handler(request)


def setup_api(app: web.Application) -> None:
    answer_json(app, prefix=PREFIX)
    app.router.add_get("/api/v1/openapi.yaml", get_openapi)
    app.router.add_post("/api/v1/claims", post_claim)
    app.router.add_post("/api/v1/matches", post_match)
    app.router.add_post("/api/v1/cards/query", post_card_query)
    app.router.add_post("/api/v1/cards/refresh", post_refresh)
    app.router.add_post("/api/v1/attempts/query", post_attempt_query)
    app.router.add_post("/api/v1/proxy-claims/query", post_proxy_query)
    app.router.add_post("/api/v1/records/corrected", post_corrected_query)
    app.router.add_post("/api/v1/tickets", post_ticket)
