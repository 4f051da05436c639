"""Keeps full ID numbers out of the logs, whatever logs them.

`RedactIdNumbers` is a handler filter that masks anything shaped like an
18-character ID number in the message and in the formatted exception
(driver errors can quote values). `guard_process_logging` also wraps the
log-record factory, so records are masked where they are made, even on
handlers configured later by a framework (Rasa reconfigures logging).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from identity.idnumber import ID_PATTERN
from identity.masking import mask_id

ID_LIKE = re.compile(rf"(?<![0-9A-Za-z]){ID_PATTERN}(?![0-9A-Za-z])", re.IGNORECASE)


def redact(text: str) -> str:
    return ID_LIKE.sub(lambda m: mask_id(m.group(0)), text)


class RedactIdNumbers(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self._formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info:
            record.exc_text = redact(self._formatter.formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        record.msg, record.args = redact(message), None
        return True


_guarded = False


def guard_process_logging() -> None:
    """Mask ID numbers in every log record of this process (idempotent)."""
    global _guarded
    if _guarded:
        return
    _guarded = True
    make_record = logging.getLogRecordFactory()

    def masked_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record is logged as it is
            return record
        if ID_LIKE.search(message):
            record.msg, record.args = redact(message), None
        return record

    logging.setLogRecordFactory(masked_record)
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactIdNumbers())
