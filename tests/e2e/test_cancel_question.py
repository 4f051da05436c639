""" "确定不领了吗？" answered with anything but a yes: nothing is cancelled and
the claim goes on, whatever intent the model reads in the answer.

After action_ask_cancel the form is interrupted, and Rasa's form does not
read the next message of an interrupted form: an answer no rule takes (an
intent such as `inform`, or `不是，继续领` read as anything but deny) used
to be rejected by the form and fall to the core fallback (没有理解, the
question still pending). Intents are sent as payloads here so the test does
not depend on what a given training makes of a text."""

from __future__ import annotations

from typing import Any

import pytest

from tests import people
from tests.responses import text_of
from tests.stack import NEEDS_STACK, realname, say, slots, text

pytestmark = NEEDS_STACK

TO_CANCEL = ("我要领卡", '/choose_role{"role": "parent"}', "算了，不领了")


@pytest.mark.parametrize("answer", ["/inform", "/correct", "/choose_role", "不是，继续领"])
async def test_an_answer_to_the_cancel_question_that_is_not_a_yes_goes_on_with_the_claim(
    stack: Any, answer: str
) -> None:
    sender = f"cancel-question-{answer.encode().hex()}"
    meta = realname(people.BTN_VERIFIED.name, people.BTN_VERIFIED.id_number, sender)
    for message in TO_CANCEL:
        await say(stack, sender, message, meta)
    reply = await say(stack, sender, answer, meta)
    state = await slots(stack, sender)
    assert (state["pending_cancel"], state["role"], state["requested_slot"]) == (False, "parent", "guardian_name"), (
        text(reply)
    )
    assert text_of("utter_claim_goes_on") in text(reply) or text_of("utter_go_on") in text(reply), text(reply)
    assert text_of("utter_not_understood") not in text(reply)
