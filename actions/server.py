"""The action server, as `python -m rasa_sdk` runs it, but private.

`python -m actions.server [--port N]`: rasa-sdk's own Sanic app (its
/webhook, /actions and /health) with our actions, plus what rasa-sdk 3.11
leaves out:

- it listens on ACTION_HOST [127.0.0.1], never on all interfaces by default;
- every route but /health needs the shared secret ACTION_SERVER_TOKEN in the
  `X-Action-Token` header, which only Rasa knows (endpoints.yml sends it):
  without it anyone who reached the port could run an action on a made-up
  conversation and spend the backend's service token;
- bodies are capped, compressed ones too: a deflate body is inflated here,
  at most MAX_INFLATED_BYTES, before rasa-sdk sees it (rasa-sdk inflates
  without a limit); other encodings are refused;
- an error answers without echoing the request (rasa-sdk's handler puts the
  whole tracker in its 500 answer);
- ID numbers stay sealed in the conversation: opened for the actions,
  sealed again in the events they return (actions/sealing.py);
- APP_ENV=production refuses development secrets (trust/secrets.py).
"""

from __future__ import annotations

import argparse
import hmac
import logging
import os
import zlib

from rasa_sdk.endpoint import create_app
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from actions.sealing import SealingExecutor
from identity.logfilter import guard_process_logging
from trust import secrets

log = logging.getLogger("actions.server")

TOKEN_HEADER = "X-Action-Token"
# A request carries the whole conversation and domain: a long conversation
# is a few hundred kB. Compressed or not, nothing beyond these is read.
MAX_BODY_BYTES = 4 * 1024 * 1024
MAX_INFLATED_BYTES = 8 * 1024 * 1024
OPEN_PATHS = frozenset({"/health"})


def _error(status: int, message: str) -> HTTPResponse:
    return response.json({"error": message}, status=status)


def inflate(body: bytes, limit: int = MAX_INFLATED_BYTES) -> bytes | None:
    """A zlib (deflate) body inflated, or None when it is not one or would
    inflate past `limit` bytes (a compression bomb stops at the limit)."""
    inflater = zlib.decompressobj()
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error:
        return None
    if len(data) > limit or inflater.unconsumed_tail or not inflater.eof:
        return None
    return data


def make_app(token: str, package: str = "actions") -> Sanic:
    executor = SealingExecutor()  # ID slots sealed in the conversation (actions/sealing.py)
    executor.register_package(package)
    app = create_app(executor, cors_origins=None)
    app.config.REQUEST_MAX_SIZE = MAX_BODY_BYTES
    app.config.KEEP_ALIVE_TIMEOUT = 5
    expected = token.encode()

    # sanic's decorators are unannotated (untyped call, untyped decorator):
    # the handlers below keep their own annotations.
    @app.on_request(priority=100)  # type: ignore[no-untyped-call,untyped-decorator]
    async def guard(request: Request) -> HTTPResponse | None:
        if request.path in OPEN_PATHS:
            return None
        sent = (request.headers.get(TOKEN_HEADER) or "").encode()
        if not hmac.compare_digest(sent, expected):
            return _error(403, "forbidden")
        encoding = (request.headers.get("Content-Encoding") or "identity").strip().lower()
        if encoding == "deflate":
            data = inflate(request.body)
            if data is None:
                return _error(413, "compressed body too large or corrupt")
            request.body = data
            del request.headers["content-encoding"]
        elif encoding != "identity":
            return _error(415, "unsupported content encoding")
        return None

    # Replaces rasa-sdk's handler, which answers with the request's body.
    @app.exception(Exception)  # type: ignore[no-untyped-call,untyped-decorator]
    async def failed(request: Request, exception: Exception) -> HTTPResponse:
        status = getattr(exception, "status_code", 500)
        if not isinstance(status, int) or status < 400:
            status = 500
        if status >= 500:
            log.error("action request failed: %s", type(exception).__name__, exc_info=exception)
        return _error(status, "request failed" if status >= 500 else str(exception)[:200])

    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m actions.server", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("ACTION_PORT") or 5055))
    parser.add_argument("--host", default=os.environ.get("ACTION_HOST") or "127.0.0.1")
    args = parser.parse_args(argv)
    secrets.refuse_development_secrets(service="the action server")
    token = secrets.secret(secrets.ACTION_SERVER_TOKEN)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    guard_process_logging()
    app = make_app(token)
    log.info("action server on http://%s:%d", args.host, args.port)
    app.run(host=args.host, port=args.port, workers=1, single_process=True, access_log=False, motd=False)


if __name__ == "__main__":
    main()
