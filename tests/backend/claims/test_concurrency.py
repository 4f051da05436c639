"""The invariants hold under simultaneous requests: one card per person,
at most three children per guardian. Real HTTP, real databases."""

from __future__ import annotations

import asyncio
from collections import Counter

from sqlalchemy.exc import IntegrityError

from backend.models import Card, ProxyClaim, utcnow
from tests.conftest import Api
from tests.people import CHEN_CHILDREN, FATHER_CHEN, PUBLIC, XIAOMING

N = 50


async def test_fifty_simultaneous_claims_for_one_person_make_one_card(api: Api) -> None:
    results = await asyncio.gather(
        *[
            api.claim(
                path="k12_student",
                name=XIAOMING.name,
                id_number=XIAOMING.id_number,
                face_verification=bool(i % 2),
                channel_user=f"dup-{i}",
            )
            for i in range(N)
        ]
    )
    statuses = Counter(status for status, _ in results)
    assert statuses == {201: 1, 200: N - 1}, statuses
    assert len({body["card"]["card_number"] for _, body in results}) == 1
    assert await api.scalar("SELECT count(*) FROM cards") == 1
    assert await api.scalar("SELECT count(*) FROM claim_attempts WHERE success") == N


async def test_fifty_simultaneous_public_claims_make_one_card(api: Api) -> None:
    results = await asyncio.gather(
        *[api.claim(path="public", name=PUBLIC.name, id_number=PUBLIC.id_number) for _ in range(N)]
    )
    assert len({body["card"]["card_number"] for _, body in results}) == 1
    assert await api.scalar("SELECT count(*) FROM cards") == 1


async def test_fifty_simultaneous_proxy_claims_respect_the_limit_of_three(api: Api) -> None:
    """A guardian of four children sends 50 requests at once, spread over all
    four: exactly three children get cards, the rest hear the limit."""
    requests = [CHEN_CHILDREN[i % 4] for i in range(N)]
    results = await asyncio.gather(
        *[
            api.claim(
                path="parent",
                name=c.name,
                id_number=c.id_number,
                guardian_name=FATHER_CHEN.name,
                guardian_id_number=FATHER_CHEN.id_number,
                channel_user=f"p-{i}",
            )
            for i, c in enumerate(requests)
        ]
    )
    carded = {requests[i].id_number for i, (status, _) in enumerate(results) if status in (200, 201)}
    refused = {
        requests[i].id_number
        for i, (status, body) in enumerate(results)
        if status == 422 and body["code"] == "proxy_limit_reached"
    }
    assert len(carded) == 3
    assert refused == {c.id_number for c in CHEN_CHILDREN} - carded
    assert all(status in (200, 201, 422) for status, _ in results)
    assert await api.scalar("SELECT count(*) FROM cards") == 3
    assert await api.scalar("SELECT count(*) FROM proxy_claims") == 3
    # One card number per child, whatever the number of requests for it.
    numbers = {
        (requests[i].id_number, body["card"]["card_number"])
        for i, (status, body) in enumerate(results)
        if status in (200, 201)
    }
    assert len(numbers) == 3


async def test_schema_refuses_a_second_card_and_a_fourth_slot(api: Api) -> None:
    """The rules live in the schema, not only in the service."""
    now = utcnow()
    base = dict(
        holder_name="李小明",
        path="k12_student",
        identities=["k12_student"],
        permissions=[],
        created_at=now,
        updated_at=now,
    )
    async with api.db.writing() as session:
        session.add(Card(card_number="360000000001", holder_id_number=XIAOMING.id_number, **base))
    try:
        async with api.db.writing() as session:
            session.add(Card(card_number="360000000002", holder_id_number=XIAOMING.id_number, **base))
        raise AssertionError("a second card for one person was accepted")
    except IntegrityError:
        pass
    try:
        async with api.db.writing() as session:
            session.add(
                ProxyClaim(
                    guardian_id_number=FATHER_CHEN.id_number,
                    slot=4,
                    child_id_number=CHEN_CHILDREN[0].id_number,
                    created_at=now,
                )
            )
        raise AssertionError("a fourth proxy slot was accepted")
    except IntegrityError:
        pass
