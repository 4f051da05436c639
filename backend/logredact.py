"""Keeps full ID numbers out of the logs, whatever logs them: a handler
filter that masks anything shaped like an 18-character ID number in the
message and in the formatted exception (driver errors can quote values)."""
from __future__ import annotations

import atexit
import logging
import re
import sys
import threading
import time

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


class BufferedStderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to stderr through a 64 KiB buffer, flushed every half second
    and at once for warnings and errors: a flushed write per access-log
    line cost a third of the service's CPU under load."""

    FLUSH_SECONDS = 0.5

    def __init__(self) -> None:
        super().__init__(open(sys.stderr.fileno(), "w", buffering=65536, encoding="utf-8", closefd=False))
        flusher = threading.Thread(target=self._flush_periodically, name="log-flush", daemon=True)
        flusher.start()
        atexit.register(self.flush)

    def _flush_periodically(self) -> None:
        while True:
            time.sleep(self.FLUSH_SECONDS)
            self.flush()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.stream.write(self.format(record) + self.terminator)
            if record.levelno >= logging.WARNING:
                self.flush()
        except Exception:  # noqa: BLE001 - logging must never break the service
            self.handleError(record)


def install(level: int = logging.INFO) -> None:
    """Root logging to stderr (buffered), every record redacted."""
    handler = BufferedStderrHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactIdNumbers())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
