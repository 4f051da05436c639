"""Entity rules after DIET: role values, names DIET missed, ID numbers.

Pure Python (no Rasa import), used by bot/entities.py (the pipeline
component) and unit-tested in .venv (tests/bot/test_nlu_entities.py). The role
rules, (a) and (b) below, are in bot/role_rules.py; the name rules, (c), in
bot/name_rules.py; the role words in bot/entity_lexicon.py. This module
holds (d) and `refine`, which applies them all.

`refine(text, entities, intent)` takes the message text as the pipeline
sees it (bot/normaliser.py's rewrite: Simplified, half-width, same length
as what the user typed, so offsets hold for the original) and the entities
found so far (DIET, RegexEntityExtractor, EntitySynonymMapper), and returns
the entities to keep:

(a) every role entity is mapped to one of the five contract values by a
    lexicon of role words, or dropped (本人领取, 自己, a stray 帮);
    a role word followed by 让/叫/通知... ("老师让我领卡") states no role;
(b) role entities DIET missed are added for clear statements of the user's
    own kind: 我是/作为/身份是 + ... + a role word (the phrase's last one,
    its head noun), a parent's wording (孩子他爸, 帮娃领, 代领), 我在读大二,
    or a short answer that is a role word (a button's title);
(c) person_name entities DIET missed or cut are added for clear patterns
    (我叫X, 孩子叫X, 名字是X, 给女儿X领卡, 改成X, a bare name, a name next
    to an ID number), checked with identity.check_name, has_surname and
    NOT_NAMES; DIET's name fragments inside or next to them are replaced;
(d) ID numbers typed with spaces or dashes become one entity, every
    id_number value is normalised (identity.normalise_id: upper-case X),
    and overlapping entities of the same kind are deduplicated.

Everything is regular expressions and set look-ups: a few microseconds a
message, and deterministic (bot/nlu_cache.py caches parses).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from bot.entity_lexicon import make_entity
from bot.name_rules import extend_name, find_names, plausible_name
from bot.role_rules import find_roles, keep_role
from identity import check_name, normalise_id, normalise_name
from identity.idnumber import SEPARATOR_CHARS

# ---------------------------------------------------------------- IDs

# An ID number typed with up to two separators between its characters.
_SEP = f"[{SEPARATOR_CHARS}]{{0,2}}"
_SPACED_ID = re.compile(rf"(?<![0-9A-Za-z])[0-9](?:{_SEP}[0-9]){{16}}{_SEP}[0-9Xx](?![0-9A-Za-z])")


_ID_VALUE = re.compile(r"[0-9]{6,20}X?\Z")


def find_ids(text: str) -> list[dict[str, Any]]:
    return [make_entity("id_number", normalise_id(m.group(0)), m.start(), m.end()) for m in _SPACED_ID.finditer(text)]


# ---------------------------------------------------------------- all


def _overlaps(a: dict[str, Any], b: dict[str, Any]) -> bool:
    sa, ea, sb, eb = a.get("start"), a.get("end"), b.get("start"), b.get("end")
    if not all(isinstance(x, int) for x in (sa, ea, sb, eb)):
        return False
    return sa < eb and sb < ea


def _name_intent(intent: str | None) -> bool:
    return intent in (
        None,
        "inform",
        "correct",
        "choose_role",
        "claim_card",
        "next_child",
        "relative_claim",
        "affirm",
        "deny",
        "nlu_fallback",
        "dont_know",
        "out_of_scope",
        "greet",
    )


def refine(text: str, entities: Iterable[dict[str, Any]], intent: str | None = None) -> list[dict[str, Any]]:
    """The entities to keep, in text order (see the module's docstring)."""
    kept: list[dict[str, Any]] = []
    names: list[dict[str, Any]] = []
    for ent in entities:
        kind = ent.get("entity")
        if kind == "role":
            value = keep_role(text, ent)
            if value is None:
                continue
            ent = {**ent, "value": value}
        elif kind == "id_number":
            value = normalise_id(str(ent.get("value") or ""))
            if not _ID_VALUE.match(value):
                continue  # DIET tagged a name or a word as an ID number
            ent = {**ent, "value": value}
        elif kind == "person_name":
            span = extend_name(text, ent)
            if span is not None:
                value = normalise_name(text[span[0] : span[1]])
                ent = {**ent, "start": span[0], "end": span[1], "value": value}
            else:
                ent = {**ent, "value": normalise_name(str(ent.get("value") or ""))}
            if check_name(ent["value"])[1] is not None:
                continue
            names.append(ent)
            continue
        kept.append(ent)

    # (d) IDs typed with separators: one entity each, fragments dropped.
    ids = find_ids(text)
    if ids:
        kept = [e for e in kept if not (e.get("entity") == "id_number" and any(_overlaps(e, i) for i in ids))]
        names = [e for e in names if not any(_overlaps(e, i) for i in ids)]
        kept.extend(ids)

    # (c) names from patterns replace DIET's fragments they overlap.
    ruled = (
        find_names(text, strict_bare=intent not in ("inform", "correct", "next_child"))
        if _name_intent(intent) or names
        else []
    )
    if ruled:
        names = [e for e in names if not any(_overlaps(e, r) for r in ruled)]
        names.extend(ruled)
    else:
        # Adjacent DIET fragments of one name (邹雨 + 萱).
        names.sort(key=lambda e: e.get("start", 0))
        merged: list[dict[str, Any]] = []
        for e in names:
            if merged and merged[-1].get("end") == e.get("start") and isinstance(e.get("start"), int):
                prev = merged[-1]
                joined = text[prev["start"] : e["end"]]
                if plausible_name(joined):
                    merged[-1] = {**prev, "end": e["end"], "value": normalise_name(joined)}
                    continue
            merged.append(e)
        names = merged
    kept.extend(names)

    # (b) roles DIET missed.
    for role in find_roles(text):
        if not any(e.get("entity") == "role" and _overlaps(e, role) for e in kept):
            kept.append(role)
    # Roles must not sit inside a name.
    kept = [
        e
        for e in kept
        if not (e.get("entity") == "role" and any(n.get("entity") == "person_name" and _overlaps(e, n) for n in names))
    ]
    # (d) dedup: the same entity over overlapping spans, or the same span twice.
    out: list[dict[str, Any]] = []
    for e in sorted(
        kept,
        key=lambda e: (
            e.get("start", 0) if isinstance(e.get("start"), int) else 0,
            -((e.get("end") or 0) - (e.get("start") or 0)),
        ),
    ):
        if any(
            o.get("entity") == e.get("entity")
            and (_overlaps(o, e) or (o.get("start"), o.get("end")) == (e.get("start"), e.get("end")))
            for o in out
        ):
            continue
        if e.get("entity") == "id_number" and any(
            o.get("entity") == "id_number" and o.get("value") == e.get("value") for o in out
        ):
            continue
        out.append(e)
    return out
