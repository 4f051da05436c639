"""The bot's wording is domain.yml's responses (issue 14): the actions name
responses, and pass only the values computed at run time.

Rasa drops a message whose response is not in the domain and shows a
`{variable}` it cannot fill as it is: these tests read the actions'
source for the responses they name, and check the few texts domain.yml
holds twice stay the same.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import yaml

from actions.messages import FAILURES, LATEST_FAILURES

ROOT = Path(__file__).resolve().parents[2]
ACTION_FILES = sorted((ROOT / "actions").glob("*.py"))
RESPONSE_NAME = re.compile(r"utter_[a-z0-9_]+\Z")


def responses() -> dict[str, list[dict[str, object]]]:
    return yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))["responses"]


def named_by_actions() -> dict[str, str]:
    """Every response name written in the actions: name -> file:line."""
    found: dict[str, str] = {}
    for path in ACTION_FILES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and RESPONSE_NAME.match(node.value):
                found.setdefault(node.value, f"{path.name}:{node.lineno}")
    return found


def test_every_response_an_action_names_is_in_the_domain() -> None:
    names = named_by_actions()
    assert len(names) > 50
    assert {n: where for n, where in names.items() if n not in responses()} == {}


def test_actions_send_no_text_of_their_own() -> None:
    """Only "再说一遍" sends a text: the one Rasa rendered before, again."""
    texts = []
    for path in ACTION_FILES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "utter_message"
                and any(k.arg == "text" for k in node.keywords)
            ):
                texts.append(f"{path.name}:{node.lineno}")
    assert len(texts) == 1 and texts[0].startswith("support_actions.py:"), texts


def test_every_failure_code_has_its_answers() -> None:
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    codes = set(domain["slots"]["failure_reason"]["values"])
    assert set(FAILURES) == set(LATEST_FAILURES) == codes


def test_the_latest_failure_says_what_a_failed_claim_says() -> None:
    """领取失败怎么办, when the chat's latest attempt failed: what was tried,
    then the very answer the claim gave (Rasa cannot put one response in
    another, so domain.yml holds the answer twice)."""
    all_responses = responses()
    lead = "查到您最近一次领卡（{name_masked}，{id_masked}）没有成功，原因是：\n"
    for code, name in LATEST_FAILURES.items():
        [latest], [claimed] = all_responses[name], all_responses[FAILURES[code]]
        assert latest["text"] == lead + str(claimed["text"]), code


def test_the_card_ends_with_where_to_see_it() -> None:
    """utter_card ends with utter_faq_view_card's answer, word for word."""
    all_responses = responses()
    [card], [view] = all_responses["utter_card"], all_responses["utter_faq_view_card"]
    assert str(card["text"]).endswith("\n" + str(view["text"]))


def test_every_answer_of_a_refresh_ends_with_what_the_school_can_fix() -> None:
    all_responses = responses()
    endings = {
        str(all_responses[name][0]["text"]).split("。", 1)[1].lstrip("\n")
        for name in (
            "utter_refresh_identity_where",
            "utter_refresh_no_card",
            "utter_identity_unchanged",
            "utter_identity_updated",
        )
    }
    assert len(endings) == 1 and next(iter(endings)).startswith(
        "如果学籍库（学生）或教师管理系统（教师）中的信息本身有误"
    )
