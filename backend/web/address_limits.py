"""Limits per client address on the public chat API (issue 13).

Anyone can post to /chat/api/: without these, one address could send
messages as fast as Rasa answers them, or open a new conversation (and a
转人工 ticket) per request. Sliding windows kept in memory, per backend
process (with BACKEND_WORKERS > 1 each worker counts its own share), for
at most MAX_KEYS addresses (the least recently seen are forgotten first).
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

MAX_KEYS = 100_000


@dataclass
class SlidingWindow:
    """At most `limit` events per `seconds` for each key."""

    limit: int
    seconds: float
    clock: Callable[[], float] = time.monotonic
    _seen: OrderedDict[str, deque[float]] = field(default_factory=OrderedDict)

    def allow(self, key: str) -> bool:
        """Counts the event and says whether it is within the limit (a
        refused event is not counted: waiting always helps)."""
        now = self.clock()
        times = self._seen.pop(key, None) or deque()
        while times and times[0] <= now - self.seconds:
            times.popleft()
        allowed = len(times) < self.limit
        if allowed:
            times.append(now)
        self._seen[key] = times
        while len(self._seen) > MAX_KEYS:
            self._seen.popitem(last=False)
        return allowed


@dataclass
class ChatLimits:
    """What one address may do on the chat API."""

    messages: SlidingWindow
    conversations: SlidingWindow
    _known: OrderedDict[tuple[str, str], None] = field(default_factory=OrderedDict)

    @classmethod
    def create(cls, messages_per_minute: int, conversations_per_hour: int) -> ChatLimits:
        return cls(SlidingWindow(messages_per_minute, 60.0), SlidingWindow(conversations_per_hour, 3600.0))

    def refusal(self, address: str, sender: str) -> str | None:
        """None when the message may go on, else which limit it hit."""
        if not self.messages.allow(address):
            return "messages"
        key = (address, sender)
        if key in self._known:
            self._known.move_to_end(key)
            return None
        if not self.conversations.allow(address):
            return "conversations"
        self._known[key] = None
        while len(self._known) > MAX_KEYS:
            self._known.popitem(last=False)
        return None
