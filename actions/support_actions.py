"""Troubleshooting grounded in what happened to this user (their claim
attempts and card in the backend), hand-over to a human, cancelling, and
fallbacks."""
from __future__ import annotations

from typing import Any, Optional

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet, UserUtteranceReverted
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.backend_client import BackendClient, BackendUnavailable, backend
from actions.claim_actions import DETAIL_SLOTS, ActionClaimCard
from actions.messages import FAILURES, HOTLINE, IDENTITY_LABELS, card_message, labels

START_CLAIM = {"title": "开始领卡", "payload": "/claim_card"}
HUMAN = {"title": "转人工", "payload": "/request_human"}

GENERAL_CLAIM_FAILED = (
    "“领取失败”可能有以下原因：\n"
    "（1）网络异常，此时领卡人数较多，您可以选择网络较好的区域或稍后再试；\n"
    "（2）身份信息填写错误，请再次确认填写的姓名、身份证号是否正确。"
)
GENERAL_CHILD = (
    "不能帮孩子领卡，通常有两个原因：\n"
    "（1）您已经帮三个孩子领过电子卡，目前每位家长最多代领三张；\n"
    "（2）孩子在学籍系统中的监护人信息不是您、信息有误，或尚未填写监护人信息。这种情况需要联系孩子所在学校修改或完善。"
)


class BackendLookups:
    """Mixin of the actions that consult the backend (not an Action itself:
    the action server registers every Action subclass)."""

    client: BackendClient = backend

    async def latest_failure(self, tracker: Tracker) -> Optional[dict[str, Any]]:
        """This user's latest failed claim attempt, if the latest attempt failed."""
        reply = await self.client.attempts(tracker.sender_id, limit=5)
        attempts = [a for a in reply.body.get("attempts", []) if a.get("action") == "claim"]
        if attempts and not attempts[0]["success"]:
            return attempts[0]
        return None


class ActionFaqClaimFailed(BackendLookups, Action):
    def name(self) -> str:
        return "action_faq_claim_failed"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        try:
            failure = await self.latest_failure(tracker)
        except BackendUnavailable:
            failure = None
        if failure and failure.get("failure_code") in FAILURES:
            dispatcher.utter_message(
                text=f"查到您最近一次领卡（{failure['name_masked']}，{failure['id_masked']}）没有成功，原因是：\n"
                     + FAILURES[failure["failure_code"]],
                buttons=[{"title": "重新领卡", "payload": "/claim_card"}, HUMAN],
            )
            return [SlotSet("failure_reason", failure["failure_code"])]
        dispatcher.utter_message(text=GENERAL_CLAIM_FAILED + "\n需要的话，我现在就可以帮您领卡。", buttons=[START_CLAIM])
        return []


class ActionFaqCannotClaimForChild(BackendLookups, Action):
    def name(self) -> str:
        return "action_faq_cannot_claim_for_child"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        try:
            failure = await self.latest_failure(tracker)
            code = failure.get("failure_code") if failure and failure.get("path") == "parent" else None
            guardian_id = tracker.get_slot("guardian_id_number")
            if code == "proxy_limit_reached" and guardian_id:
                listing = (await self.client.proxy_claims(guardian_id)).body
                children = "、".join(f"{c['name_masked']}（{c['id_masked']}）" for c in listing.get("children", []))
                dispatcher.utter_message(
                    text=f"您已经为 {listing.get('count', 3)} 个孩子代领了电子卡：{children}。"
                         "目前每位家长最多代领三张，暂时不能再代领。孩子也可以用本人身份领卡。"
                )
                return [SlotSet("failure_reason", code)]
            if code in ("proxy_limit_reached", "guardian_mismatch"):
                dispatcher.utter_message(text=FAILURES[code])
                return [SlotSet("failure_reason", code)]
        except BackendUnavailable:
            pass
        dispatcher.utter_message(text=GENERAL_CHILD)
        return []


class ActionFaqVerifiedNoCard(BackendLookups, Action):
    """验证成功但没领到卡: find the card; if the claim did not complete,
    complete it now (claims are idempotent)."""

    def name(self) -> str:
        return "action_faq_verified_no_card"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        name, id_number = tracker.get_slot("person_name"), tracker.get_slot("id_number")
        if not (name and id_number):
            dispatcher.utter_message(
                text="可能是网络原因，跳转时没有完成领卡，需要辛苦您重新领取一次（已领过的卡不会重复发放）。",
                buttons=[{"title": "重新领卡", "payload": "/claim_card"}],
            )
            return []
        try:
            reply = await self.client.card(id_number, name)
        except BackendUnavailable:
            dispatcher.utter_message(text=FAILURES["backend_unavailable"])
            return [SlotSet("failure_reason", "backend_unavailable")]
        if reply.ok:
            dispatcher.utter_message(text=card_message({"status": "existing", **reply.body}))
            return [SlotSet("card_number", reply.body["card"]["card_number"])]
        if tracker.get_slot("role") and tracker.get_slot("details_confirmed"):
            dispatcher.utter_message(text="没有查到已发放的卡，上次领卡没有完成。我现在为您重新提交：")
            action = ActionClaimCard()
            action.client = self.client
            return await action.run(dispatcher, tracker, domain)
        dispatcher.utter_message(text="没有查到已发放的卡，可能上次没有完成领卡，需要辛苦您重新领取一次。",
                                 buttons=[{"title": "重新领卡", "payload": "/claim_card"}])
        return []


class ActionRefreshIdentity(BackendLookups, Action):
    """身份与实际不符 / 更新身份: re-check the registries now."""

    def name(self) -> str:
        return "action_refresh_identity"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        name, id_number = tracker.get_slot("person_name"), tracker.get_slot("id_number")
        school = ("如果学籍库（学生）或教师管理系统（教师）中的信息本身有误，需要联系您所在的学校核对修改，"
                  "修改后可在小程序个人中心-个人身份-更新身份。")
        if not (name and id_number):
            dispatcher.utter_message(text="您可以在小程序的个人中心-个人身份-更新身份。" + school)
            return []
        try:
            reply = await self.client.refresh(name, id_number, tracker.sender_id)
        except BackendUnavailable:
            dispatcher.utter_message(text=FAILURES["backend_unavailable"])
            return [SlotSet("failure_reason", "backend_unavailable")]
        if not reply.ok:
            dispatcher.utter_message(text="没有查到可以更新的电子卡。" + school)
            return []
        before, after = reply.body.get("previous_identities", []), reply.body["identities"]
        change = ("身份没有变化" if before == after else
                  f"身份已从“{labels(before, IDENTITY_LABELS)}”更新为“{labels(after, IDENTITY_LABELS)}”")
        dispatcher.utter_message(text=f"已重新比对学籍库和教师库：{change}。\n" + school)
        return []


class ActionFaqIdentityMismatch(Action):
    def name(self) -> str:
        return "action_faq_identity_mismatch"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        dispatcher.utter_message(
            text="领卡后身份与实际不符，可以在个人中心-个人身份-更新身份；我也可以现在帮您重新比对学籍库和教师库。"
                 "如果仍有问题，需要联系您所在学校，查询您在学籍系统（学生）或教师管理系统（教师）中的信息是否正常。",
            buttons=[{"title": "现在重新核对身份", "payload": "/refresh_identity"}],
        )
        return []


class ActionHandoff(BackendLookups, Action):
    """转人工: a support ticket linked to this conversation."""

    def name(self) -> str:
        return "action_handoff"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        summary = f"role={tracker.get_slot('role')} failure={tracker.get_slot('failure_reason')}"
        try:
            reply = await self.client.post("/tickets", {"channel_user": tracker.sender_id, "summary": summary})
            number = reply.body.get("ticket_number")
        except BackendUnavailable:
            number = None
        if number:
            dispatcher.utter_message(
                text=f"已为您转接人工客服，工单号 {number}，客服会在这里回复您。"
                     f"您也可以拨打客服电话 {HOTLINE}，或在小程序首页顶部点击【...】选择“客服”。"
            )
        else:
            dispatcher.utter_message(text=f"人工客服暂时无法接入，请拨打客服电话 {HOTLINE}，"
                                          "或在小程序首页顶部点击【...】选择“客服”。")
        return []


class ActionStartClaim(Action):
    """Before the form: a new claim after a finished one starts afresh; a
    retry after `backend_unavailable` keeps the collected details."""

    def name(self) -> str:
        return "action_start_claim"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        if tracker.get_slot("failure_reason") == "backend_unavailable":
            return []
        if tracker.get_slot("card_number") or tracker.get_slot("failure_reason"):
            return [SlotSet(s, None) for s in (*DETAIL_SLOTS, "card_number", "failure_reason", "wrong_answers")]
        return []


class ActionAskCancel(Action):
    def name(self) -> str:
        return "action_ask_cancel"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        dispatcher.utter_message(
            text="确定不领卡了吗？已填写的信息将不会保存。",
            buttons=[{"title": "确定，不领了", "payload": "/affirm"}, {"title": "继续领卡", "payload": "/deny"}],
        )
        return [SlotSet("pending_cancel", True)]


class ActionCancelClaim(Action):
    def name(self) -> str:
        return "action_cancel_claim"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        dispatcher.utter_message(text="好的，已取消本次领卡。需要时随时对我说“我要领卡”。")
        return [SlotSet(s, None) for s in ("role", "k12_claimant", *DETAIL_SLOTS, "wrong_answers", "requested_slot")] + [
            SlotSet("pending_cancel", False)]


class ActionResumeClaim(Action):
    def name(self) -> str:
        return "action_resume_claim"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        dispatcher.utter_message(text="好的，我们继续。")
        return [SlotSet("pending_cancel", False)]


class ActionFallback(Action):
    """Not understood: say so; the second time in a row, offer a human."""

    def name(self) -> str:
        return "action_fallback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        intents = [e.get("parse_data", {}).get("intent", {}).get("name")
                   for e in tracker.events if e.get("event") == "user"][-2:]
        text = (tracker.latest_message.get("text") or "").strip()
        if not text:
            dispatcher.utter_message(text="没有收到内容哦。您可以说“我要领卡”，或者直接问我领卡遇到的问题。", buttons=[START_CLAIM])
        elif len(intents) == 2 and all(i in ("nlu_fallback", "out_of_scope") for i in intents):
            dispatcher.utter_message(
                text=f"抱歉，我还是没能理解。需要的话可以转人工客服，或拨打客服电话 {HOTLINE}。",
                buttons=[HUMAN, START_CLAIM],
            )
        else:
            dispatcher.utter_message(
                text="抱歉，我没有理解您的意思。我可以帮您领取学习号电子卡，或解答领卡失败、查看电子卡等问题。",
                buttons=[START_CLAIM],
            )
        return []


class ActionAffirm(Action):
    """A "yes" outside a claim: after `backend_unavailable` it means "retry"
    (the details were kept); otherwise there is nothing pending."""

    def name(self) -> str:
        return "action_affirm"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        if tracker.get_slot("failure_reason") == "backend_unavailable" and tracker.get_slot("details_confirmed"):
            return await ActionClaimCard().run(dispatcher, tracker, domain)
        dispatcher.utter_message(response="utter_anything_else")
        return []


class ActionCoreFallback(Action):
    """When no policy knows the next step: say so and forget the message,
    so the conversation goes on where it was (what Rasa's default does)."""

    def name(self) -> str:
        return "action_core_fallback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        dispatcher.utter_message(
            text="抱歉，我没有理解您的意思。您可以说“我要领卡”，或者直接问我领卡中遇到的问题；需要人工帮助请说“转人工”。",
            buttons=[START_CLAIM, HUMAN],
        )
        return [UserUtteranceReverted()]
