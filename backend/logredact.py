"""Keeps full ID numbers out of the logs, whatever logs them: a handler
filter that masks anything shaped like an 18-character ID number in the
message and in the formatted exception (driver errors can quote values)."""
from __future__ import annotations

import logging
import re

from identity import mask_id

ID_LIKE = re.compile(r"(?<![0-9A-Za-z])[0-9]{17}[0-9Xx](?![0-9A-Za-z])")


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


def install(level: int = logging.INFO) -> None:
    """Root logging to stderr, every record redacted."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactIdNumbers())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
