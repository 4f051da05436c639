"""Troubleshooting grounded in what happened to this user (their claim
attempts and card in the backend), hand-over to a human, the next child's
claim, and "再说一遍". Cancelling and the fallbacks: actions/fallback_actions.py."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.backend_client import BackendClient, BackendUnavailable, backend
from actions.claim_actions import DETAIL_SLOTS, ActionClaimCard, claim_body, show_card
from actions.claim_form import children_claimed, limit_reached
from actions.failures import next_steps
from actions.messages import FAILURES, IDENTITY_LABELS, LATEST_FAILURES, labels
from contract.buttons import (
    CHILD_CLAIMS_SELF,
    CLAIM_AGAIN,
    I_AM_GUARDIAN,
    REFRESH_IDENTITY,
    SCHOOL_FIX,
    WHAT_NOW,
    buttons,
)
from contract.buttons import HUMAN as HUMAN_BUTTON
from contract.buttons import START_CLAIM as START_BUTTON
from contract.failures import REGISTRY_FAILURES
from identity import mask_id, mask_name

START_CLAIM = START_BUTTON.as_dict()
HUMAN = HUMAN_BUTTON.as_dict()
FORM = "claim_form"
# What a new claim for another child clears (the parent's details stay).
CHILD_SLOTS = (
    "person_name",
    "id_number",
    "face_verification",
    "details_confirmed",
    "card_number",
    "failure_reason",
    "wrong_answers",
    "k12_claimant",
    "change_menu",
)


class BackendLookups:
    """Mixin of the actions that consult the backend (not an Action itself:
    the action server registers every Action subclass)."""

    client: BackendClient = backend

    async def latest_failure(self, tracker: Tracker) -> dict[str, Any] | None:
        """This user's latest failed claim attempt, if the latest attempt failed."""
        reply = await self.client.attempts(tracker.sender_id, limit=5)
        attempts: list[dict[str, Any]] = [a for a in reply.body.get("attempts", []) if a.get("action") == "claim"]
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
        if failure and failure.get("failure_code") in LATEST_FAILURES:
            dispatcher.utter_message(
                response=LATEST_FAILURES[failure["failure_code"]],
                name_masked=failure["name_masked"],
                id_masked=failure["id_masked"],
                buttons=buttons(*next_steps(failure["failure_code"], failure.get("path"))),
            )
            return [SlotSet("failure_reason", failure["failure_code"])]
        dispatcher.utter_message(response="utter_claim_failed_general", buttons=[START_CLAIM])
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
                children = children_claimed(listing)
                dispatcher.utter_message(
                    response="utter_children_claimed",
                    count=listing.get("count", 3),
                    children=children,
                    buttons=buttons(CHILD_CLAIMS_SELF, HUMAN_BUTTON),
                )
                return [SlotSet("failure_reason", code)]
            if code in ("proxy_limit_reached", "guardian_mismatch"):
                dispatcher.utter_message(response=FAILURES[code], buttons=buttons(*next_steps(code, "parent")))
                return [SlotSet("failure_reason", code)]
        except BackendUnavailable:
            pass
        dispatcher.utter_message(response="utter_cannot_claim_for_child", buttons=buttons(START_BUTTON, HUMAN_BUTTON))
        return []


class ActionFaqVerifiedNoCard(BackendLookups, Action):
    """验证成功但没领到卡: look for the card with this chat's details (a
    look-up is a check like a claim: rate limited, logged, and the card shown
    only to its holder); if the claim did not complete, complete it now
    (claims are idempotent)."""

    def name(self) -> str:
        return "action_faq_verified_no_card"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        role = tracker.get_slot("role")
        if not (role and tracker.get_slot("person_name") and tracker.get_slot("id_number")):
            dispatcher.utter_message(response="utter_claim_not_completed", buttons=buttons(CLAIM_AGAIN))
            return []
        try:
            reply = await self.client.match(**claim_body(tracker))
        except BackendUnavailable:
            dispatcher.utter_message(response=FAILURES["backend_unavailable"])
            return [SlotSet("failure_reason", "backend_unavailable")]
        if reply.ok and reply.body.get("card"):
            show_card(dispatcher, {**reply.body, "status": "existing"})
            return [SlotSet("card_number", reply.body["card"]["card_number"])]
        if reply.ok and tracker.get_slot("details_confirmed"):
            dispatcher.utter_message(response="utter_resubmitting")
            action = ActionClaimCard()
            action.client = self.client
            return await action.run(dispatcher, tracker, domain)
        if not reply.ok and reply.code in FAILURES:
            dispatcher.utter_message(response=FAILURES[reply.code], buttons=buttons(*next_steps(reply.code, role)))
            return [SlotSet("failure_reason", reply.code)]
        dispatcher.utter_message(response="utter_no_card_found", buttons=buttons(CLAIM_AGAIN))
        return []


class ActionRefreshIdentity(BackendLookups, Action):
    """身份与实际不符 / 更新身份: re-check the registries now."""

    def name(self) -> str:
        return "action_refresh_identity"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        name, id_number = tracker.get_slot("person_name"), tracker.get_slot("id_number")
        if not (name and id_number):
            dispatcher.utter_message(response="utter_refresh_identity_where")
            return []
        try:
            reply = await self.client.refresh(name, id_number, tracker.sender_id)
        except BackendUnavailable:
            dispatcher.utter_message(response=FAILURES["backend_unavailable"])
            return [SlotSet("failure_reason", "backend_unavailable")]
        if not reply.ok:
            dispatcher.utter_message(response="utter_refresh_no_card")
            return []
        before, after = reply.body.get("previous_identities", []), reply.body["identities"]
        if before == after:
            dispatcher.utter_message(response="utter_identity_unchanged")
        else:
            dispatcher.utter_message(
                response="utter_identity_updated",
                before=labels(before, IDENTITY_LABELS),
                after=labels(after, IDENTITY_LABELS),
            )
        return []


class ActionFaqIdentityMismatch(Action):
    def name(self) -> str:
        return "action_faq_identity_mismatch"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        dispatcher.utter_message(
            response="utter_faq_identity_mismatch", buttons=buttons(REFRESH_IDENTITY, HUMAN_BUTTON)
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
            dispatcher.utter_message(response="utter_handoff", ticket_number=number)
        else:
            dispatcher.utter_message(response="utter_handoff_unavailable")
        return []


class ActionStartClaim(Action):
    """Before the form. A retry after `backend_unavailable` keeps the
    details; so does a fix after a failure ("修改身份证号", "让孩子本人
    领取"); a new claim after a card or a failure starts afresh; a claim
    left mid-way (再见, 转人工) goes on where it stopped."""

    client: BackendClient = backend

    def name(self) -> str:
        return "action_start_claim"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        failure, card = tracker.get_slot("failure_reason"), tracker.get_slot("card_number")
        if failure == "backend_unavailable" and not card:
            return []
        if (
            not card
            and (failure is None or failure in REGISTRY_FAILURES)
            and await self._corrected(dispatcher, tracker)
        ):
            # The school corrected the record since this chat's claim failed:
            # the same details, confirmed again, claim now.
            return [SlotSet("failure_reason", None), SlotSet("details_confirmed", None)] if failure else []
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        fixing = intent in ("correct", "inform", "choose_role")
        if card or (failure and not fixing):
            return [
                SlotSet(s, None)
                for s in (*DETAIL_SLOTS, "card_number", "failure_reason", "wrong_answers", "change_menu")
            ]
        if failure:
            return [SlotSet("failure_reason", None), SlotSet("details_confirmed", None)]
        if intent == "claim_card" and any(tracker.get_slot(s) for s in ("person_name", "guardian_name", "id_number")):
            dispatcher.utter_message(response="utter_claim_resumed")
        return []

    async def _corrected(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> bool:
        """Says so when a registry import corrected the record of a claim
        this chat failed on the registry (backend/campaign/fixes.py)."""
        try:
            reply = await self.client.corrected_records(tracker.sender_id)
        except BackendUnavailable:
            return False
        corrected = reply.body.get("corrected") if reply.ok else None
        if not corrected or not isinstance(corrected, list):
            return False
        names = "、".join(str(c.get("name_masked") or "") for c in corrected if isinstance(c, dict))
        dispatcher.utter_message(response="utter_record_corrected", student=names or "您")
        return True


class ActionNextChild(Action):
    """ "还有一个孩子": the next child's claim, with the parent's details
    kept; the three-child limit explained before a fourth is tried."""

    client: BackendClient = backend

    def name(self) -> str:
        return "action_next_child"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        if tracker.active_loop_name == FORM:
            dispatcher.utter_message(response="utter_next_child_mid_claim")
            return []
        name, guardian_id = tracker.get_slot("guardian_name"), tracker.get_slot("guardian_id_number")
        clear = [SlotSet(s, None) for s in CHILD_SLOTS]
        if tracker.get_slot("role") != "parent" or not (name and guardian_id):
            dispatcher.utter_message(response="utter_claim_for_a_child")
            return [*clear, SlotSet("role", "parent"), FollowupAction(FORM)]
        try:
            listing = (await self.client.proxy_claims(guardian_id)).body
        except BackendUnavailable:
            listing = {}
        if limit_reached(listing):
            children = children_claimed(listing)
            dispatcher.utter_message(
                response="utter_proxy_limit_reached_listed",
                children=children,
                buttons=buttons(CHILD_CLAIMS_SELF, HUMAN_BUTTON),
            )
            return [*clear, SlotSet("role", None)]
        dispatcher.utter_message(
            response="utter_next_child", guardian=mask_name(name), guardian_id=mask_id(guardian_id)
        )
        return [*clear, FollowupAction(FORM)]


class ActionFailureFollowup(Action):
    """ "为什么" / "那怎么办" / "需要学校改什么" after a failure, answered from
    that failure (utter_failure_* in domain.yml, one variation a code)."""

    def name(self) -> str:
        return "action_failure_followup"

    @staticmethod
    def asks(tracker: Tracker) -> str:
        for e in tracker.latest_message.get("entities") or []:
            if e.get("entity") == "followup" and e.get("value") in ("why", "what_now", "school"):
                return str(e["value"])
        text = tracker.latest_message.get("text") or ""
        if "学校" in text:
            return "school"
        if any(w in text for w in ("怎么办", "咋办", "怎么弄", "咋弄", "怎么处理", "咋整", "怎么搞", "该怎么")):
            return "what_now"
        return "why"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        code, role = tracker.get_slot("failure_reason"), tracker.get_slot("role")
        if code is None:
            # Nothing failed in this chat: what the manual says about failures.
            action = ActionFaqClaimFailed()
            return await action.run(dispatcher, tracker, domain)
        asks = self.asks(tracker)
        steps = next_steps(code, role)
        if asks == "why":
            dispatcher.utter_message(response="utter_failure_why", buttons=buttons(WHAT_NOW, HUMAN_BUTTON))
        elif asks == "school":
            dispatcher.utter_message(
                response="utter_failure_school", buttons=buttons(*[b for b in steps if b != SCHOOL_FIX])
            )
        else:
            dispatcher.utter_message(response="utter_failure_what_now", buttons=buttons(*steps))
        return []


class ActionRelativeClaim(Action):
    """A grandparent or another relative who is not the recorded guardian."""

    def name(self) -> str:
        return "action_relative_claim"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        dispatcher.utter_message(
            response="utter_relative_claim", buttons=buttons(I_AM_GUARDIAN, CHILD_CLAIMS_SELF, HUMAN_BUTTON)
        )
        return []


class ActionRepeat(Action):
    """ "再说一遍": the bot's previous turn again."""

    def name(self) -> str:
        return "action_repeat"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        turns: list[list[dict[str, Any]]] = [[]]
        for event in (
            tracker.events[:-1] if tracker.events and tracker.events[-1].get("event") == "user" else tracker.events
        ):
            if event.get("event") == "user":
                turns.append([])
            elif event.get("event") == "bot":
                turns[-1].append(event)
        # The last turn with something said, before this message.
        said: list[dict[str, Any]] = next((t for t in reversed(turns) if t), [])
        if tracker.active_loop_name == FORM and said:
            said = said[:-1]  # the form's question: the form asks it again itself
            if not said:
                return []
        if not said:
            dispatcher.utter_message(response="utter_nothing_to_repeat", buttons=buttons(START_BUTTON))
            return []
        for event in said:
            # Said again as it was said: the text Rasa rendered then (its
            # response's variation and values are not in the event).
            data = event.get("data") or {}
            dispatcher.utter_message(text=event.get("text"), buttons=data.get("buttons") or [])
        return []


class ActionDontKnow(Action):
    """ "不知道孩子身份证号": where to find it; the claim waits."""

    def name(self) -> str:
        return "action_dont_know"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        dispatcher.utter_message(response="utter_dont_know", buttons=buttons(HUMAN_BUTTON))
        return []
