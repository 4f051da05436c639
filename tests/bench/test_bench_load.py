"""The chat load generator (bench/load/): its pure parts fast, a small
loopback server with Rasa's REST answer shape for the runner's bounds and
error counting, and one short real run against the test session's stack."""

from __future__ import annotations

import asyncio
import functools
import json
import random
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

import bench.load
import bench.load.http
from backend.models import Base, Card
from bench.load import LoadResult, check_loopback, percentile, run_load  # noqa: F401 - the names run_all and bot use
from bench.load.audit import ClaimRecord, audit_cards, audit_run, claims_of, fetch_cards
from bench.load.chat import LoadOptions, Step, arrival_schedule, parse_steps, run_chat_load, step_windows
from bench.load.chat_report import latency_summary, step_report, summary
from bench.load.cli import main as cli_main
from bench.load.conversation import (
    CLAIM_TURNS,
    QUESTION_TURNS,
    Claimant,
    ConversationRecord,
    TurnRecord,
    classify,
    mask_text,
    mean_turns,
)
from bench.load.cpu import account
from bench.load.http import NotLoopback
from tests.people import MINORITY, Person, make_id
from tests.stack import FULL_ID, NEEDS_STACK, Stack

PEOPLE = [Claimant(f"测试{chr(0x4E00 + i)}明", make_id("360102", "20120101", 101 + 2 * i)) for i in range(40)]


# -- pure parts ----------------------------------------------------------------


def test_the_http_generator_names_stay_importable_from_bench_load() -> None:
    assert bench.load.percentile is bench.load.http.percentile
    assert bench.load.run_load is bench.load.http.run_load and bench.load.LoadResult is bench.load.http.LoadResult
    with pytest.raises(AttributeError):
        bench.load.no_such_name  # noqa: B018


def test_latencies_use_the_nearest_rank_percentile() -> None:
    values = [i / 1000 for i in range(1, 101)]  # 1..100 ms
    random.Random(3).shuffle(values)
    assert latency_summary(values) == {"mean": 50.5, "p50": 50.0, "p95": 95.0, "p99": 99.0, "max": 100.0}
    assert latency_summary([]) == {}
    assert percentile(sorted(values), 95) == 0.095


def test_steps_and_their_windows() -> None:
    assert parse_steps("20, 30,40", 60) == [Step(20, 60), Step(30, 60), Step(40, 60)]
    with pytest.raises(ValueError):
        parse_steps("20,0", 60)
    steps = [Step(10, 30), Step(20, 30), Step(30, 30)]
    assert step_windows(steps, 90) == [(0, 30), (30, 60), (60, 90)]
    assert step_windows(steps, 45) == [(0, 30), (30, 45)]  # the time limit cuts the second, drops the third


def test_arrivals_are_bounded_by_the_time_limit_and_follow_the_rate() -> None:
    steps = [Step(20, 100), Step(40, 100), Step(60, 100)]
    arrivals = arrival_schedule(steps, 5.0, max_conversations=100_000, time_limit=150, rng=random.Random(1))
    assert all(0 < a.at < 150 for a in arrivals)
    assert [a.at for a in arrivals] == sorted(a.at for a in arrivals)
    assert {a.step for a in arrivals} == {0, 1}  # the third step starts after the limit
    assert all((a.step == 0) == (a.at < 100) for a in arrivals)
    first = sum(1 for a in arrivals if a.step == 0)
    second = sum(1 for a in arrivals if a.step == 1)
    assert 0.85 * 400 < first < 1.15 * 400  # 20 msg/s / 5 messages a conversation for 100 s
    assert 0.8 * 400 < second < 1.2 * 400  # 40 msg/s for the 50 s left
    # The same seed, the same schedule.
    assert arrivals == arrival_schedule(steps, 5.0, max_conversations=100_000, time_limit=150, rng=random.Random(1))


def test_arrivals_are_bounded_by_the_count() -> None:
    arrivals = arrival_schedule(
        [Step(1000, 60), Step(1000, 60)], 2.0, max_conversations=25, time_limit=120, rng=random.Random(2)
    )
    assert len(arrivals) == 25 and all(a.step == 0 for a in arrivals) and arrivals[-1].at < 1
    assert arrival_schedule([Step(10, 60)], 2.0, max_conversations=0, time_limit=60, rng=random.Random(2)) == []


def test_mean_turns_follow_the_mix() -> None:
    assert mean_turns(1.0) == CLAIM_TURNS and mean_turns(0.0) == QUESTION_TURNS
    assert mean_turns(0.8) == pytest.approx(0.8 * 7 + 0.2 * 2)


async def test_only_loopback_addresses_are_loaded() -> None:
    options = LoadOptions(steps=[Step(1, 1)], warmup=0)
    for url in (
        "http://10.0.0.5:5005/webhooks/rest/webhook",
        "http://example.com/webhooks/rest/webhook",
        "ftp://127.0.0.1/x",
    ):
        with pytest.raises(NotLoopback):
            await run_chat_load(url, [], options)
    check_loopback("http://[::1]:5005/x")
    check_loopback("http://localhost:5005/x")
    assert cli_main(["--url", "http://192.168.1.10:5005", "--rate", "1"]) == 2


def test_error_classification() -> None:
    good = json.dumps([{"recipient_id": "a", "text": "您好"}]).encode()
    assert classify(200, good, None) == (None, [{"recipient_id": "a", "text": "您好"}])
    assert classify(None, None, asyncio.TimeoutError())[0] == "timeout"
    assert classify(None, None, aiohttp.ServerTimeoutError("read"))[0] == "timeout"
    assert classify(None, None, aiohttp.ClientConnectionError("refused"))[0] == "transport ClientConnectionError"
    assert classify(None, None, ConnectionResetError())[0] == "transport ConnectionResetError"
    busy = '[{"recipient_id": "", "text": "系统繁忙，请稍后再发送一次。"}]'.encode()
    assert classify(503, busy, None)[0] == "http 503"  # the load balancer's polite answer is still an error
    assert classify(500, b"", None)[0] == "http 500"
    assert classify(200, b"[]", None)[0] == "empty reply"
    assert classify(200, b"<html>", None)[0] == "not json"
    assert classify(200, b'{"text": "x"}', None)[0] == "not a list of messages"


def test_a_conversation_reads_the_outcome_and_masks_what_it_keeps() -> None:
    person = Claimant("李四明", "360102201201011234")
    conv = ConversationRecord("s", "claim", 0.0, person=person)
    conv.note_answer([{"text": f"请核对：{person.name}，{person.id_number}"}])
    assert person.id_number not in conv.last_text and "3601**********1234" in conv.last_text
    assert person.name not in conv.last_text and "李*明" in conv.last_text
    conv.note_answer([{"text": "领卡成功！\n学习号：360123456789\n持卡人：李*明"}, {"image": "x"}])
    assert (conv.outcome, conv.card_number) == ("issued", "360123456789")
    conv.finish()
    assert conv.outcome == "issued" and not conv.failed_claim
    again = ConversationRecord("t", "claim", 0.0, person=person)
    again.note_answer([{"text": "您已经领取过电子卡，无需重复领取。\n学习号：360123456789"}])
    assert again.outcome == "existing"
    lost = ConversationRecord("u", "claim", 0.0, person=person)
    lost.note_answer([{"text": "没有查到您的学籍信息"}])
    assert not lost.failed_claim  # still running
    lost.finish()
    assert lost.outcome == "failed" and lost.failed_claim
    question = ConversationRecord("v", "question", 0.0, question="领卡失败怎么办")
    question.finish()
    assert question.outcome == "answered" and not question.failed_claim
    assert len(mask_text("好" * 500)) == 201
    assert not FULL_ID.search(mask_text("身份证 36010220120101123X 和 360102201201011234"))


def test_the_step_report() -> None:
    turns = [TurnRecord(sent=i * 0.5, latency=0.05 + 0.001 * i) for i in range(20)]  # sent 0..9.5 s
    turns.append(TurnRecord(sent=3.0, latency=0.4, error="http 503"))
    turns.append(TurnRecord(sent=10.2, latency=0.1))  # the next step's
    convs = [
        ConversationRecord("a", "claim", 1.0, outcome="issued"),
        ConversationRecord("b", "claim", 2.0, outcome="existing"),
        ConversationRecord("c", "claim", 3.0, outcome="error", error="http 503"),
        ConversationRecord("d", "question", 4.0, outcome="answered"),
        ConversationRecord("e", "claim", 5.0, outcome="unfinished"),
        ConversationRecord("f", "claim", 11.0, outcome="issued"),
    ]
    r = step_report("step 1", (0.0, 10.0), 2.0, turns, convs, p95_target_ms=300, shed=1)
    assert (r.turns, r.answered, r.errors, r.error_kinds) == (21, 20, 1, {"http 503": 1})
    assert r.achieved_rate == 2.0  # 20 answers completed within the 10 s
    assert r.latency_ms["p50"] == 59.0 and r.latency_ms["max"] == 69.0
    assert (r.conversations, r.completed, r.claims, r.cards_issued, r.cards_existing) == (5, 4, 4, 1, 1)
    assert (r.failed_claims, r.unfinished, r.shed, r.passed) == (2, 1, 1, False)
    clean = step_report("step 1", (0.0, 10.0), 2.0, turns[:20], convs[:2] + convs[3:4], p95_target_ms=300)
    assert clean.passed is True and clean.errors == 0
    slow = step_report("step 1", (0.0, 10.0), 2.0, turns[:20], convs[:2], p95_target_ms=60)
    assert slow.passed is False  # p95 68 ms
    assert step_report("drain", (10.0, float("inf")), None, turns, convs).passed is None


# -- the card audit ------------------------------------------------------------------------


def _card(person: Person, number: str) -> Card:
    return Card(
        card_number=number,
        holder_id_number=person.id_number,
        holder_name=person.name,
        path="k12_student",
        identities=["k12_student"],
        permissions=["learn"],
    )


def test_the_card_audit_against_the_backend_schema(tmp_path: Path) -> None:
    a, b, c, d, e = (Person(f"人{i}", make_id("360102", "20110101", 201 + 2 * i)) for i in range(5))
    url = f"sqlite:///{tmp_path / 'backend.db'}"
    engine = create_engine(url)
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add_all([_card(a, "360000000011"), _card(c, "360000000029"), _card(d, "360000000037")])
        session.commit()
    engine.dispose()
    claims = [
        ClaimRecord(a.id_number, "issued", "360000000011"),  # as told
        ClaimRecord(b.id_number, "issued", "360000000045"),  # told, but no card: lost
        ClaimRecord(c.id_number, "existing", "360000000052"),  # told another number
        ClaimRecord(d.id_number, "error"),  # the answer was lost, the card was not
        ClaimRecord(e.id_number, "failed"),
    ]
    ids = [x.id_number for x in claims]
    assert sorted(fetch_cards(url, ids)) == sorted(
        [(a.id_number, "360000000011"), (c.id_number, "360000000029"), (d.id_number, "360000000037")]
    )
    assert fetch_cards(url.replace("sqlite:", "sqlite+aiosqlite:"), [a.id_number]) == [(a.id_number, "360000000011")]
    assert fetch_cards(url, []) == []
    audit = audit_cards(claims, fetch_cards(url, ids))
    assert (audit.people, audit.told_success, audit.cards_found) == (5, 3, 3)
    assert (audit.lost, audit.mismatched, audit.duplicated, audit.silent, audit.ok) == (1, 1, 0, 1, False)
    assert all(not FULL_ID.search(x) for x in audit.examples)
    # Conversations to claims: questions and warm-ups without a person carry none.
    convs = [
        ConversationRecord(
            "x", "claim", 0, person=Claimant(a.name, a.id_number), outcome="issued", card_number="360000000011"
        ),
        ConversationRecord("y", "question", 0, outcome="answered"),
    ]
    assert claims_of(convs) == [claims[0]]
    good = audit_run(url, convs)
    assert (good.people, good.told_success, good.cards_found, good.ok) == (1, 1, 1, True)
    assert audit_run(url, []).as_dict()["ok"] is True


def test_the_card_audit_finds_duplicates_a_schema_without_constraints_would_allow(tmp_path: Path) -> None:
    path = tmp_path / "loose.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE cards (holder_id_number TEXT, card_number TEXT)")
    conn.executemany("INSERT INTO cards VALUES (?, ?)", [("P1", "N1"), ("P1", "N2"), ("P2", "N3"), ("P3", "N3")])
    conn.commit()
    conn.close()
    claims = [
        ClaimRecord("P1", "issued", "N1"),
        ClaimRecord("P2", "issued", "N3"),
        ClaimRecord("P3", "issued", "N3"),
        ClaimRecord("P4", "failed"),
        ClaimRecord("P4", "failed"),
    ]
    audit = audit_cards(claims, fetch_cards(f"sqlite:///{path}", [c.id_number for c in claims]))
    # P1 holds two cards, N3 has two holders, P4 was claimed in two conversations.
    assert (audit.duplicated, audit.lost, audit.mismatched, audit.ok) == (3, 0, 0, False)


# -- the runner, against a loopback server with Rasa's answer shape -------------------------


class FakeChannel:
    """Answers like Rasa's REST channel: "确认" issues a card, "空" gets an
    empty list, "忙" the load balancer's 503, "慢" an answer after 2 s."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, str]] = []

    async def webhook(self, request: web.Request) -> web.Response:
        body = await request.json()
        sender, message = body["sender"], body["message"]
        self.messages.append((sender, message))
        if message == "空":
            return web.json_response([])
        if message == "忙":
            return web.json_response([{"recipient_id": "", "text": "系统繁忙"}], status=503)
        if message == "慢":
            await asyncio.sleep(2)
        text = "领卡成功！\n学习号：360000000011" if message == "确认" else "好的"
        return web.json_response([{"recipient_id": sender, "text": text}])


@pytest_asyncio.fixture
async def channel() -> AsyncIterator[tuple[FakeChannel, str]]:
    fake = FakeChannel()
    app = web.Application()
    app.router.add_post("/webhooks/rest/webhook", fake.webhook)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield fake, str(server.make_url("/webhooks/rest/webhook"))
    finally:
        await server.close()


async def test_a_run_is_bounded_by_count_and_uses_each_person_once(channel: tuple[FakeChannel, str]) -> None:
    fake, url = channel
    options = LoadOptions(
        steps=[Step(200, 5)], claim_ratio=0.75, think_time=0, max_conversations=12, warmup=2, p95_target_ms=1000
    )
    result = await run_chat_load(url, PEOPLE, options, log=lambda _: None)
    assert result.total.conversations == 12 and result.warmup and result.warmup.conversations == 2
    assert result.seconds < 4  # ended with its last arrival, not at the time limit
    claims = [c for c in result.conversations if c.kind == "claim"]
    assert len({c.person for c in claims}) == len(claims) and all(c.outcome == "issued" for c in claims)
    assert result.errors == 0 and result.steps[0].passed
    assert result.total.turns == sum(
        7 if c.kind == "claim" else 2 for c in result.conversations if not c.sender.split("-")[-1].startswith("w")
    )
    senders = {s for s, _ in fake.messages}
    assert len(senders) == 14 and all(s.startswith("load-") for s in senders)
    # Nothing in the JSON document holds an ID number; the summary reads.
    document = json.dumps(result.as_dict(), ensure_ascii=False)
    assert not FULL_ID.search(document) and "step 1" in summary(result)


async def test_errors_are_counted_by_kind_and_stop_their_conversation(channel: tuple[FakeChannel, str]) -> None:
    fake, url = channel
    options = LoadOptions(
        steps=[Step(100, 2)], claim_ratio=0.0, think_time=0, max_conversations=20, warmup=0, questions=("空", "忙")
    )  # questions the channel answers badly
    result = await run_chat_load(url, [], options, log=lambda _: None)
    assert result.total.conversations == 20
    assert set(result.total.error_kinds) <= {"empty reply", "http 503"} and result.total.errors == 20
    assert result.total.turns == 20  # no "谢谢" after an error
    assert result.steps[0].passed is False and result.highest_passing_rate is None
    assert not any(m == "谢谢" for _, m in fake.messages)


async def test_conversations_in_flight_get_the_drain_timeout_then_count_as_unfinished(
    channel: tuple[FakeChannel, str],
) -> None:
    _, url = channel
    options = LoadOptions(
        steps=[Step(20, 1)],
        claim_ratio=0.0,
        think_time=0,
        max_conversations=3,
        warmup=0,
        drain_timeout=0.5,
        questions=("慢",),
    )
    result = await run_chat_load(url, [], options, log=lambda _: None)
    assert result.seconds < 2.5
    assert all(c.outcome == "unfinished" for c in result.conversations)
    assert result.total.unfinished == 3 and result.total.turns == 0


async def test_arrivals_beyond_the_in_flight_bound_are_shed(channel: tuple[FakeChannel, str]) -> None:
    _, url = channel
    options = LoadOptions(
        steps=[Step(40, 1)],
        claim_ratio=0.0,
        think_time=0,
        max_conversations=100,
        warmup=0,
        max_in_flight=2,
        drain_timeout=5,
        questions=("慢",),
    )
    result = await run_chat_load(url, [], options, log=lambda _: None)
    assert result.total.conversations == 2 and result.total.shed > 0 and result.steps[0].passed is False


# -- one short real run against the test session's stack ----------------------------------


def needs_stack(test: Any) -> Any:
    return functools.reduce(lambda t, mark: mark(t), NEEDS_STACK, test)


@needs_stack
async def test_a_short_real_run_has_no_error_and_its_card_audits(stack: Stack) -> None:
    """10 s at 5 msg/s, 4 conversations: a claim for the one K-12 student of
    tests/people.py that no other stack test claims for, and questions."""
    url = f"{stack.rasa_url}/webhooks/rest/webhook"
    options = LoadOptions(
        steps=[Step(5, 10)],
        claim_ratio=1.0,
        think_time=0.2,
        max_conversations=4,
        warmup=0,
        request_timeout=30,
        drain_timeout=60,
        sender_prefix="load-test",
    )
    result = await run_chat_load(url, [Claimant(MINORITY.name, MINORITY.id_number)], options, log=lambda _: None)
    assert result.errors == 0, result.total.error_kinds
    claims = [c for c in result.conversations if c.kind == "claim"]
    assert len(claims) == 1 and result.people_exhausted == 3  # the other three asked a question
    assert claims[0].outcome in ("issued", "existing"), claims[0].last_text
    assert result.total.turns == 7 + 3 * 2 and result.total.completed == 4 and result.total.failed_claims == 0
    lat = result.total.latency_ms
    assert 0 < lat["p50"] <= lat["p95"] <= lat["p99"] <= lat["max"] < 30_000
    audit = await asyncio.to_thread(audit_run, stack.env["BACKEND_DATABASE_URL"], result.conversations)
    assert (audit.people, audit.told_success, audit.cards_found, audit.ok) == (1, 1, 1, True), audit.examples


@needs_stack
def test_cpu_per_message_is_accounted_per_process(stack: Stack) -> None:
    """bench/load/cpu.py on the test session's stack: one claim (the person
    of the short run above: issued or already held), 7 messages, and the CPU
    of each of the stack's processes divided by them."""
    url = f"{stack.rasa_url}/webhooks/rest/webhook"
    pids = {name: proc.pid for name, proc in stack.procs.items()}
    out = account(url, pids, [Claimant(MINORITY.name, MINORITY.id_number)], tag="test")
    assert (out["conversations"], out["messages"], out["errors"], out["failed_claims"]) == (1, 7, 0, 0), out
    assert set(out["cpu_ms_per_message"]) == set(pids)
    assert 0 < out["cpu_ms_per_message"]["rasa"] < 5_000, out
    assert 0 < out["turn_ms_median"] < 30_000
