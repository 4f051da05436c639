"""The backend's logging: buffered to stderr, every record masked by
identity.logfilter (no full ID number in any log line)."""
from __future__ import annotations

import atexit
import logging
import sys
import threading
import time

from identity.logfilter import RedactIdNumbers, redact

__all__ = ["BufferedStderrHandler", "RedactIdNumbers", "install", "redact"]


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
