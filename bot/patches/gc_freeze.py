"""Keep the Rasa server's start-up objects out of Python's garbage collector.

Once the model is loaded the Rasa server holds millions of long-lived
objects (TensorFlow, the graph, the domain). Each full collection of
Python's garbage collector walks all of them: measured under chat load (40
messages/s), full collections paused the server's event loop for up to
0.46 s, every message waiting meanwhile. `gc.freeze()` moves every object
alive at that moment to a permanent generation the collector no longer
walks; objects made later (conversations, messages) are collected as
before. `install()` has it run when the server has started, that is after
Rasa loaded the model (bot/patches/server_listeners.py).
"""

from __future__ import annotations

import gc
import logging
from typing import Any

from bot.patches import server_listeners

logger = logging.getLogger(__name__)


def freeze() -> int:
    """Collect what is garbage now, freeze the rest; the objects frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


async def freeze_after_start(*_: Any) -> None:
    """A Sanic `after_server_start` listener."""
    logger.info(f"{freeze()} objects of the loaded server frozen out of garbage collection")


def install() -> None:
    """Idempotent."""
    server_listeners.register(freeze_after_start, "after_server_start")  # the model is loaded by then
