"""A conversation exported as a Rasa test story, pseudonymised (Pseudonymiser): ID numbers by
fictional ones of the same kind, names by placeholders, phone numbers masked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

from backend.conversations.events import (
    ID_KEYS,
    ID_SLOTS,
    NAME_KEYS,
    NAME_SLOTS,
    entities_of,
    intent_of,
    known_names,
    name_spans,
    parse_payload,
    replace_spans,
    span_of,
)
from backend.conversations.masking import Masker
from backend.conversations.tracker import TrackerEvent
from identity import normalise_for_nlu, normalise_id, validate_id
from identity.freetext import ID_LIKE_IN_TEXT, ascii_digits, mask_phones
from identity.idnumber import PROVINCE_CODES, check_char
from identity.masking import MASKED_ID_IN_TEXT
from trust.sealing import is_sealed
from trust.sealing import masked as sealed_masked

PLACEHOLDER_NAMES = {
    2: ["张三", "李四", "王五", "赵六", "钱七", "孙八"],
    3: ["张小三", "李小四", "王小五", "赵小六", "钱小七", "孙小八"],
    4: ["欧阳小明", "司马小红", "诸葛小华", "上官小丽"],
}


class Pseudonymiser:
    """Replaces the personal data of one conversation for a test story:
    each distinct ID number by a fictional one of the same kind (valid ones
    by valid ones with the same province, birth year and sex; a wrong
    check character stays wrong; other lengths stay the same length), each
    known name by a placeholder name of its length, phone numbers masked.
    The same input always gets the same replacement within the story."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        self.names = sorted(set(names), key=len, reverse=True)
        self.ids: dict[str, str] = {}
        self.placeholders: dict[str, str] = {}

    def name(self, raw: str) -> str:
        key = normalise_for_nlu(raw.strip())
        if key not in self.placeholders:
            length = min(max(len(key.replace("·", "")), 2), 4)
            pool = PLACEHOLDER_NAMES[length]
            used = sum(1 for v in self.placeholders.values() if v in pool or v[:-1] in pool)
            self.placeholders[key] = pool[used % len(pool)] + ("" if used < len(pool) else "甲")
        return self.placeholders[key]

    def id_number(self, raw: str) -> str:
        value = raw if "*" in raw else normalise_id(raw)  # as stored (3601**********1234) or typed
        if value not in self.ids:
            self.ids[value] = fictional_id(value, len(self.ids))
        return self.ids[value]

    def text(self, value: Any) -> str:
        value = "" if value is None else ascii_digits(str(value))
        value = replace_spans(value, name_spans(value, self.names), lambda _o, name: self.name(name))
        value = MASKED_ID_IN_TEXT.sub(lambda m: self.id_number(m.group(0)), value)
        return mask_phones(ID_LIKE_IN_TEXT.sub(lambda m: self.id_number(m.group(0)), value))

    def value(self, key: str | None, value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): self.value(str(k), v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.value(key, v) for v in value]
        if value is None or isinstance(value, bool):
            return value
        if is_sealed(value):  # the number the stored texts show masked: the same fictional one
            return self.id_number(sealed_masked(value))
        if key in NAME_KEYS and isinstance(value, str):
            return self.name(value)
        if key in ID_KEYS and (
            ID_LIKE_IN_TEXT.fullmatch(ascii_digits(str(value)).strip()) or MASKED_ID_IN_TEXT.fullmatch(str(value))
        ):
            return self.id_number(str(value))
        if isinstance(value, (int, float)):
            return value if len(str(value)) < 15 else self.text(value)
        return self.text(value)


def fictional_id(real: str, index: int) -> str:
    """A fictional ID number standing in for `real` (see Pseudonymiser)."""
    province = real[:2] if real[:2] in PROVINCE_CODES else "36"
    year = real[6:10] if len(real) >= 10 and real[6:10].isdigit() and "1900" <= real[6:10] <= "2099" else "2000"
    male = len(real) >= 17 and real[16].isdigit() and int(real[16]) % 2 == 1
    seq = 900 + (2 * index) % 100 + (1 if male else 0)
    body = f"{province}0102{year}0101{seq:03d}"
    good = body + check_char(body)
    if len(real) != 18:
        return (good + "0" * len(real))[: len(real)]
    if validate_id(real).problem == "checksum":
        return body + "10X98765432"[("10X98765432".index(good[-1]) + 1) % 11]
    return good


def _q(value: Any) -> str:
    """A YAML scalar: JSON is valid YAML (double-quoted strings, numbers,
    true/false/null, flow mappings and sequences)."""
    return json.dumps(value, ensure_ascii=False)


def _key(value: str) -> str:
    return value if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value) else _q(value)


def _annotated(raw: str, entities: list[dict[str, Any]], pseudo: Pseudonymiser) -> str:
    """The user's text with its entities in Rasa's markup, pseudonymised:
    `我叫[张三](person_name)`, `[初中生]{"entity": "role", "value": "k12_student"}`."""
    names = name_spans(raw, pseudo.names)
    spans: list[tuple[int, int, dict[str, Any]]] = []
    for e in sorted(entities, key=lambda e: (e.get("start") or 0, -(e.get("end") or 0))):
        piece = span_of(raw, e)
        if piece is None or not isinstance(e.get("entity"), str):
            continue
        if spans and e["start"] < spans[-1][1]:
            continue  # overlapping or duplicate (two extractors)
        if any(s < e["end"] and e["start"] < end and (s, end) != (e["start"], e["end"]) for s, end, _ in names):
            continue  # part of a name (e.g. 公众 in 黄公众): the name is replaced as a whole
        spans.append((e["start"], e["end"], e))
    out, pos = [], 0
    for start, end, e in spans:
        out.append(pseudo.text(raw[pos:start]))
        name = e["entity"]
        piece = pseudo.value(name, raw[start:end]) if name in NAME_SLOTS | ID_SLOTS else pseudo.text(raw[start:end])
        value = pseudo.value(name, e.get("value"))
        if isinstance(value, str) and value == piece and not e.get("role") and not e.get("group"):
            out.append(f"[{piece}]({name})")
        else:
            spec = {"entity": name, "value": value}
            for extra in ("role", "group"):
                if isinstance(e.get(extra), str):
                    spec[extra] = e[extra]
            out.append(f"[{piece}]{_q(spec)}")
        pos = end
    out.append(pseudo.text(raw[pos:]))
    return "".join(out)


def _applied(events: Sequence[TrackerEvent]) -> list[Any]:
    """The events that shaped the conversation, as Rasa applies them: a
    rewind takes back the last user message (and the listen before it), an
    undo the last action; what was taken back is kept as a comment.
    Session starts (and the slots carried over) are left out; the
    conversation goes on across sessions."""
    applied: list[Any] = []
    in_session_start = False

    def undo_till(kind: str) -> TrackerEvent | None:
        while applied:
            item = applied.pop()
            if isinstance(item, TrackerEvent) and item.type_name == kind:
                return item
        return None

    for event in events:
        t = event.type_name
        if t == "action" and event.name == "action_session_start":
            in_session_start = True
            continue
        if in_session_start:
            if t == "action" and event.name == "action_listen":
                in_session_start = False
            continue
        if t == "rewind":
            user = undo_till("user")
            undo_till("action")
            if user is not None:
                intent, _ = intent_of(user)
                applied.append(("comment", user, intent))
        elif t == "undo":
            undo_till("action")
        else:
            applied.append(event)
    return applied


def export_story(sender_id: str, events: Sequence[TrackerEvent], tags: Sequence[str] = ()) -> str:
    """The conversation as a Rasa 3.x test story (YAML), pseudonymised."""
    names = known_names(events)
    pseudo = Pseudonymiser(names)
    masker = Masker(names)
    title = f"会话 {masker.text(sender_id)}" + (f"（{'、'.join(tags)}）" if tags else "")
    lines = [
        'version: "3.1"',
        "",
        "# Exported from the staff console as a regression test story. Personal",
        "# data is replaced: ID numbers by fictional ones (same province, birth",
        "# year and sex; valid stays valid), names by placeholders, phone numbers",
        "# masked. Move it to tests/stories/test_*.yml and check the steps.",
        "",
        "stories:",
        f"  - story: {_q(title)}",
        "    steps:",
    ]
    steps = 0
    for item in _applied(events):
        if isinstance(item, tuple):
            _, user, intent = item
            said = pseudo.text(user.data.get("text")).replace("\n", " ")
            lines.append(f"      # taken back by the bot: {_q(said)} (intent {intent or '?'})")
            continue
        event: TrackerEvent = item
        t, d = event.type_name, event.data
        if t == "user":
            raw = text if isinstance(text := d.get("text"), str) else ""
            intent, _ = intent_of(event)
            payload = parse_payload(raw)
            if payload:
                name, entities = payload
                lines.append(f"      - intent: {_key(name)}")
                if entities:
                    lines.append("        entities:")
                    for key, value in entities.items():
                        lines.append(f"          - {_key(str(key))}: {_q(pseudo.value(str(key), value))}")
            else:
                said = _annotated(raw, entities_of(event), pseudo)
                if (
                    said
                    and "\n" not in said
                    and said == said.strip()
                    and said.isprintable()
                    and not said.startswith(("#", "'", '"'))
                ):
                    lines.append("      - user: |")
                    lines.append(f"          {said}")
                else:
                    lines.append(f"      - user: {_q(said)}")
                lines.append(f"        intent: {_key(intent or 'nlu_fallback')}")
            steps += 1
        elif t == "action":
            if event.name and event.name not in ("action_listen", "action_session_start"):
                lines.append(f"      - action: {_key(event.name)}")
                steps += 1
        elif t == "slot":
            if event.name and event.name != "session_started_metadata":
                lines.append("      - slot_was_set:")
                lines.append(f"          - {_key(event.name)}: {_q(pseudo.value(event.name, d.get('value')))}")
                steps += 1
        elif t == "active_loop":
            lines.append(f"      - active_loop: {_key(event.name) if event.name else 'null'}")
            steps += 1
    if not steps:
        lines[-1] = "    steps: []"
    return "\n".join(lines) + "\n"
