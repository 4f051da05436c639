"""A conversation as the staff console shows it: its events, and the agents' replies, as masked
turns (messages, buttons offered and pressed, slots, actions, loops).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import heapq
from collections.abc import Sequence
from typing import Any

from backend.conversations.events import entities_of, intent_of, known_names, parse_payload
from backend.conversations.masking import Masker, describe
from backend.conversations.tracker import TrackerEvent
from backend.models import AgentReply


@dataclasses.dataclass
class Button:
    title: str
    payload: str
    pressed: bool = False


@dataclasses.dataclass
class Turn:
    """One line of a transcript, masked."""

    kind: str  # user | bot | action | slot | loop | event | agent
    when: dt.datetime
    text: str = ""
    intent: str | None = None
    confidence: float | None = None
    entities: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    buttons: list[Button] = dataclasses.field(default_factory=list)
    pressed: str | None = None  # user turns that are button presses: the button's title
    is_payload: bool = False
    name: str = ""  # action, slot or loop name; agent username
    value: str = ""  # slot value
    detail: str = ""  # channel, verified identity, policy...
    event_id: int | None = None


_EVENT_NOTES = {
    "session_started": "新会话开始",
    "restart": "对话已重置",
    "rewind": "撤回了上一条用户消息（不计入对话状态）",
    "undo": "撤销了上一个动作",
    "reset_slots": "清空了所有槽位",
    "pause": "对话暂停",
    "resume": "对话恢复",
    "followup": "后续动作",
    "reminder": "设置提醒",
    "cancel_reminder": "取消提醒",
    "action_execution_rejected": "动作被拒绝",
    "loop_interrupted": "表单被打断",
    "export": "导出",
    "agent": "代理消息",
}
_RASA_METADATA = {"model_id", "assistant_id"}  # added by Rasa to every event
_HIDDEN_EVENTS = {"user_featurization", "entities", "form_validation"}
_HIDDEN_ACTIONS = {"action_listen"}


def _same_payload(a: Any, b: Any) -> bool:
    pa, pb = parse_payload(a), parse_payload(b)
    if pa and pb:
        return pa == pb
    return isinstance(a, str) and isinstance(b, str) and a.strip() == b.strip()


def build_transcript(events: Sequence[TrackerEvent], replies: Sequence[AgentReply] = ()) -> list[Turn]:
    """The conversation's events (and agents' replies, by time) as masked
    turns: messages, buttons offered and pressed, slots, actions."""
    masker = Masker(known_names(events))
    turns: list[Turn] = []
    offered: list[tuple[Button, Any]] = []  # buttons of the bot messages since the last user message
    for event in events:
        t, d = event.type_name, event.data
        if t == "user":
            raw = text if isinstance(text := d.get("text"), str) else ""
            intent, confidence = intent_of(event)
            turn = Turn(
                "user", event.when, text=masker.text(raw), intent=intent, confidence=confidence, event_id=event.id
            )
            if parse_payload(raw):
                turn.is_payload = True
                for button, payload in reversed(offered):
                    if _same_payload(payload, raw):
                        button.pressed = True
                        turn.pressed = button.title
                        break
            for e in entities_of(event):
                shown = (str(e.get("entity")), describe(masker.value(str(e.get("entity")), e.get("value"))))
                if shown not in turn.entities:  # two extractors may find the same entity
                    turn.entities.append(shown)
            details = []
            if isinstance(d.get("input_channel"), str):
                details.append(f"渠道 {d['input_channel']}")
            meta = d.get("metadata")
            meta = {k: v for k, v in meta.items() if k not in _RASA_METADATA} if isinstance(meta, dict) else None
            if meta:
                details.append("元数据 " + describe(masker.value(None, meta)))
            turn.detail = "；".join(details)
            turns.append(turn)
            offered = []
        elif t == "bot":
            data = bot_data if isinstance(bot_data := d.get("data"), dict) else {}
            turn = Turn("bot", event.when, text=masker.text(d.get("text")), event_id=event.id)
            for raw_button in (data.get("buttons") or []) + (data.get("quick_replies") or []):
                if isinstance(raw_button, dict):
                    button = Button(masker.text(raw_button.get("title")), masker.text(raw_button.get("payload")))
                    turn.buttons.append(button)
                    offered.append((button, raw_button.get("payload")))
            if turn.text or turn.buttons:
                turns.append(turn)
        elif t == "action":
            if event.name in _HIDDEN_ACTIONS:
                continue
            policy = raw_policy if isinstance(raw_policy := d.get("policy"), str) else ""
            confidence = d.get("confidence")
            detail = policy.rsplit(".", 1)[-1] if policy else ""
            if isinstance(confidence, (int, float)) and detail:
                detail += f" {confidence:.2f}"
            turns.append(Turn("action", event.when, name=event.name or "?", detail=detail, event_id=event.id))
        elif t == "slot":
            name = event.name or "?"
            turns.append(
                Turn(
                    "slot", event.when, name=name, value=describe(masker.value(name, d.get("value"))), event_id=event.id
                )
            )
        elif t == "active_loop":
            turns.append(Turn("loop", event.when, name=event.name or "", event_id=event.id))
        elif t in _HIDDEN_EVENTS:
            continue
        else:
            note = _EVENT_NOTES.get(t, t)
            if t == "action_execution_rejected" and event.name:
                note += f"：{event.name}"
            turns.append(Turn("event", event.when, text=note, event_id=event.id))
    agent_turns = [
        Turn(
            "agent",
            r.created_at,
            text=masker.text(r.text),
            name=r.staff_username,
            detail=f"工单 {r.ticket_id}" if r.ticket_id else "",
        )
        for r in replies
    ]
    return list(heapq.merge(turns, sorted(agent_turns, key=lambda x: x.when), key=lambda x: x.when))
