"""`serve` (the backend's HTTP service, in one process or several sharing the port), `init-db`
and `recount-coverage` (the coverage counts recounted from the registry and the cards)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import time
from typing import Any

from backend.cli.common import load_settings, with_db


def _serve_one(host: str, port: int, reuse_port: bool) -> None:
    import uvloop
    from aiohttp import web

    from backend.app import create_app
    from backend.web.logs import AccessLog, install

    install(logging.INFO)
    # Access logs show method, path and status: bodies (and so ID numbers) never.
    web.run_app(
        create_app(load_settings()),
        host=host,
        port=port,
        loop=uvloop.new_event_loop(),
        reuse_port=reuse_port,
        access_log_class=AccessLog,
    )


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve in one process, or in N processes sharing the port
    (SO_REUSEPORT), the parent passing Ctrl-C / SIGTERM on to them."""
    from trust.secrets import refuse_development_secrets

    refuse_development_secrets(service="the backend")
    settings = load_settings()
    host = args.host or settings.host
    port = args.port or settings.port
    workers = args.workers or settings.workers
    if workers <= 1:
        _serve_one(host, port, reuse_port=False)
        return 0
    import multiprocessing as mp
    import signal

    ctx = mp.get_context("spawn")
    children = [ctx.Process(target=_serve_one, args=(host, port, True), daemon=False) for _ in range(workers)]
    for child in children:
        child.start()

    def stop(signum: int, _frame: Any) -> None:
        for child in children:
            if child.pid is not None and child.is_alive():
                os.kill(child.pid, signal.SIGINT)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    for child in children:
        child.join()
    return max((child.exitcode or 0) for child in children)


def cmd_init_db(args: argparse.Namespace) -> int:
    async def run() -> None:
        db = await with_db(load_settings())
        await db.dispose()

    asyncio.run(run())
    print("schema ready")
    return 0


def cmd_recount_coverage(args: argparse.Namespace) -> int:
    from backend.registry.counts import recount

    async def run() -> float:
        db = await with_db(load_settings())
        try:
            started = time.perf_counter()
            async with db.writing() as session:
                await recount(session)
            return time.perf_counter() - started
        finally:
            await db.dispose()

    print(f"coverage counts recounted in {asyncio.run(run()):.1f} s")
    return 0
