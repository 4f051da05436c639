"""Actions of the claim path: the questions whose wording depends on the
path, the confirmation of the collected details, and issuing the card
through the backend."""
from __future__ import annotations

from typing import Any, Optional

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.backend_client import BackendClient, BackendUnavailable, backend
from actions.messages import FAILURES, card_message
from identity import mask_id, mask_name

# Slots of the collected details, cleared when the user wants to change them.
DETAIL_SLOTS = ("person_name", "id_number", "guardian_name", "guardian_id_number", "face_verification",
                "details_confirmed")
ROLE_TITLES = {
    "k12_student": "中小学生/中职学生（本人领取）",
    "parent": "家长为孩子代领",
    "university_student": "大学生",
    "teacher": "教师",
    "public": "社会公众",
}


# Button menus are sent from actions: Rasa would try to fill the braces of
# '/choose_role{"role": ...}' payloads in domain responses as slots.
ROLE_BUTTONS = [
    {"title": "中小学生/中职学生", "payload": '/choose_role{"role": "k12_student"}'},
    {"title": "我是家长", "payload": '/choose_role{"role": "parent"}'},
    {"title": "大学生", "payload": '/choose_role{"role": "university_student"}'},
    {"title": "教师", "payload": '/choose_role{"role": "teacher"}'},
    {"title": "社会公众", "payload": '/choose_role{"role": "public"}'},
]


class AskQuestion:
    """A form question whose wording may depend on the path (a mixin, not an
    Action: the action server registers every Action subclass)."""

    action_name = ""
    texts: dict[Optional[str], str] = {}  # role -> wording; None: any other role
    buttons: Optional[list[dict[str, str]]] = None

    def name(self) -> str:
        return self.action_name

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        role = tracker.get_slot("role")
        dispatcher.utter_message(text=self.texts.get(role, self.texts[None]), buttons=self.buttons or [])
        return []


class ActionAskRole(AskQuestion, Action):
    action_name = "action_ask_role"
    texts = {None: "请选择您的领卡身份："}
    buttons = ROLE_BUTTONS


class ActionAskK12Claimant(AskQuestion, Action):
    action_name = "action_ask_k12_claimant"
    texts = {None: "是学生本人领取，还是家长代领？"}
    buttons = [{"title": "本人领取", "payload": '/inform{"k12_claimant": "self"}'},
               {"title": "家长代领", "payload": '/choose_role{"role": "parent"}'}]


class ActionAskGuardianName(AskQuestion, Action):
    action_name = "action_ask_guardian_name"
    texts = {None: "请输入您（家长）本人的姓名："}


class ActionAskGuardianIdNumber(AskQuestion, Action):
    action_name = "action_ask_guardian_id_number"
    texts = {None: "请输入您（家长）本人的18位身份证号："}


class ActionAskFaceVerification(AskQuestion, Action):
    action_name = "action_ask_face_verification"
    texts = {
        "parent": "是否为孩子的电子卡同时开通人脸识别验证？开通后，使用电子卡时可通过刷脸确认是本人；不开通也不影响领卡。",
        None: "是否同时开通人脸识别验证？开通后，使用电子卡时可通过刷脸确认是本人；不开通也不影响领卡。",
    }
    buttons = [{"title": "开通", "payload": "/affirm"}, {"title": "暂不开通", "payload": "/deny"}]


class ActionAskPersonName(AskQuestion, Action):
    action_name = "action_ask_person_name"
    texts = {"parent": "请输入孩子（领卡学生）的姓名：", None: "请输入您的姓名（与身份证一致）："}


class ActionAskIdNumber(AskQuestion, Action):
    action_name = "action_ask_id_number"
    texts = {"parent": "请输入孩子的18位身份证号：", None: "请输入您的18位身份证号："}


class ActionAskDetailsConfirmed(Action):
    """Shows the collected details, masked, and asks for confirmation."""

    def name(self) -> str:
        return "action_ask_details_confirmed"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        role = tracker.get_slot("role")
        lines = ["请确认以下信息：", f"领卡身份：{ROLE_TITLES.get(role, role)}"]
        if role == "parent":
            lines.append(f"家长：{mask_name(tracker.get_slot('guardian_name') or '')}"
                         f"（{mask_id(tracker.get_slot('guardian_id_number') or '')}）")
            lines.append(f"孩子：{mask_name(tracker.get_slot('person_name') or '')}"
                         f"（{mask_id(tracker.get_slot('id_number') or '')}）")
        else:
            lines.append(f"姓名：{mask_name(tracker.get_slot('person_name') or '')}")
            lines.append(f"身份证号：{mask_id(tracker.get_slot('id_number') or '')}")
        if role in ("k12_student", "parent"):
            lines.append("人脸识别验证：" + ("开通" if tracker.get_slot("face_verification") else "不开通"))
        dispatcher.utter_message(
            text="\n".join(lines),
            buttons=[{"title": "确认无误，领卡", "payload": "/affirm"}, {"title": "需要修改", "payload": "/deny"}],
        )
        return []


def claim_body(tracker: Tracker) -> dict[str, Any]:
    role = tracker.get_slot("role")
    body: dict[str, Any] = {
        "path": role,
        "name": tracker.get_slot("person_name"),
        "id_number": tracker.get_slot("id_number"),
        "channel_user": tracker.sender_id,
    }
    if role in ("k12_student", "parent"):
        body["face_verification"] = bool(tracker.get_slot("face_verification"))
    if role == "parent":
        body["guardian_name"] = tracker.get_slot("guardian_name")
        body["guardian_id_number"] = tracker.get_slot("guardian_id_number")
    return body


class ActionClaimCard(Action):
    """Issues the card once the details are confirmed; explains a failure in
    plain words and says what to do next."""

    client: BackendClient = backend

    def name(self) -> str:
        return "action_claim_card"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        if not tracker.get_slot("details_confirmed"):
            dispatcher.utter_message(text="好的，我们重新填写一下。")
            return [SlotSet(slot, None) for slot in DETAIL_SLOTS]
        try:
            reply = await self.client.claim(**claim_body(tracker))
        except BackendUnavailable:
            dispatcher.utter_message(text=FAILURES["backend_unavailable"])
            return [SlotSet("failure_reason", "backend_unavailable")]
        if reply.ok:
            dispatcher.utter_message(text=card_message(reply.body))
            return [SlotSet("card_number", reply.body["card"]["card_number"]), SlotSet("failure_reason", None)]
        code = reply.code or "identity_not_found"
        dispatcher.utter_message(text=FAILURES.get(code, FAILURES["identity_not_found"]))
        events: list[EventType] = [SlotSet("failure_reason", code if code in FAILURES else "identity_not_found")]
        if code in ("invalid_id_number", "identity_not_found", "guardian_mismatch"):
            # Let the user correct the details: confirm again after editing.
            events.append(SlotSet("details_confirmed", None))
        return events
