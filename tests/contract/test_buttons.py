"""Buttons (issue 12, item 1), the fast half: every button the bot can show
is the registry of contract/buttons.py (the buttons the actions send) plus
the buttons of domain.yml's responses. These tests check that set:
payloads that parse to the domain's intents and entities, one payload a
title, no registry entry the actions never show, no button built by hand in
an action, and the typed-title table of bot/quick_replies.py (run in the
Rasa environment).

tests/e2e/test_buttons.py types and taps these buttons against the running
stack, and checks that its explorer reaches every button of this set.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

import contract.buttons as contract_buttons
from contract.buttons import REGISTRY, parse_payload
from contract.contacts import DEPARTMENT_PHONE, HOTLINE
from tests.rasa_cli import RASA_PY, rasa_env

ROOT = Path(__file__).resolve().parents[2]
DOMAIN_FILE = ROOT / "domain.yml"
ACTION_FILES = sorted((ROOT / "actions").glob("*.py"))

ButtonKey = tuple[str, str]  # (title, payload)


# -- every button the bot can show -----------------------------------------------------


def domain() -> dict[str, Any]:
    return yaml.safe_load(DOMAIN_FILE.read_text(encoding="utf-8"))


def domain_buttons() -> list[tuple[str, str, str]]:
    """(title, payload, response) of every button of domain.yml's responses."""
    found = []
    for name, variants in (domain().get("responses") or {}).items():
        for variant in variants or []:
            for b in variant.get("buttons") or []:
                found.append((b["title"], b["payload"], name))
    return found


def every_button() -> list[tuple[str, str, str]]:
    """(title, payload, where defined) of the registry and the domain."""
    return [(b.title, b.payload, "contract/buttons.py") for b in REGISTRY] + [
        (t, p, f"domain.yml {r}") for t, p, r in domain_buttons()
    ]


def button_set() -> set[ButtonKey]:
    return {(t, p) for t, p, _ in every_button()}


# -- fast tests ----------------------------------------------------------------------


def test_there_are_buttons_in_both_places() -> None:
    assert len(REGISTRY) > 20
    assert {r for _, _, r in domain_buttons()} >= {"utter_greet", "utter_ask_face_verification"}


def test_every_payload_is_a_domain_intent_with_domain_entities() -> None:
    d = domain()
    intents = {i if isinstance(i, str) else next(iter(i)) for i in d["intents"]}
    entities = {e if isinstance(e, str) else next(iter(e)) for e in d["entities"]}
    wrong = []
    for title, payload, where in every_button():
        parsed = parse_payload(payload)
        if parsed is None:
            wrong.append(f"{where}: {title!r}: payload {payload!r} does not parse")
            continue
        intent, found = parsed
        if intent not in intents:
            wrong.append(f"{where}: {title!r}: intent {intent!r} is not in domain.yml")
        for entity, value in found.items():
            if entity not in entities:
                wrong.append(f"{where}: {title!r}: entity {entity!r} is not in domain.yml")
            if not isinstance(value, str) or not value:
                wrong.append(f"{where}: {title!r}: entity {entity!r} has no text value: {value!r}")
    assert not wrong, "\n".join(wrong)


def test_a_title_never_has_two_payloads() -> None:
    payloads: dict[str, set[str]] = {}
    for title, payload, _ in every_button():
        payloads.setdefault(title, set()).add(json.dumps(parse_payload(payload), ensure_ascii=False, sort_keys=True))
    assert {t: p for t, p in payloads.items() if len(p) > 1} == {}


def _names_holding(button: contract_buttons.Button) -> set[str]:
    """The names contract/buttons.py gives a button: its constant, and the
    tuples and dicts that hold it (ROLES, ASK_BUTTONS)."""
    names = set()
    for name, value in vars(contract_buttons).items():
        if name == "REGISTRY":
            continue
        members = value.values() if isinstance(value, dict) else value if isinstance(value, (tuple, list)) else (value,)
        if any(m is button for m in members):
            names.add(name)
    return names


def _names_used_by_actions() -> set[str]:
    """Names the actions import from contract.buttons (or read off the module)."""
    used = set()
    for path in ACTION_FILES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "contract.buttons":
                used |= {alias.name for alias in node.names}
            elif (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in ("buttons", "contract_buttons")
            ):
                used.add(node.attr)
    return used


def test_every_registry_button_is_shown_by_an_action() -> None:
    """The registry holds what the actions show: an entry no action refers to
    is stale (a button nobody sees, whose title is still read as that
    button)."""
    used = _names_used_by_actions()
    stale = [
        f"{'/'.join(sorted(_names_holding(b))) or '?'} = {b.title!r} {b.payload}"
        for b in REGISTRY
        if not (_names_holding(b) & used)
    ]
    assert not stale, "registry buttons no action in actions/*.py refers to:\n" + "\n".join(stale)


def test_no_action_builds_a_button_by_hand() -> None:
    found = []
    for path in ACTION_FILES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value == "payload":
                found.append(f"{path.name}:{node.lineno}")
    assert not found, f'"payload" string literals (a button dict built by hand): {found}'


def test_every_phone_number_of_the_responses_is_a_contact() -> None:
    phone = re.compile(r"(?<!\d)\d{3,4}\s*[-－—]\s*\d{7,8}(?!\d)|(?<!\d)\d{7,12}(?!\d)")
    numbers = {}
    for name, variants in (domain().get("responses") or {}).items():
        for variant in variants or []:
            for number in phone.findall(variant.get("text") or ""):
                numbers.setdefault(re.sub(r"\s", "", number), set()).add(name)
    assert HOTLINE in numbers and DEPARTMENT_PHONE in numbers
    assert {n: sorted(r) for n, r in numbers.items() if n not in (HOTLINE, DEPARTMENT_PHONE)} == {}


# What `bot.quick_replies` must read as a button, beyond the titles themselves.
TYPED_VARIANTS = {
    "確認無誤 領卡": "确认无误，领卡",  # Traditional, a space for the comma
    "确认无误领卡": "确认无误，领卡",
    "確認無誤，領卡！": "确认无误，领卡",
    "本人领取。": "本人领取",
    "本人領取吧": "本人领取",
    " 本人领取 ": "本人领取",
    "　开通　": "开通",  # full-width spaces
    "开通。": "开通",
    "开通吧": "开通",
    "暫不開通": "暂不开通",
    "暂不开通！": "暂不开通",
    "需要修改。": "需要修改",
    "我是家長": "我是家长",
    "中小学生／中职学生": "中小学生/中职学生",  # full-width slash
    "修改身份證號": "修改身份证号",
    "轉人工！": "转人工",
    "转人工啊": "转人工",
    "“家长代领”": "家长代领",
    "確定，不領了": "确定，不领了",
    "需要學校改什麼": "需要学校改什么",
}
NOT_TITLES = [
    "我想问一下本人领取需要带什么材料吗",
    "我已经确认无误了，但是领卡的时候一直提示失败，请问应该怎么处理呢",
    "确认无误，领卡" * 8,  # a long message is never a button
    "开通人脸识别有什么用",
]


@pytest.mark.rasa
@pytest.mark.skipif(not RASA_PY.exists(), reason="no .venv-rasa: run make install")
def test_typed_titles_and_their_variants_are_the_buttons(tmp_path: Path) -> None:
    """bot/quick_replies.py (it imports Rasa: run in .venv-rasa)."""
    cases = {
        "titles": [[t, list(parse_payload(p))] for t, p, _ in every_button()],  # type: ignore[arg-type]
        "variants": [
            [v, list(parse_payload(next(p for t, p, _ in every_button() if t == title)))]  # type: ignore[arg-type]
            for v, title in TYPED_VARIANTS.items()
        ],
        "not_titles": NOT_TITLES,
    }
    script = """
import json, sys
from bot.quick_replies import QuickReplies, key, title_table
cases = json.loads(sys.stdin.read())
table = title_table()
component = QuickReplies(table)
wrong = []
for group in ("titles", "variants"):
    for text, expected in cases[group]:
        got = table.get(key(text))
        matched = component.match(text)
        if got is None or [got[0], got[1]] != expected or matched != got:
            wrong.append([group, text, key(text), expected, got and list(got), matched and list(matched)])
for text in cases["not_titles"]:
    if component.match(text) is not None:
        wrong.append(["not_titles", text, key(text), None, None, list(component.match(text))])
print(json.dumps({"wrong": wrong, "size": len(table)}, ensure_ascii=False))
"""
    out = subprocess.run(
        [str(RASA_PY), "-c", script],
        cwd=ROOT,
        input=json.dumps(cases, ensure_ascii=False),
        capture_output=True,
        text=True,
        timeout=300,
        env=rasa_env(tmp_path),
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["wrong"] == [], "\n".join(
        f"{g}: typed {t!r} (key {k!r}): expected {e}, table {got}, match {m}" for g, t, k, e, got, m in result["wrong"]
    )
