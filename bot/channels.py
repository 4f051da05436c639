"""The REST channel, answering every message, and the trust boundary of
what a client sends.

Open-source Rasa's REST channel answers an empty list when a turn produced
no message, e.g. when the action server is down (RasaHQ/rasa#7630). This
subclass keeps the contract's URL (`/webhooks/rest/webhook`, name "rest"),
and adds an apology with the hotline whenever a turn would otherwise end in
silence.

Metadata: a client is anyone who reaches the port, so nothing it sends is
passed on as it came. The one key read is `realname_token`, verified here
(trust/realname.py) and replaced by `verified_realname` {"name",
"id_number"} (the number sealed, trust/sealing.py), the only identity the
actions trust; every other key
(an unsigned `realname` included) is dropped. The token itself is never
stored.

Loading this module (Rasa does, from credentials.yml, before it serves)
masks full ID numbers in every log record of the process and refuses a
production start with a development secret or an API without its token:
the trust boundary's duties, kept here so that they hold however the server
is started. The speed-ups patched into Rasa are not the channel's business:
`python -m bot` installs them (bot/__main__.py, bot/patches/).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint
from sanic.request import Request

from bot.channel_replies import (
    CONVERSATION_FULL,
    DEFAULT_MAX_CONVERSATION_MESSAGES,
    MAX_MESSAGE_CHARS,
    SILENCE_APOLOGY,
    TOO_LONG,
)
from bot.tracker_store import conversation_messages
from contract.metadata import REALNAME_TOKEN, VERIFIED_REALNAME
from identity.logfilter import guard_process_logging
from trust import realname, sealing, secrets

log = logging.getLogger(__name__)

# Loaded when the Rasa server starts: from here on no full ID number reaches
# its logs (Rasa logs message texts on some errors).
guard_process_logging()


def _refuse_unsafe_start() -> None:
    """Production: every secret set and not a development default, and this
    server started with its HTTP API behind the token (CONTRACT.md)."""
    secrets.refuse_development_secrets(service="the Rasa server")
    if secrets.production() and "--enable-api" in sys.argv and "--auth-token" not in sys.argv:
        raise secrets.SecretError(
            "ERROR: the Rasa server will not start: APP_ENV=production and its HTTP API "
            "has no --auth-token (devstack passes RASA_AUTH_TOKEN)"
        )


_refuse_unsafe_start()


class ReplyingRestInput(RestInput):
    @classmethod
    def name(cls) -> str:
        return "rest"

    def __init__(self) -> None:
        super().__init__()
        self._public_key: str | None = None
        self.max_conversation_messages = int(
            os.environ.get("CONVERSATION_MAX_MESSAGES") or DEFAULT_MAX_CONVERSATION_MESSAGES
        )

    def verifying_key(self) -> str:
        if self._public_key is None:
            self._public_key = realname.public_key(os.environ)
        return self._public_key

    def get_metadata(self, request: Request) -> dict[str, Any] | None:
        body = request.json if isinstance(request.json, dict) else {}
        sent = body.get("metadata")
        if not isinstance(sent, dict):
            return None
        token = sent.get(REALNAME_TOKEN)
        if token is None:
            return None
        sender = body.get("sender")
        verified = realname.verify(token, self.verifying_key(), sender=sender if isinstance(sender, str) else None)
        if verified is None:
            return None
        # The number sealed at once: the conversation never holds it in the clear.
        return {VERIFIED_REALNAME: {"name": verified.name, "id_number": sealing.seal(verified.id_number)}}

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        async def answered(message: UserMessage) -> None:
            output = message.output_channel
            collected = output if isinstance(output, CollectingOutputChannel) else None
            if isinstance(message.text, str) and len(message.text) > MAX_MESSAGE_CHARS:
                await output.send_text_message(message.sender_id, TOO_LONG)
                return
            if (conversation_messages(message.sender_id) or 0) >= self.max_conversation_messages:
                await output.send_text_message(message.sender_id, CONVERSATION_FULL)
                return
            before = len(collected.messages) if collected is not None else 0
            try:
                await on_new_message(message)
            finally:
                if collected is not None and len(collected.messages) == before:
                    await collected.send_text_message(message.sender_id, SILENCE_APOLOGY)

        return super().blueprint(answered)
