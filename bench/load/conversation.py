"""One simulated claimant's conversation with the dialogue assistant: who
claims (people of the registry), what they type (a K-12 self claim, or a
troubleshooting question and "谢谢"), one turn sent over Rasa's REST channel
and classified, and the record of each turn and conversation.

A turn is an error when no HTTP 200 answer came (transport error, timeout,
another status such as the load balancer's 503) or the answer is not a
non-empty JSON list of messages. A claim conversation that ends without
"领卡成功" or "已经领取" is a failed claim.
"""

from __future__ import annotations

import asyncio
import csv
import json
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from identity.masking import mask_id, mask_name

QUESTIONS = ("领卡失败怎么办", "在哪里查看电子卡", "孩子的卡领不了", "认证成功了但是没有卡")
THANKS = "谢谢"
ISSUED, EXISTING = "领卡成功", "已经领取"
CARD_NUMBER = re.compile(r"学习号：\s*(\d{12})")
FULL_ID = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
CLAIM_TURNS = 7
QUESTION_TURNS = 2
# Outcomes of a conversation. "running" only while the run lasts: a
# conversation still running when the drain timeout ends is "unfinished".
SUCCESS = frozenset({"issued", "existing"})


@dataclass(frozen=True)
class Claimant:
    name: str
    id_number: str

    @property
    def masked(self) -> str:
        return f"{mask_name(self.name)} {mask_id(self.id_number)}"


def claim_turns(person: Claimant) -> list[str]:
    """A complete K-12 self claim, typed (people type the buttons' titles
    and their own words rather than tap: issue 12)."""
    return ["我要领卡", "中小学生", "我是学生本人", person.name, person.id_number, "不开通", "确认"]


def question_turns(question: str) -> list[str]:
    return [question, THANKS]


def mean_turns(claim_ratio: float) -> float:
    """Messages a conversation sends on average, for a share of claims."""
    return claim_ratio * CLAIM_TURNS + (1 - claim_ratio) * QUESTION_TURNS


def registry_claimants(path: Path, limit: int | None = None) -> list[Claimant]:
    """Enrolled, non-university students of a registry CSV, in file order."""
    found: list[Claimant] = []
    with open(path, encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["status"] == "enrolled" and row["stage"] != "university":
                found.append(Claimant(row["name"], row["id_number"]))
                if limit is not None and len(found) >= limit:
                    break
    return found


def mask_text(text: str, person: Claimant | None = None, limit: int = 200) -> str:
    """A bot answer fit for a report: full ID numbers and the person's name masked."""
    text = FULL_ID.sub(lambda m: mask_id(m.group(0)), text)
    if person is not None and person.name:
        text = text.replace(person.name, mask_name(person.name))
    text = text.replace("\n", " / ")
    return text if len(text) <= limit else text[:limit] + "…"


def classify(
    status: int | None, raw: bytes | None, exc: BaseException | None
) -> tuple[str | None, list[dict[str, Any]]]:
    """(error kind or None, the bot's messages) of one turn."""
    if exc is not None:
        if isinstance(exc, TimeoutError):  # asyncio.TimeoutError and aiohttp's timeouts are TimeoutErrors
            return "timeout", []
        return f"transport {type(exc).__name__}", []
    if status != 200:
        return f"http {status}", []
    try:
        replies = json.loads(raw or b"")
    except ValueError:
        return "not json", []
    if not isinstance(replies, list) or not all(isinstance(r, dict) for r in replies):
        return "not a list of messages", []
    if not replies:
        return "empty reply", []
    return None, replies


@dataclass
class TurnRecord:
    sent: float  # seconds after the start of the measured run
    latency: float  # seconds until the answer (or the error)
    error: str | None = None


@dataclass
class ConversationRecord:
    sender: str
    kind: str  # "claim" | "question"
    started: float
    person: Claimant | None = None
    question: str = ""
    outcome: str = "running"  # issued | existing | failed | answered | error | unfinished
    error: str | None = None
    card_number: str | None = None
    last_text: str = ""  # masked
    turns_done: int = 0
    waiting_since: float | None = None  # a turn in flight, sent then

    @property
    def failed_claim(self) -> bool:
        return self.kind == "claim" and self.outcome not in SUCCESS and self.outcome != "running"

    def note_answer(self, replies: list[dict[str, Any]]) -> None:
        text = "\n".join(str(r.get("text") or "") for r in replies)
        self.last_text = mask_text(text, self.person)
        if self.kind == "claim" and self.outcome == "running":
            if ISSUED in text or EXISTING in text:
                self.outcome = "issued" if ISSUED in text else "existing"
                found = CARD_NUMBER.search(text)
                self.card_number = found.group(1) if found else None

    def finish(self) -> None:
        if self.outcome == "running":
            self.outcome = "answered" if self.kind == "question" else "failed"


Clock = Callable[[], float]


async def converse(
    http: aiohttp.ClientSession,
    url: str,
    conv: ConversationRecord,
    turns: Sequence[str],
    clock: Clock,
    records: list[TurnRecord],
    think_time: float,
    rng: random.Random,
) -> None:
    """Chat one conversation; stop at the first error."""
    for i, message in enumerate(turns):
        if i and think_time > 0:
            await asyncio.sleep(rng.uniform(0.5, 1.5) * think_time)
        status: int | None = None
        raw: bytes | None = None
        exc: BaseException | None = None
        sent = clock()
        conv.waiting_since = sent
        try:
            async with http.post(url, json={"sender": conv.sender, "message": message}) as resp:
                status = resp.status
                raw = await resp.read()
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as e:
            exc = e
        conv.waiting_since = None
        kind, replies = classify(status, raw, exc)
        records.append(TurnRecord(sent, clock() - sent, kind))
        if kind is not None:
            conv.outcome, conv.error = "error", kind
            return
        conv.turns_done += 1
        conv.note_answer(replies)
    conv.finish()
