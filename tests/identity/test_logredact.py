"""No full ID number reaches the log, even inside an exception's text."""

from __future__ import annotations

import io
import logging

from identity.logfilter import RedactIdNumbers, redact
from tests.people import FATHER_LI, XIAOMING


def test_messages_args_and_tracebacks_are_masked() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactIdNumbers())
    log = logging.getLogger("test.redact")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("claim for %s by %s", XIAOMING.id_number, FATHER_LI.id_number.lower())
        try:
            raise ValueError(f"invalid input for query argument $2: '{XIAOMING.id_number}'")
        except ValueError:
            log.exception("unhandled")
    finally:
        log.removeHandler(handler)
    text = stream.getvalue()
    assert XIAOMING.id_number not in text and FATHER_LI.id_number.lower() not in text
    assert text.count(XIAOMING.id_number[:4] + "*" * 10 + XIAOMING.id_number[-4:]) == 2
    assert "ValueError" in text and "Traceback" in text


def test_redact_leaves_other_numbers() -> None:
    assert redact("card 360123456785 at 2026-11-28") == "card 360123456785 at 2026-11-28"
    assert redact("phone 07918818506612345678") == "phone 07918818506612345678"  # longer than an ID


def test_guarded_process_masks_records_on_any_handler() -> None:
    """As in the Rasa process: handlers made after the guard still get
    masked messages (the record factory masks them)."""
    import subprocess
    import sys

    script = (
        "import logging, sys\n"
        "from identity.logfilter import guard_process_logging\n"
        "guard_process_logging()\n"
        "logging.basicConfig(stream=sys.stdout, level=logging.INFO, force=True)\n"
        f"logging.getLogger('rasa').info('user said %s', '我的身份证{XIAOMING.id_number}')\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert XIAOMING.id_number not in out.stdout
    assert XIAOMING.id_number[:4] + "*" * 10 + XIAOMING.id_number[-4:] in out.stdout
