"""The action server's side of sealed ID numbers (trust/sealing.py).

Rasa sends each action the conversation as the tracker store keeps it: the
ID slots and the verified real name hold sealed references. The actions
are written for plain numbers, so `SealingExecutor` opens every reference
in the call before an action runs, and seals every ID slot an action sets
before the answer goes back to Rasa. One place, so no action can forget.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rasa_sdk.executor import ActionExecutor, ActionExecutorRunResult

from contract.metadata import VERIFIED_REALNAME
from trust.sealing import SEALED_SLOTS, seal, unseal


def _realname(metadata: Any, convert: Callable[[Any], Any]) -> None:
    if isinstance(metadata, dict) and isinstance(metadata.get(VERIFIED_REALNAME), dict):
        verified = dict(metadata[VERIFIED_REALNAME])
        verified["id_number"] = convert(verified.get("id_number"))
        metadata[VERIFIED_REALNAME] = verified


def open_call(action_call: dict[str, Any]) -> dict[str, Any]:
    """The action call (as Rasa posts it) with every reference opened, in place."""
    tracker = action_call.get("tracker")
    if not isinstance(tracker, dict):
        return action_call
    slots = tracker.get("slots")
    if isinstance(slots, dict):
        for name in SEALED_SLOTS:
            if name in slots:
                slots[name] = unseal(slots[name])
    for event in tracker.get("events") or ():
        if not isinstance(event, dict):
            continue
        if event.get("event") == "slot" and event.get("name") in SEALED_SLOTS:
            event["value"] = unseal(event.get("value"))
        elif event.get("event") == "user":
            _realname(event.get("metadata"), unseal)
    latest = tracker.get("latest_message")
    if isinstance(latest, dict):
        _realname(latest.get("metadata"), unseal)
    return action_call


def seal_events(events: Any) -> Any:
    """An action's events with the ID slots it sets sealed, in place."""
    for event in events if isinstance(events, list) else ():
        if isinstance(event, dict) and event.get("event") == "slot" and event.get("name") in SEALED_SLOTS:
            event["value"] = seal(event.get("value"))
    return events


class SealingExecutor(ActionExecutor):
    async def run(self, action_call: dict[str, Any]) -> ActionExecutorRunResult | None:
        result = await super().run(open_call(action_call))
        if result is not None:
            seal_events(result.events)
        return result
