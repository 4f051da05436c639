"""bot/patches/: installed from one place (`python -m bot`, bot/__main__.py),
on the Rasa series they are written for only. Run in the Rasa environment
(.venv-rasa), on the real Rasa 3.6: installed there, every patch in place
and the server's listeners registered on the app Rasa builds; on a Rasa
that claims another version, each patch skipped with a warning naming it,
Rasa left as it was and its command line still working."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.rasa_cli import MODEL, NO_MODEL, RASA_PY, ROOT, rasa_env

pytestmark = pytest.mark.rasa  # needs the Rasa engine environment

PATCHES = ["jsonschema_cache", "nlu_cache", "http_client", "gc_freeze"]

# Prints, as JSON: what install() returned, which Rasa functions it replaced,
# the listeners of an app built by rasa.core.run.configure_app, the
# warnings logged and the patch modules imported. FAKE: a version to claim.
PROBE = """
import json, logging, sys
import jsonschema, rasa, sanic
from rasa.core import run
from rasa.core.processor import MessageProcessor
from rasa.utils.endpoints import EndpointConfig

FAKE = {fake!r}
warnings = []

class Keep(logging.Handler):
    def emit(self, record):
        if record.levelno >= logging.WARNING:
            warnings.append(record.getMessage())

logging.getLogger("bot.patches").addHandler(Keep())
listeners = {{}}
register_listener = sanic.Sanic.register_listener

def recording(app, listener, event):  # Sanic 21.12 keeps server listeners as signals: seen here
    name = getattr(listener, "__name__", None)
    listeners.setdefault(event, []).append(f"{{listener.__module__}}.{{name}}" if name else repr(listener))
    return register_listener(app, listener, event)

sanic.Sanic.register_listener = recording
if FAKE:
    rasa.__version__ = FAKE


def replaced():
    return {{"jsonschema.validate": jsonschema.validate.__module__,
             "MessageProcessor._parse_message_with_graph": MessageProcessor._parse_message_with_graph.__module__,
             "EndpointConfig.session": EndpointConfig.session.__module__,
             "configure_app": run.configure_app.__module__}}


before = replaced()
{install}
run.configure_app(None, enable_api=False)
print(json.dumps({{"installed": installed, "before": before, "after": replaced(), "listeners": listeners,
                   "warnings": warnings,
                   "imported": sorted(m for m in sys.modules if m.startswith("bot.patches."))}}))
"""
# install() called directly; twice (idempotent: the listeners are registered once).
DIRECT = "from bot import patches\ninstalled = patches.install()"
TWICE = DIRECT + "\nassert patches.install() == installed"
# Through the entry point, as devstack starts Rasa: `python -m bot --version`.
ENTRY_POINT = (
    "import runpy\nsys.argv = ['bot', '--version']\nrunpy.run_module('bot', run_name='__main__')\ninstalled = None"
)


def probe(tmp_path: Path, install: str, fake: str = "") -> dict[str, Any]:
    out = subprocess.run(
        [str(RASA_PY), "-c", PROBE.format(fake=fake, install=install)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=rasa_env(tmp_path),
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def assert_installed(found: dict[str, Any]) -> None:
    assert found["after"] == {
        "jsonschema.validate": "bot.patches.jsonschema_cache",
        "MessageProcessor._parse_message_with_graph": "bot.patches.nlu_cache",
        "EndpointConfig.session": "bot.patches.http_client",
        "configure_app": "rasa.core.run",  # wrapped (functools.wraps keeps the name)
    }
    assert not any(module.startswith("bot.patches") for module in found["before"].values())
    assert found["listeners"]["after_server_start"].count("bot.patches.gc_freeze.freeze_after_start") == 1
    assert found["listeners"]["after_server_stop"].count("bot.patches.http_client.close_sessions") == 1
    assert found["warnings"] == []


def test_installed_on_the_supported_rasa(tmp_path: Path) -> None:
    found = probe(tmp_path, TWICE)
    assert found["installed"] == PATCHES
    assert_installed(found)


def test_installed_by_the_entry_point(tmp_path: Path) -> None:
    assert_installed(probe(tmp_path, ENTRY_POINT))


@pytest.mark.parametrize("install", [DIRECT, ENTRY_POINT], ids=["install", "entry point"])
def test_skipped_and_logged_on_another_rasa_version(tmp_path: Path, install: str) -> None:
    found = probe(tmp_path, install, fake="3.7.2")
    assert found["installed"] in ([], None)
    assert found["after"] == found["before"]  # Rasa as it was
    assert not any(module.startswith("bot.patches") for module in found["after"].values())
    assert found["imported"] == []  # no patch module even imported
    assert "bot.patches.gc_freeze.freeze_after_start" not in found["listeners"].get("after_server_start", [])
    assert len(found["warnings"]) == len(PATCHES)
    for name, warning in zip(PATCHES, found["warnings"], strict=True):
        assert f"bot.patches.{name} skipped" in warning and "3.7.2" in warning and "3.6.x" in warning, warning


def test_series_check() -> None:
    import importlib.util

    # bot/patches/__init__.py imports nothing of Rasa: it loads in .venv too.
    spec = importlib.util.spec_from_file_location("patches_probe", ROOT / "bot" / "patches" / "__init__.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    assert module.supported("3.6.21") and module.supported("3.6.0")
    assert not any(module.supported(v) for v in ("3.7.0", "3.16.1", "4.6.0", "2.8.3", "3"))


@pytest.mark.skipif(not MODEL.exists(), reason=NO_MODEL)
def test_the_started_rasa_server_runs_patched(stack: Any) -> None:
    """The stack starts Rasa as `make run` does (through `python -m bot`):
    its log shows the start-up objects frozen, which only the installed
    patches do (bot/patches/gc_freeze.py, registered on Rasa's app)."""
    logs = [stack.logs / f"{name}.log" for name, member in stack.members.items() if member.group == "rasa"]
    deadline = time.monotonic() + 60  # the freeze runs just after the server started
    while not all("frozen out of garbage collection" in log.read_text(errors="replace") for log in logs):
        assert time.monotonic() < deadline, [log.read_text(errors="replace")[-2000:] for log in logs]
        time.sleep(0.5)
    assert not any("skipped, the server runs without it" in log.read_text(errors="replace") for log in logs)
