"""Our patches of Rasa internals, installed from one place: `install()`.

Each patch replaces or wraps a function of Rasa 3.6 (or of a library it
calls) that a profile of the Rasa server under chat load found costly
(bench/README.md "Chat load"). They lean on internals that Rasa may change
in any release, so they are installed only on the series they were written
and tested for (`SUPPORTED_SERIES`, checked against `rasa.__version__` at
run time): on any other version `install()` logs a warning naming each
patch it skips and leaves Rasa as it is; the bot then works as before,
only slower. A patch module is imported only once the version is known to
fit, so none can fail at import on a Rasa it does not know.

`python -m bot` (bot/__main__.py) calls `install()` before it hands over to
Rasa's command line, whichever channel the server then serves.
"""

from __future__ import annotations

import importlib
import logging
from typing import NamedTuple

log = logging.getLogger(__name__)

SUPPORTED_SERIES = "3.6"


class Patch(NamedTuple):
    name: str  # the module in bot/patches/, with an `install()`
    what: str  # what the server loses without it


PATCHES = (
    Patch("jsonschema_cache", "action responses validated by a cached, compiled schema"),
    Patch("nlu_cache", "parses of repeated texts kept"),
    Patch("http_client", "kept-alive connections to the action server, JSON encoded by orjson"),
    Patch("gc_freeze", "the loaded server frozen out of garbage collection"),
)


def supported(version: str) -> bool:
    """Whether `version` belongs to the series the patches are written for."""
    return version.split(".")[:2] == SUPPORTED_SERIES.split(".")


def install(version: str | None = None) -> list[str]:
    """Install every patch if Rasa (`version`, by default the installed
    one) is of the supported series; the names installed. Idempotent."""
    if version is None:
        import rasa

        version = str(rasa.__version__)
    if not supported(version):
        for patch in PATCHES:
            log.warning(
                f"Rasa {version} is not of the {SUPPORTED_SERIES}.x series the patches are written for: "
                f"patch bot.patches.{patch.name} skipped, the server runs without it ({patch.what})"
            )
        return []
    for patch in PATCHES:
        importlib.import_module(f"{__name__}.{patch.name}").install()
    log.info(f"Rasa {version}: patches installed: {', '.join(p.name for p in PATCHES)}")
    return [p.name for p in PATCHES]
