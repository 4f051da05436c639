"""The bot's side of records to fix (backend/campaign/fixes.py): a parent
whose claim failed on the registry comes back and asks to claim; once a
registry import corrected the record, action_start_claim says so, keeps
the details and has them confirmed again (the confirmation is the offer to
claim: 确认无误，领卡). Tracker fixtures against a real backend, exact
events. End to end (the trained model saying utter_record_corrected) is
untested until the model is retrained with the new response."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.backend_client import BackendClient
from actions.support_actions import ActionStartClaim
from backend.registry.columns import STUDENT_COLUMNS
from tests.actions.test_actions import DOMAIN, tracker
from tests.conftest import TOKEN, Api
from tests.people import GUARDIAN_HU, NO_GUARDIAN, student_rows, write_csv
from tests.responses import rendered

ROOT = Path(__file__).resolve().parents[2]
FAILED = dict(
    role="parent",
    guardian_name=GUARDIAN_HU.name,
    guardian_id_number=GUARDIAN_HU.id_number,
    person_name=NO_GUARDIAN.name,
    id_number=NO_GUARDIAN.id_number,
    face_verification=False,
    failure_reason="guardian_mismatch",
)


def start_claim(api: Api) -> ActionStartClaim:
    action = ActionStartClaim()
    action.client = BackendClient(url=str(api.client.make_url("")), token=TOKEN, timeout_s=2.5)
    return action


async def record_guardian(api: Api, tmp_path: Path) -> None:
    """The school records 胡·不存 as 赵无监's guardian; the registry is imported
    again (by the CLI, in a process of its own, as in production)."""
    rows = [
        {**r, "guardian1_name": GUARDIAN_HU.name, "guardian1_id_number": GUARDIAN_HU.id_number}
        if r["id_number"] == NO_GUARDIAN.id_number
        else r
        for r in student_rows()
    ]
    path = write_csv(tmp_path / "students-corrected.csv", STUDENT_COLUMNS, rows)
    env = {
        "PATH": "/usr/bin:/bin",
        "BACKEND_DATABASE_URL": api.db.url,
        "HOME": str(ROOT / "var"),
        "PYTHONPATH": str(ROOT),
    }
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "backend", "import-registry", "--students", str(path), "--no-progress"],
        text=True,
        capture_output=True,
        cwd=ROOT,
        env={**env, **{k: v for k, v in os.environ.items() if k == "TMPDIR"}},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


async def fail(api: Api, sender: str) -> None:
    status, answer = await api.claim(
        path="parent",
        guardian_name=GUARDIAN_HU.name,
        guardian_id_number=GUARDIAN_HU.id_number,
        name=NO_GUARDIAN.name,
        id_number=NO_GUARDIAN.id_number,
        channel_user=sender,
    )
    assert (status, answer["code"]) == (422, "guardian_mismatch")


async def test_a_corrected_record_is_announced_and_the_details_kept(api: Api, tmp_path: Path) -> None:
    await fail(api, "chat-hu")
    action = start_claim(api)
    # Before the school corrects it: a new claim starts afresh, as before.
    t = tracker(FAILED, text="我要领卡", intent="claim_card", active_loop=None, sender="chat-hu")
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, t, DOMAIN)
    assert dispatcher.messages == []
    assert SlotSet("guardian_name", None) in events and SlotSet("failure_reason", None) in events
    await record_guardian(api, tmp_path)
    # After: said so, details kept, asked to confirm them again.
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, t, DOMAIN)
    assert events == [SlotSet("failure_reason", None), SlotSet("details_confirmed", None)]
    [message] = rendered(dispatcher.messages, t)
    assert message["text"] == (
        "好消息：学校已经在学籍系统中更正了赵*监的信息，上次领卡没通过的原因已经处理。现在可以重新领卡了，我们这就继续。"
    )
    assert NO_GUARDIAN.name not in str(dispatcher.messages)
    await action.client.close()


async def test_another_chat_hears_nothing_of_it(api: Api, tmp_path: Path) -> None:
    await fail(api, "chat-hu")
    await record_guardian(api, tmp_path)
    action = start_claim(api)
    dispatcher = CollectingDispatcher()
    t = tracker(FAILED, text="继续领卡", intent="claim_card", active_loop=None, sender="someone-else")
    events = await action.run(dispatcher, t, DOMAIN)
    assert dispatcher.messages == [] and SlotSet("person_name", None) in events
    # A fresh chat of the parent (no details yet) hears it, and the claim starts as usual.
    dispatcher = CollectingDispatcher()
    t = tracker({}, text="我要领卡", intent="claim_card", active_loop=None, sender="chat-hu")
    assert await action.run(dispatcher, t, DOMAIN) == []
    assert [m["response"] for m in dispatcher.messages] == ["utter_record_corrected"]
    await action.client.close()


async def test_a_backend_that_is_down_changes_nothing() -> None:
    action = ActionStartClaim()
    action.client = BackendClient(url="http://127.0.0.1:9", token=TOKEN, timeout_s=0.5)
    dispatcher = CollectingDispatcher()
    t = tracker(FAILED, text="我要领卡", intent="claim_card", active_loop=None, sender="chat-hu")
    events = await action.run(dispatcher, t, DOMAIN)
    assert dispatcher.messages == [] and SlotSet("failure_reason", None) in events
    await action.client.close()
