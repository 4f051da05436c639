"""The claim rules, through the real HTTP API on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest

from backend.claims.cardnumber import is_valid_card_number
from backend.registry.columns import TEACHER_COLUMNS
from backend.registry.importer import import_registry
from tests.conftest import Api, serve_api
from tests.people import (
    CHEN_CHILDREN,
    FATHER_CHEN,
    FATHER_LI,
    GRADUATED,
    GUARDIAN_HU,
    MINORITY,
    MOTHER_WANG,
    NO_GUARDIAN,
    PUBLIC,
    RETIRED_TEACHER,
    SUSPENDED,
    TEACHER,
    TEACHER_AND_UNIVERSITY,
    TRADITIONAL,
    UNIVERSITY,
    VOCATIONAL,
    XIAOMING,
    Person,
    _teacher,
    write_csv,
)

K12_PERMISSIONS = ["learning_space", "public_courses", "k12_resources", "campus_services"]


async def claim_self(api: Api, p: Person, path: str = "k12_student", user: str = "u1", **kw):
    return await api.claim(path=path, name=p.name, id_number=p.id_number, channel_user=user, **kw)


async def claim_child(api: Api, guardian: Person, child: Person, user: str = "parent-1", **kw):
    return await api.claim(
        path="parent",
        name=child.name,
        id_number=child.id_number,
        guardian_name=guardian.name,
        guardian_id_number=guardian.id_number,
        channel_user=user,
        **kw,
    )


# -- K-12 students claiming for themselves -------------------------------------------


async def test_k12_claim_issues_card_with_permissions_and_face_choice(api: Api) -> None:
    status, body = await claim_self(api, XIAOMING, face_verification=True)
    assert status == 201
    assert body["status"] == "issued"
    card = body["card"]
    assert card["identities"] == ["k12_student"]
    assert card["permissions"] == K12_PERMISSIONS
    assert card["face_verification"] is True
    assert card["path"] == "k12_student"
    assert card["holder_id_masked"] == XIAOMING.id_number[:4] + "*" * 10 + XIAOMING.id_number[-4:]
    assert card["holder_name_masked"] == "李*明"
    assert is_valid_card_number(card["card_number"])
    assert XIAOMING.id_number not in json.dumps(body)


async def test_second_claim_returns_the_same_card(api: Api) -> None:
    _, first = await claim_self(api, XIAOMING, face_verification=False)
    status, again = await claim_self(api, XIAOMING, face_verification=True, user="other-user")
    assert status == 200
    assert again["status"] == "existing"
    assert again["card"]["card_number"] == first["card"]["card_number"]
    assert again["card"]["face_verification"] is False  # the first claim's choice stands
    assert await api.scalar("SELECT count(*) FROM cards") == 1


async def test_a_card_is_shown_only_to_its_holder_its_guardian_or_the_chat_that_claimed_it(api: Api) -> None:
    """The API returns the card to its trusted caller (the action server),
    with `holder_proven`: whether this claimant may see it (issue 13)."""
    _, first = await claim_self(api, XIAOMING, user="chat-of-xiaoming")
    assert first["status"] == "issued" and first["holder_proven"] is True
    # The same chat again: its own card.
    _, again = await claim_self(api, XIAOMING, user="chat-of-xiaoming")
    assert (again["status"], again["holder_proven"]) == ("existing", True)
    # Another chat that knows the name and ID number: not shown.
    _, other = await claim_self(api, XIAOMING, user="someone-else")
    assert (other["status"], other["holder_proven"]) == ("existing", False)
    # The holder by verified real name, from any chat: shown.
    _, verified = await claim_self(api, XIAOMING, user="new-phone", verified_id_number=XIAOMING.id_number)
    assert verified["holder_proven"] is True
    _, mismatch = await claim_self(api, XIAOMING, user="new-phone-2", verified_id_number=TEACHER.id_number)
    assert mismatch["holder_proven"] is False
    # The recorded guardian, once the guardian check passed: shown.
    _, guardian = await claim_child(api, FATHER_LI, XIAOMING, user="father-phone")
    assert (guardian["status"], guardian["holder_proven"]) == ("existing", True)
    status, bad = await api.claim(
        path="k12_student", name=XIAOMING.name, id_number=XIAOMING.id_number, verified_id_number="123"
    )
    assert status == 422 and bad["code"] == "invalid_id_number"


@pytest.mark.parametrize(
    "typed_name, typed_id",
    [
        ("張偉", None),  # Traditional characters
        (" 张 伟 ", None),  # spaces
        ("张伟", "full-width"),
        ("张伟", "dashes"),
    ],
)
async def test_normalised_input_matches_the_registry(api: Api, typed_name: str, typed_id: str | None) -> None:
    id_number = TRADITIONAL.id_number
    if typed_id == "full-width":
        id_number = "".join(chr(ord(c) + 0xFEE0) for c in id_number)
    elif typed_id == "dashes":
        id_number = f"{id_number[:6]}-{id_number[6:14]} {id_number[14:]}".lower()
    status, body = await api.claim(path="k12_student", name=typed_name, id_number=id_number)
    assert status == 201, body
    assert body["identities"] == ["k12_student"]


@pytest.mark.parametrize("dot", ["·", "•", "・", "．", "."])
async def test_minority_name_with_any_middle_dot(api: Api, dot: str) -> None:
    status, body = await api.claim(
        path="k12_student", name=MINORITY.name.replace("·", dot), id_number=MINORITY.id_number
    )
    assert status == 201, body


async def test_vocational_student_is_k12(api: Api) -> None:
    status, body = await claim_self(api, VOCATIONAL)
    assert status == 201 and body["identities"] == ["k12_student"]


@pytest.mark.parametrize(
    "person, name, code",
    [
        (PUBLIC, PUBLIC.name, "identity_not_found"),  # in no registry
        (XIAOMING, "李小红", "identity_not_found"),  # someone else's ID
        (TEACHER, TEACHER.name, "identity_not_found"),  # a teacher is no K-12 student
        (GRADUATED, GRADUATED.name, "not_enrolled"),
        (SUSPENDED, SUSPENDED.name, "not_enrolled"),
        (UNIVERSITY, UNIVERSITY.name, "not_enrolled"),
    ],
)
async def test_k12_failures(api: Api, person: Person, name: str, code: str) -> None:
    status, body = await api.claim(path="k12_student", name=name, id_number=person.id_number, channel_user="f")
    assert status == 422
    assert body == {"success": False, "code": code, **{k: body[k] for k in body if k in ("field", "detail")}}
    assert await api.scalar("SELECT count(*) FROM cards") == 0


async def test_unknown_id_and_wrong_name_answer_alike(api: Api) -> None:
    """No enumeration: the answers do not tell whether an ID is on record."""
    _, unknown = await api.claim(path="k12_student", name="李小红", id_number=PUBLIC.id_number)
    _, wrong_name = await api.claim(path="k12_student", name="李小红", id_number=XIAOMING.id_number)
    assert unknown == wrong_name


async def test_wrong_checksum_is_invalid_id_number(api: Api) -> None:
    bad = XIAOMING.id_number[:-1] + ("0" if XIAOMING.id_number[-1] != "0" else "1")
    status, body = await api.claim(path="k12_student", name=XIAOMING.name, id_number=bad)
    assert (status, body["code"], body["field"], body["detail"]) == (422, "invalid_id_number", "id_number", "checksum")


# -- parents -------------------------------------------------------------------------


async def test_parent_claims_for_child_and_other_guardian_gets_same_card(api: Api) -> None:
    status, body = await claim_child(api, FATHER_LI, XIAOMING, face_verification=True)
    assert status == 201, body
    assert body["card"]["claimed_by_guardian"] is True
    assert body["card"]["path"] == "parent"
    assert body["card"]["face_verification"] is True
    status, again = await claim_child(api, MOTHER_WANG, XIAOMING, user="parent-2")
    assert status == 200 and again["card"]["card_number"] == body["card"]["card_number"]
    # The child's own claim later finds the same card too.
    _, own = await claim_self(api, XIAOMING)
    assert own["card"]["card_number"] == body["card"]["card_number"]


@pytest.mark.parametrize(
    "guardian, child, code, field",
    [
        (GUARDIAN_HU, XIAOMING, "guardian_mismatch", "guardian_id_number"),  # not the recorded guardian
        (Person("李建设", FATHER_LI.id_number), XIAOMING, "guardian_mismatch", "guardian_id_number"),  # wrong name
        (FATHER_LI, NO_GUARDIAN, "guardian_mismatch", "guardian_id_number"),  # registry lacks guardian data
        (Person("李建国", FATHER_LI.id_number[:-1] + "0"), XIAOMING, "invalid_id_number", "guardian_id_number"),
        (FATHER_LI, GRADUATED, "not_enrolled", None),
        (FATHER_LI, PUBLIC, "identity_not_found", "id_number"),
    ],
)
async def test_parent_failures(api: Api, guardian: Person, child: Person, code: str, field: str | None) -> None:
    if code == "invalid_id_number" and guardian.id_number == FATHER_LI.id_number:
        pytest.skip("check digit happened to be 0")
    status, body = await claim_child(api, guardian, child)
    assert status == 422
    assert body["code"] == code
    assert body.get("field") == field
    assert await api.scalar("SELECT count(*) FROM cards") == 0
    assert await api.scalar("SELECT count(*) FROM proxy_claims") == 0


async def test_guardian_may_claim_for_three_children_only(api: Api) -> None:
    numbers = []
    for child in CHEN_CHILDREN[:3]:
        status, body = await claim_child(api, FATHER_CHEN, child)
        assert status == 201, body
        numbers.append(body["card"]["card_number"])
    status, body = await claim_child(api, FATHER_CHEN, CHEN_CHILDREN[3])
    assert (status, body["code"]) == (422, "proxy_limit_reached")
    # Re-claiming an already claimed child is not a new one.
    status, body = await claim_child(api, FATHER_CHEN, CHEN_CHILDREN[0])
    assert status == 200 and body["card"]["card_number"] == numbers[0]
    # The fourth child can still claim for themselves.
    status, body = await claim_self(api, CHEN_CHILDREN[3])
    assert status == 201
    # The guardian's claims, masked.
    status, listing = await api.post("/api/v1/proxy-claims/query", {"guardian_id_number": FATHER_CHEN.id_number})
    assert status == 200
    assert listing["count"] == 3 and listing["limit"] == 3
    assert [c["name_masked"] for c in listing["children"]] == ["陈*", "陈*", "陈*"]
    assert all(c["id_masked"].count("*") == 10 for c in listing["children"])
    assert CHEN_CHILDREN[0].id_number not in json.dumps(listing)


async def test_child_with_a_card_does_not_take_a_proxy_slot(api: Api) -> None:
    await claim_self(api, CHEN_CHILDREN[0])
    status, body = await claim_child(api, FATHER_CHEN, CHEN_CHILDREN[0])
    assert status == 200 and body["status"] == "existing"
    assert await api.scalar("SELECT count(*) FROM proxy_claims") == 0


# -- university, teacher, public -----------------------------------------------------


@pytest.mark.parametrize(
    "person, path, identities, mismatch",
    [
        (UNIVERSITY, "university_student", ["university_student"], False),
        (TEACHER, "teacher", ["teacher"], False),
        (TEACHER_AND_UNIVERSITY, "teacher", ["university_student", "teacher"], False),
        (TEACHER_AND_UNIVERSITY, "university_student", ["university_student", "teacher"], False),
        (PUBLIC, "public", ["public"], False),
        (PUBLIC, "university_student", ["public"], True),
        (RETIRED_TEACHER, "teacher", ["public"], True),
        (TEACHER, "public", ["teacher"], True),
        (XIAOMING, "public", ["k12_student"], True),
        (GRADUATED, "university_student", ["public"], True),
    ],
)
async def test_registries_decide_identities(
    api: Api, person: Person, path: str, identities: list[str], mismatch: bool
) -> None:
    status, body = await claim_self(api, person, path=path)
    assert status == 201, body
    assert body["identities"] == identities
    assert body["card"]["identities"] == identities
    assert body["path_mismatch"] is mismatch
    assert body["card"]["face_verification"] is None
    assert "teaching_resources" in body["permissions"] if "teacher" in identities else True


async def test_someone_elses_id_on_public_path_is_refused(api: Api) -> None:
    status, body = await api.claim(path="public", name="王小二", id_number=TEACHER.id_number)
    assert (status, body["code"]) == (422, "identity_not_found")


# -- enumeration protection ----------------------------------------------------------


async def test_rate_limit_per_channel_user(api: Api) -> None:
    for i in range(5):
        status, body = await api.claim(
            path="k12_student", name="张三", id_number=PUBLIC.id_number, channel_user="probe"
        )
        assert body["code"] == "identity_not_found", i
    status, body = await claim_self(api, XIAOMING, user="probe")
    assert (status, body["code"]) == (429, "rate_limited")
    assert await api.scalar("SELECT count(*) FROM cards") == 0
    # Another user is not affected.
    status, _ = await claim_self(api, XIAOMING, user="someone-else")
    assert status == 201


async def test_rate_limit_per_id_number(api: Api) -> None:
    for i in range(5):
        await api.claim(path="k12_student", name="李小红", id_number=XIAOMING.id_number, channel_user=f"user-{i}")
    status, body = await claim_self(api, XIAOMING, user="user-new")
    assert (status, body["code"]) == (429, "rate_limited")
    # The parent path checks the child's ID too: anyone but the recorded guardian is limited.
    status, body = await claim_child(api, GUARDIAN_HU, XIAOMING, user="user-newer")
    assert (status, body["code"]) == (429, "rate_limited")


async def test_failures_against_a_childs_id_do_not_lock_out_the_recorded_guardian(api: Api) -> None:
    """Five wrong names typed against a child's ID number block it for
    anyone, but not for the parent the registry records as the child's
    guardian (issue 13); that parent's own chat's failures still count."""
    for i in range(5):
        await api.claim(path="k12_student", name="李小红", id_number=XIAOMING.id_number, channel_user=f"guess-{i}")
    assert (await claim_self(api, XIAOMING, user="typed-only"))[0] == 429
    assert (await claim_child(api, GUARDIAN_HU, XIAOMING, user="not-her-parent"))[0] == 429
    status, body = await claim_child(api, FATHER_LI, XIAOMING, user="her-father")
    assert (status, body["status"]) == (201, "issued"), body
    for _ in range(5):
        await api.claim(
            path="parent",
            name="李小红",
            id_number=XIAOMING.id_number,
            channel_user="her-mother",
            guardian_name=MOTHER_WANG.name,
            guardian_id_number=MOTHER_WANG.id_number,
        )
    status, body = await claim_child(api, MOTHER_WANG, XIAOMING, user="her-mother")
    assert (status, body["code"]) == (429, "rate_limited")


async def test_failures_against_an_id_do_not_lock_out_its_verified_holder(api: Api) -> None:
    """Five wrong names typed against a student's ID number block that ID for
    anyone who types it, but not the student claiming with her verified real
    name (issue 13); her own chat's failures still count."""
    for i in range(5):
        await api.claim(path="k12_student", name="李小红", id_number=XIAOMING.id_number, channel_user=f"guess-{i}")
    assert (await claim_self(api, XIAOMING, user="typed-only"))[0] == 429
    status, body = await claim_self(api, XIAOMING, user="her-phone", verified_id_number=XIAOMING.id_number)
    assert (status, body["status"], body["holder_proven"]) == (201, "issued", True)
    for _ in range(5):
        await api.claim(
            path="k12_student",
            name="李小红",
            id_number=XIAOMING.id_number,
            channel_user="her-tablet",
            verified_id_number=XIAOMING.id_number,
        )
    status, body = await claim_self(api, XIAOMING, user="her-tablet", verified_id_number=XIAOMING.id_number)
    assert (status, body["code"]) == (429, "rate_limited")


async def test_blank_channel_users_do_not_share_a_limit(api: Api) -> None:
    for _ in range(5):
        await api.claim(path="k12_student", name="张三", id_number=PUBLIC.id_number, channel_user="")
    # PUBLIC's own ID is now limited, but another person with a blank user is not.
    status, body = await claim_self(api, XIAOMING, user="")
    assert status == 201, body


async def test_invalid_id_numbers_do_not_count_towards_the_limit(api: Api) -> None:
    for _ in range(6):
        await api.claim(path="k12_student", name="张三", id_number="123", channel_user="typo")
    status, _ = await claim_self(api, XIAOMING, user="typo")
    assert status == 201


async def test_rate_limit_is_configurable(registry_db: str) -> None:
    async for api in serve_api(registry_db, rate_limit_failures=2):
        for _ in range(2):
            await api.claim(path="k12_student", name="张三", id_number=PUBLIC.id_number, channel_user="p")
        status, body = await claim_self(api, XIAOMING, user="p")
        assert (status, body["code"]) == (429, "rate_limited")


# -- claim log -----------------------------------------------------------------------


async def test_attempts_are_logged_masked_and_can_be_looked_up(api: Api) -> None:
    await api.claim(path="k12_student", name="李小红", id_number=XIAOMING.id_number, channel_user="chat-9")
    await claim_child(api, GUARDIAN_HU, XIAOMING, user="chat-9")
    _, claimed = await claim_self(api, XIAOMING, user="chat-9")
    await claim_self(api, XIAOMING, user="chat-9")  # the same card again: logged as a success too
    status, body = await api.post("/api/v1/attempts/query", {"channel_user": "chat-9"})
    assert status == 200
    attempts = body["attempts"]
    assert [(a["success"], a["failure_code"], a["path"]) for a in attempts] == [
        (True, None, "k12_student"),
        (True, None, "k12_student"),
        (False, "guardian_mismatch", "parent"),
        (False, "identity_not_found", "k12_student"),
    ]
    number = claimed["card"]["card_number"]
    assert [a["card_number"] for a in attempts[:2]] == [number, number]
    assert attempts[0]["id_masked"].startswith(XIAOMING.id_number[:4])
    assert attempts[2]["guardian_id_masked"].count("*") == 10
    # By ID number: the same attempts, from any channel user.
    status, by_id = await api.post("/api/v1/attempts/query", {"id_number": XIAOMING.id_number, "limit": 2})
    assert status == 200 and len(by_id["attempts"]) == 2
    dump = json.dumps(body) + json.dumps(by_id)
    for full in (XIAOMING.id_number, GUARDIAN_HU.id_number):
        assert full not in dump
    # The database holds no full ID number in the log either.
    rows = await api.scalar("SELECT count(*) FROM claim_attempts WHERE id_masked LIKE '%*%'")
    assert rows == 4


# -- refresh and look-ups --------------------------------------------------------------


async def test_refresh_identity_follows_the_registry(api: Api, registry_db: str, tmp_path) -> None:
    _, body = await claim_self(api, TEACHER, path="teacher")
    assert body["identities"] == ["teacher"]
    # The teacher retires; the registry is re-imported.
    retired = write_csv(tmp_path / "t2.csv", TEACHER_COLUMNS, [_teacher(TEACHER, "retired")])
    reports = await import_registry(registry_db, teachers=retired)
    assert reports[0].imported == 1
    status, refreshed = await api.post("/api/v1/cards/refresh", {"name": TEACHER.name, "id_number": TEACHER.id_number})
    assert status == 200, refreshed
    assert refreshed["previous_identities"] == ["teacher"]
    assert refreshed["identities"] == ["public"]
    assert "teaching_resources" not in refreshed["card"]["permissions"]
    assert refreshed["card"]["card_number"] == body["card"]["card_number"]


async def test_refresh_without_card_or_with_wrong_name(api: Api) -> None:
    status, body = await api.post("/api/v1/cards/refresh", {"name": TEACHER.name, "id_number": TEACHER.id_number})
    assert (status, body["code"]) == (404, "card_not_found")
    await claim_self(api, TEACHER, path="teacher")
    status, body = await api.post("/api/v1/cards/refresh", {"name": "郑老虎", "id_number": TEACHER.id_number})
    assert (status, body["code"]) == (422, "identity_not_found")


async def test_card_query(api: Api) -> None:
    status, body = await api.post("/api/v1/cards/query", {"id_number": UNIVERSITY.id_number})
    assert (status, body["code"]) == (404, "card_not_found")
    _, claimed = await claim_self(api, UNIVERSITY, path="university_student")
    status, body = await api.post("/api/v1/cards/query", {"id_number": UNIVERSITY.id_number, "name": "吳大學"})
    assert status == 200 and body["card"] == claimed["card"]
    status, body = await api.post("/api/v1/cards/query", {"id_number": UNIVERSITY.id_number, "name": "吴小学"})
    assert status == 404


async def test_match_only_issues_nothing(api: Api) -> None:
    status, body = await api.post(
        "/api/v1/matches",
        {"path": "teacher", "name": TEACHER_AND_UNIVERSITY.name, "id_number": TEACHER_AND_UNIVERSITY.id_number},
    )
    assert status == 200
    assert body["status"] == "matched" and body["identities"] == ["university_student", "teacher"]
    assert await api.scalar("SELECT count(*) FROM cards") == 0


# -- hand-over tickets ----------------------------------------------------------------


async def test_ticket_is_opened_once_per_conversation(api: Api) -> None:
    status, first = await api.post(
        "/api/v1/tickets", {"channel_user": "chat-7", "summary": f"身份证{XIAOMING.id_number}"}
    )
    assert status == 201 and first["created"] is True and first["ticket_number"].startswith("T")
    status, again = await api.post("/api/v1/tickets", {"channel_user": "chat-7"})
    assert status == 200 and again["ticket_number"] == first["ticket_number"]
    status, other = await api.post("/api/v1/tickets", {"channel_user": "chat-8"})
    assert status == 201 and other["ticket_number"] != first["ticket_number"]
    # The summary is stored masked.
    assert await api.scalar("SELECT count(*) FROM tickets WHERE summary LIKE '%**********%'") == 1
    status, body = await api.post("/api/v1/tickets", {})
    assert (status, body["code"]) == (400, "missing_field")
