"""Every button the bot's actions show, defined once.

A button is a quick reply: tapping it sends its payload (an intent with
entities, as Rasa's `/intent{...}` syntax). Typing its title must do
exactly what tapping does: `bot.quick_replies` maps a typed title to the
same intent and entities, and tests/e2e/test_buttons.py types every title.
Buttons of domain.yml responses (the greeting's) are read from there.

Actions send them (domain responses cannot hold payloads with braces:
Rasa would read them as slot templates).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from contract.paths import IDENTITY_LABELS, K12_STUDENT, PARENT, PATH_LABELS, PUBLIC, TEACHER, UNIVERSITY_STUDENT

_PAYLOAD = re.compile(r"^/(?P<intent>[A-Za-z_]+)(?P<entities>\{.*\})?$")
REGISTRY: list[Button] = []


@dataclass(frozen=True)
class Button:
    title: str
    intent: str
    entities: tuple[tuple[str, str], ...] = field(default=())

    def __post_init__(self) -> None:
        REGISTRY.append(self)

    @property
    def payload(self) -> str:
        if not self.entities:
            return f"/{self.intent}"
        return f"/{self.intent}" + json.dumps(dict(self.entities), ensure_ascii=False)

    def slot(self) -> str | None:
        """The detail a correction button changes."""
        return dict(self.entities).get("detail")

    def as_dict(self) -> dict[str, str]:
        return {"title": self.title, "payload": self.payload}


def parse_payload(payload: str) -> tuple[str, dict[str, Any]] | None:
    """`/intent{"e": "v"}` -> ("intent", {"e": "v"}); None when not a payload."""
    m = _PAYLOAD.match(payload.strip())
    if not m:
        return None
    entities = json.loads(m.group("entities")) if m.group("entities") else {}
    return m.group("intent"), entities


def buttons(*items: Button) -> list[dict[str, str]]:
    """The dicts rasa-sdk's `utter_message(buttons=...)` takes."""
    return [b.as_dict() for b in items]


# -- the role question ---------------------------------------------------------------
ROLE_K12 = Button(IDENTITY_LABELS[K12_STUDENT], "choose_role", (("role", K12_STUDENT),))
ROLE_PARENT = Button("我是家长", "choose_role", (("role", "parent"),))
ROLE_UNIVERSITY = Button(IDENTITY_LABELS[UNIVERSITY_STUDENT], "choose_role", (("role", UNIVERSITY_STUDENT),))
ROLE_TEACHER = Button(IDENTITY_LABELS[TEACHER], "choose_role", (("role", TEACHER),))
ROLE_PUBLIC = Button(IDENTITY_LABELS[PUBLIC], "choose_role", (("role", PUBLIC),))
ROLES = (ROLE_K12, ROLE_PARENT, ROLE_UNIVERSITY, ROLE_TEACHER, ROLE_PUBLIC)

# -- 本人领取 or 家长代领 --------------------------------------------------------------
CLAIM_SELF = Button("本人领取", "choose_role", (("k12_claimant", "self"),))
CLAIM_BY_PARENT = Button(PATH_LABELS[PARENT], "choose_role", (("role", PARENT),))
# After a parent's claim failed: the child claims as the student instead.
CHILD_CLAIMS_SELF = Button("让孩子本人领取", "choose_role", (("k12_claimant", "self"),))

# -- yes / no questions --------------------------------------------------------------
# (The face question's 开通 / 暂不开通 are domain.yml's utter_ask_face_verification.)
CONFIRM = Button("确认无误，领卡", "affirm")
# A student under 14 claiming for themselves (PIPL art. 31: actions/privacy.py).
CONFIRM_WITH_CONSENT = Button("家长已同意，确认领卡", "affirm")
CHANGE = Button("需要修改", "deny")
CANCEL_YES = Button("确定，不领了", "affirm")
CANCEL_NO = Button("不取消", "deny")
RETRY = Button("重试", "affirm")

# -- corrections: one detail at a time -------------------------------------------------
FIX_NAME = Button("修改姓名", "correct", (("detail", "person_name"),))
FIX_ID = Button("修改身份证号", "correct", (("detail", "id_number"),))
FIX_CHILD_NAME = Button("修改孩子姓名", "correct", (("detail", "person_name"),))
FIX_CHILD_ID = Button("修改孩子身份证号", "correct", (("detail", "id_number"),))
FIX_GUARDIAN_NAME = Button("修改家长姓名", "correct", (("detail", "guardian_name"),))
FIX_GUARDIAN_ID = Button("修改家长身份证号", "correct", (("detail", "guardian_id_number"),))
FIX_FACE = Button("修改人脸识别选项", "correct", (("detail", "face_verification"),))
FIX_ROLE = Button("换一个领卡身份", "correct", (("detail", "role"),))

# -- after a failure, and anywhere ------------------------------------------------------
START_CLAIM = Button("开始领卡", "claim_card")
CLAIM_AGAIN = Button("重新领卡", "claim_card")
NEXT_CHILD = Button("为另一个孩子领卡", "next_child")
HUMAN = Button("转人工", "request_human")
HOTLINE = Button("客服电话", "faq_contact_support")
SCHOOL_FIX = Button("需要学校改什么", "ask_followup", (("followup", "school"),))
WHAT_NOW = Button("那怎么办", "ask_followup", (("followup", "what_now"),))
CHILDREN_CLAIMED = Button("查看已代领的孩子", "faq_cannot_claim_for_child")
REFRESH_IDENTITY = Button("现在重新核对身份", "refresh_identity")
I_AM_GUARDIAN = Button("我就是登记的监护人", "choose_role", (("role", "parent"),))

# -- "您是想问……？": the likeliest meanings of an unclear message -----------------------
ASK_BUTTONS = {
    "claim_card": START_CLAIM,
    "faq_claim_failed": Button("领取失败怎么办", "faq_claim_failed"),
    "faq_cannot_claim_for_child": Button("为什么不能帮孩子领卡", "faq_cannot_claim_for_child"),
    "faq_verified_no_card": Button("验证成功了但没领到卡", "faq_verified_no_card"),
    "faq_identity_mismatch": Button("卡上的身份不对", "faq_identity_mismatch"),
    "faq_claim_entry": Button("领卡入口在哪里", "faq_claim_entry"),
    "faq_view_card": Button("领卡后在哪里查看", "faq_view_card"),
    "faq_claim_period": Button("什么时候可以领", "faq_claim_period"),
    "faq_what_is_account": Button("学习号是什么", "faq_what_is_account"),
    "faq_fee": Button("领卡收费吗", "faq_fee"),
    "faq_face_recognition": Button("人脸识别要开通吗", "faq_face_recognition"),
    "faq_contact_support": HOTLINE,
    "faq_official": Button("学习号是官方的吗", "faq_official"),
    "faq_school_feedback": Button("学校遇到问题找谁", "faq_school_feedback"),
    "request_human": HUMAN,
}
