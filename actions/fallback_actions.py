"""Cancelling a claim (asked first, "继续" read as going on), resuming it,
and the fallbacks: a message not understood, a "yes" with nothing pending,
no policy knowing the next step."""

from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet, UserUtteranceReverted
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.claim_actions import DETAIL_SLOTS, ActionClaimCard
from actions.claim_form import GO_ON
from actions.support_actions import FORM, HUMAN, START_CLAIM
from contract.buttons import ASK_BUTTONS, CANCEL_NO, CANCEL_YES, buttons
from contract.buttons import HUMAN as HUMAN_BUTTON

SMALL_TALK = {"greet": "utter_greet", "thank": "utter_thank", "goodbye": "utter_goodbye"}


class ActionAskCancel(Action):
    def name(self) -> str:
        return "action_ask_cancel"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        dispatcher.utter_message(response="utter_confirm_cancel", buttons=buttons(CANCEL_YES, CANCEL_NO))
        return [SlotSet("pending_cancel", True)]


class ActionCancelClaim(Action):
    def name(self) -> str:
        return "action_cancel_claim"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        if GO_ON.match((tracker.latest_message.get("text") or "").strip()):
            # "继续" to "确定不领了吗？", read as a yes by the model: it means
            # go on (the rule has stopped the form: it starts again, the
            # details kept).
            dispatcher.utter_message(response="utter_claim_goes_on")
            return [SlotSet("pending_cancel", False), FollowupAction(FORM)]
        dispatcher.utter_message(response="utter_claim_cancelled")
        return [
            SlotSet(s, None) for s in ("role", "k12_claimant", *DETAIL_SLOTS, "wrong_answers", "requested_slot")
        ] + [SlotSet("pending_cancel", False)]


class ActionResumeClaim(Action):
    def name(self) -> str:
        return "action_resume_claim"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        dispatcher.utter_message(response="utter_go_on")
        return [SlotSet("pending_cancel", False)]


class ActionFallback(Action):
    """Not understood: offer the likeliest meanings as buttons (typed, their
    titles work too); the second time in a row, offer a human."""

    def name(self) -> str:
        return "action_fallback"

    @staticmethod
    def likely(tracker: Tracker) -> list[dict[str, str]]:
        ranking = tracker.latest_message.get("intent_ranking") or []
        found = [
            ASK_BUTTONS[r["name"]] for r in ranking if r.get("name") in ASK_BUTTONS and r.get("name") != "request_human"
        ][:3]
        return buttons(*found, HUMAN_BUTTON) if found else [START_CLAIM, HUMAN]

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        intents = [
            e.get("parse_data", {}).get("intent", {}).get("name") for e in tracker.events if e.get("event") == "user"
        ][-2:]
        text = (tracker.latest_message.get("text") or "").strip()
        if tracker.get_slot("pending_cancel"):
            # "确定不领了吗？" answered with something unclear ("继续"): not a
            # yes, so nothing is cancelled; the claim goes on.
            dispatcher.utter_message(response="utter_claim_goes_on")
            return [SlotSet("pending_cancel", False)]
        ranked = [
            r.get("name") for r in tracker.latest_message.get("intent_ranking") or [] if r.get("name") != "nlu_fallback"
        ][:2]
        if text and len(ranked) == 2 and set(ranked) <= set(SMALL_TALK):
            # Unsure only between pleasantries ("谢谢，再见"): answer both.
            for intent in ranked:
                dispatcher.utter_message(response=SMALL_TALK[intent])
            return []
        if not text:
            dispatcher.utter_message(response="utter_empty_message", buttons=[START_CLAIM])
        elif len(intents) == 2 and all(i in ("nlu_fallback", "out_of_scope") for i in intents):
            dispatcher.utter_message(response="utter_still_not_understood", buttons=[HUMAN, START_CLAIM])
        elif (tracker.latest_message.get("intent") or {}).get("name") == "out_of_scope":
            dispatcher.utter_message(response="utter_out_of_scope", buttons=[START_CLAIM, HUMAN])
        else:
            dispatcher.utter_message(response="utter_which_did_you_mean", buttons=self.likely(tracker))
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
        if tracker.get_slot("pending_cancel") and tracker.active_loop_name == FORM:
            # "确定不领了吗？" answered with what no rule takes ("不是，继续领"
            # read as `inform`, a name): Rasa's form does not read the first
            # message after an interruption, and rejects it. Not a yes, so
            # nothing is cancelled: the claim goes on, its question asked again.
            dispatcher.utter_message(response="utter_claim_goes_on")
            return [SlotSet("pending_cancel", False), FollowupAction(FORM)]
        dispatcher.utter_message(response="utter_not_understood", buttons=[START_CLAIM, HUMAN])
        return [UserUtteranceReverted()]
