"""Async HTTP load generator for the backend, loopback only.

A run sends at most `max_requests` requests and stops starting new ones
after `time_limit` seconds (requests in flight then finish), with
`concurrency` simulated clients, each a coroutine with its own
`channel_user`. It reports requests/s, latency percentiles, HTTP status
counts, the `status`/`code` fields of the JSON answers, and transport
errors.

It refuses any host other than 127.0.0.1, localhost or ::1: it is a
benchmark for a service on this machine, not a tool to load anyone else's.

Command line (bodies as JSON lines, one request each):

    python -m bench.load.http --url http://127.0.0.1:8080/api/v1/matches \\
        --bodies bodies.jsonl --token TOKEN --concurrency 32 --requests 10000 --time-limit 60
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class NotLoopback(ValueError):
    pass


def check_loopback(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise NotLoopback(f"not an http(s) URL: {url!r}")
    if parts.hostname not in LOOPBACK_HOSTS:
        raise NotLoopback(f"refusing to load {parts.hostname!r}: only 127.0.0.1, localhost and ::1 are allowed")


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list (0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass
class LoadResult:
    name: str
    url: str
    concurrency: int
    max_requests: int
    time_limit: float
    requests: int = 0  # answered (any HTTP status)
    errors: int = 0  # no HTTP answer: connection errors, timeouts
    seconds: float = 0.0
    stopped_by: str = ""  # "count" | "time"
    rps: float = 0.0  # answered requests per second
    ok_rps: float = 0.0  # answers with the expected status per second
    latency_ms: dict[str, float] = field(default_factory=dict)
    status_codes: dict[str, int] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=dict)  # "201 issued", "422 identity_not_found", ...
    error_kinds: dict[str, int] = field(default_factory=dict)
    unexpected: int = 0  # answers whose status is not in `expect`
    expect: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        lat = self.latency_ms
        return (
            f"{self.name}: {self.requests} answered + {self.errors} errors in {self.seconds:.1f}s "
            f"(stopped by {self.stopped_by}) = {self.rps:,.0f} req/s; "
            f"p50 {lat.get('p50', 0):.1f} ms, p95 {lat.get('p95', 0):.1f} ms, p99 {lat.get('p99', 0):.1f} ms; "
            f"status {dict(sorted(self.status_codes.items()))}; outcomes {dict(sorted(self.outcomes.items()))}"
            + (f"; errors {self.error_kinds}" if self.error_kinds else "")
        )


async def run_load(
    url: str,
    bodies: Iterable[dict[str, Any]],
    *,
    name: str = "load",
    token: str | None = None,
    concurrency: int = 32,
    max_requests: int = 10_000,
    time_limit: float = 60.0,
    channel_user_prefix: str | None = "bench-client-",
    channel_user_per_request: bool = False,
    expect: Sequence[int] = (200, 201),
    request_timeout: float = 60.0,
    inspect_bodies: bool = True,
) -> LoadResult:
    """POST each body (as JSON) to `url` until `max_requests` were sent, the
    bodies run out, or `time_limit` seconds have passed. Client number i
    sets `channel_user` to f"{channel_user_prefix}{i}" unless None (with
    `channel_user_per_request`, f"{channel_user_prefix}{i}-{n}" for its n-th
    request: every request from another chat user)."""
    check_loopback(url)
    if concurrency < 1 or max_requests < 0 or time_limit <= 0:
        raise ValueError("concurrency >= 1, max_requests >= 0 and time_limit > 0 please")
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    source = iter(bodies)
    result = LoadResult(name, url, concurrency, max_requests, time_limit, expect=list(expect))
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    error_kinds: Counter[str] = Counter()
    sent = 0
    out_of_time = False
    expected = set(expect)
    started = time.perf_counter()
    deadline = started + time_limit

    def next_body() -> dict[str, Any] | None:
        nonlocal sent, out_of_time
        if sent >= max_requests:
            return None
        if time.perf_counter() >= deadline:
            out_of_time = True
            return None
        body = next(source, None)
        if body is not None:
            sent += 1
        return body

    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency, force_close=False)
    timeout = aiohttp.ClientTimeout(total=request_timeout)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:

        async def client(i: int) -> None:
            user = f"{channel_user_prefix}{i}" if channel_user_prefix is not None else None
            n = 0
            while (body := next_body()) is not None:
                n += 1
                if user is not None:
                    body = {**body, "channel_user": f"{user}-{n}" if channel_user_per_request else user}
                data = json.dumps(body, ensure_ascii=False).encode()
                t0 = time.perf_counter()
                try:
                    async with http.post(url, data=data, headers=headers) as resp:
                        raw = await resp.read()
                        status = resp.status
                except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                    error_kinds[type(exc).__name__] += 1
                    continue
                latencies.append(time.perf_counter() - t0)
                statuses[str(status)] += 1
                if status not in expected:
                    result.unexpected += 1
                if inspect_bodies:
                    try:
                        answer = json.loads(raw)
                        what = answer.get("status") or answer.get("code") or "?"
                    except (ValueError, AttributeError):
                        what = "not-json"
                    outcomes[f"{status} {what}"] += 1

        # A safety net: in-flight requests get request_timeout to finish.
        await asyncio.wait_for(
            asyncio.gather(*(client(i) for i in range(concurrency))), timeout=time_limit + request_timeout + 10
        )
    result.seconds = time.perf_counter() - started
    result.stopped_by = "time" if out_of_time else "count"
    result.requests = len(latencies)
    result.errors = sum(error_kinds.values())
    result.rps = result.requests / result.seconds if result.seconds else 0.0
    ok = sum(n for s, n in statuses.items() if int(s) in expected)
    result.ok_rps = ok / result.seconds if result.seconds else 0.0
    latencies.sort()
    if latencies:
        result.latency_ms = {
            "mean": round(1000 * sum(latencies) / len(latencies), 2),
            "p50": round(1000 * percentile(latencies, 50), 2),
            "p95": round(1000 * percentile(latencies, 95), 2),
            "p99": round(1000 * percentile(latencies, 99), 2),
            "max": round(1000 * latencies[-1], 2),
        }
    result.status_codes = dict(statuses)
    result.outcomes = dict(outcomes)
    result.error_kinds = dict(error_kinds)
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.load.http", description=__doc__.split("\n\n")[0])
    p.add_argument("--url", required=True, help="loopback URL to POST to")
    p.add_argument("--bodies", required=True, help="JSON lines file, one request body per line ('-': stdin)")
    p.add_argument("--token", help="service token (Authorization: Bearer ...)")
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--requests", type=int, default=10_000, help="at most this many requests")
    p.add_argument("--time-limit", type=float, default=60.0, help="start no request after this many seconds")
    p.add_argument("--channel-user-prefix", default="bench-client-")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    args = p.parse_args(argv)
    try:
        check_loopback(args.url)
    except NotLoopback as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    fh = sys.stdin if args.bodies == "-" else open(args.bodies, encoding="utf-8")
    with fh:
        bodies = [json.loads(line) for line in fh if line.strip()]
    result = asyncio.run(
        run_load(
            args.url,
            bodies,
            token=args.token,
            concurrency=args.concurrency,
            max_requests=args.requests,
            time_limit=args.time_limit,
            channel_user_prefix=args.channel_user_prefix or None,
        )
    )
    print(json.dumps(result.as_dict(), indent=2) if args.json else result.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
