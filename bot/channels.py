"""The REST channel, answering every message.

Open-source Rasa's REST channel answers an empty list when a turn produced
no message, e.g. when the action server is down (RasaHQ/rasa#7630). This
subclass keeps the contract's URL (`/webhooks/rest/webhook`, name "rest")
and the metadata handling, and adds an apology with the hotline whenever a
turn would otherwise end in silence.
"""
from __future__ import annotations

from typing import Any, Awaitable, Callable, Text

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint

from bot import gc_freeze, http_client, jsonschema_cache, nlu_cache
from identity.logfilter import guard_process_logging

# Loaded when the Rasa server starts: from here on no full ID number reaches
# its logs (Rasa logs message texts on some errors).
guard_process_logging()
jsonschema_cache.install()  # half of Rasa's CPU a turn went to re-checking a schema
nlu_cache.install()  # the same text always parses the same way (bot/nlu_cache.py)
http_client.install()  # kept-alive connections to the action server, JSON by orjson

SILENCE_APOLOGY = "抱歉，系统暂时没有回复您，请稍后再试。如需帮助，可拨打客服电话 0791-88185066。"


class ReplyingRestInput(RestInput):
    @classmethod
    def name(cls) -> Text:
        return "rest"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        async def answered(message: UserMessage) -> None:
            output = message.output_channel
            collected = output if isinstance(output, CollectingOutputChannel) else None
            before = len(collected.messages) if collected is not None else 0
            try:
                await on_new_message(message)
            finally:
                if collected is not None and len(collected.messages) == before:
                    await collected.send_text_message(message.sender_id, SILENCE_APOLOGY)

        blueprint = super().blueprint(answered)
        blueprint.after_server_start(gc_freeze.freeze_after_start)  # the model is loaded by then
        blueprint.after_server_stop(http_client.close_sessions)
        return blueprint
