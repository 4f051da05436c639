"""Listeners every Rasa server runs, whichever channels it serves.

Rasa 3.6 builds its Sanic app in `rasa.core.run.configure_app` (called by
`rasa run`, `rasa shell` and interactive training), then adds its own
listeners (loading the model before the server starts). `register()` wraps
`configure_app` once so that every app it builds also gets the listeners
registered here: a patch that needs the running server (bot/patches/
gc_freeze.py after the start, bot/patches/http_client.py after the stop)
no longer depends on a channel adding them to its blueprint.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

_MARK = "_xuexihao_server_listeners"
LISTENERS: list[tuple[Callable[..., Any], str]] = []


def register(listener: Callable[..., Any], event: str) -> None:
    """Run `listener` on `event` (a Sanic listener event such as
    "after_server_start") in every app Rasa builds from now on. Idempotent."""
    from rasa.core import run  # the server's module: imported when a patch is installed, not before

    if (listener, event) not in LISTENERS:
        LISTENERS.append((listener, event))
    original = run.configure_app
    if getattr(original, _MARK, False):
        return

    @functools.wraps(original)
    def configure_app(*args: Any, **kwargs: Any) -> Any:
        app = original(*args, **kwargs)
        for found, on in LISTENERS:
            app.register_listener(found, on)
        return app

    setattr(configure_app, _MARK, True)
    run.configure_app = configure_app
