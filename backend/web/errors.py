"""How the backend answers errors. Under the paths registered with
`answer_json` (the API's, the chat page's and the console's JSON, and
/healthz: each registers its own), every error is JSON with a stable code;
everywhere else (pages) it is plain Chinese text. No stack trace leaves.

`ApiError` is the error a JSON handler raises; `json_body` reads a request
body (415/400 as ApiError); `json_response` answers in UTF-8 (orjson).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web
from sqlalchemy.exc import InterfaceError, OperationalError

from backend.claims.runner import unavailable_errors

# The database cannot be reached right now: 503, not 500.
UNAVAILABLE: tuple[type[BaseException], ...] = (OperationalError, InterfaceError, *unavailable_errors())
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra


def json_response(data: dict[str, Any], status: int = 200) -> web.Response:
    """JSON in UTF-8 (orjson: a few times faster than the json module, and
    this is on every claim)."""
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def error_response(status: int, code: str, message: str, **extra: Any) -> web.Response:
    return json_response({"success": False, "code": code, "message": message, **extra}, status=status)


async def json_body(request: web.Request) -> dict[str, Any]:
    if request.content_type != "application/json":
        raise ApiError(415, "unsupported_media_type", "send application/json")
    try:
        body = orjson.loads(await request.read())
    except web.HTTPRequestEntityTooLarge:
        raise
    except (ValueError, UnicodeDecodeError, RecursionError):  # orjson.JSONDecodeError is a ValueError
        raise ApiError(400, "bad_json", "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "bad_request", "the body must be a JSON object")
    return body


@dataclass(frozen=True)
class JsonPaths:
    """The paths whose errors are JSON: under one of `prefixes`, or one of `exact`."""

    prefixes: tuple[str, ...] = ()
    exact: frozenset[str] = frozenset()

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and (path in self.exact or path.startswith(self.prefixes))


JSON_PATHS = web.AppKey("json_paths", JsonPaths)
_NONE = JsonPaths()


def answer_json(app: web.Application, *, prefix: str | None = None, path: str | None = None) -> None:
    """Errors under `prefix` (or at `path`) are answered as JSON."""
    known = app.get(JSON_PATHS) or JsonPaths()
    app[JSON_PATHS] = JsonPaths(
        known.prefixes + ((prefix,) if prefix else ()), known.exact | ({path} if path else set())
    )


@web.middleware
async def errors_as_json(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every API error is JSON with a stable code; pages answer errors in
    plain Chinese text. No stack trace leaves."""
    if request.path not in request.app.get(JSON_PATHS, _NONE):
        return await _page_errors(request, handler)
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.status, exc.code, exc.message, **exc.extra)
    except web.HTTPRequestEntityTooLarge:
        return error_response(413, "body_too_large", "the request body is too large")
    except UNAVAILABLE:
        request.app.logger.warning("database unavailable on %s %s", request.method, request.path, exc_info=True)
        return error_response(503, "database_unavailable", "the database is unavailable, try again shortly")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status, "http_error")
        return error_response(exc.status, code, exc.reason)
    except Exception:
        request.app.logger.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal_error", "internal error")


PAGE_ERRORS = {
    400: "请求有误。",
    403: "没有权限访问此页面。",
    404: "页面不存在。",
    405: "不支持此操作。",
    413: "提交的内容过大。",
    503: "服务暂时不可用，请稍后再试。",
}


async def _page_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.text not in (None, "", f"{exc.status}: {exc.reason}"):
            raise  # redirects, and errors that already say something
        raise type(exc)(text=PAGE_ERRORS.get(exc.status, "出错了，请稍后再试。"), content_type="text/plain") from None
    except UNAVAILABLE:
        request.app.logger.warning("database unavailable on %s %s", request.method, request.path, exc_info=True)
        raise web.HTTPServiceUnavailable(text=PAGE_ERRORS[503], content_type="text/plain") from None
    except Exception:
        request.app.logger.exception("unhandled error on %s %s", request.method, request.path)
        raise web.HTTPInternalServerError(text="出错了，请稍后再试。", content_type="text/plain") from None
