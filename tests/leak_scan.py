"""After a stack's tests: no full ID number anywhere but the registry and
card tables (issue 13, part 10).

`stored_full_ids` reads every row of the tracker store and of the backend's
tables other than students, teachers, cards and proxy_claims; `page_full_ids`
signs a staff admin in and reads the console's ticket queue, conversation
list and transcripts (their YAML stories too). tests/stack.py runs both when
a stack stops, after the test modules that used it; the services' logs are
scanned there as well.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import threading
import unicodedata
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import MetaData, select
from sqlalchemy.ext.asyncio import create_async_engine

# 17 digits and a check character: any full ID number, of the registry or typed
# (not digits of a fraction or of a hex id: NLU confidences and message ids are stored too).
FULL_ID = re.compile(r"(?<![0-9A-Za-z.])[0-9]{17}[0-9Xx](?![0-9A-Za-z])")
# The tables where full ID numbers belong (CONTRACT.md, issue 13).
REGISTRY_TABLES = frozenset({"students", "teachers", "cards", "proxy_claims"})
ADMIN = "leak-scan-admin"
PASSWORD = "leak-scan-password-1"
MAX_TRANSCRIPTS = 150
T = TypeVar("T")


def _in_thread(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine on its own loop (teardown may run inside another)."""
    result: dict[str, Any] = {}

    def work() -> None:
        try:
            result["value"] = asyncio.run(make())  # type: ignore[arg-type]
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller
            result["error"] = e

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["value"]  # type: ignore[no-any-return]


def full_ids(text: str) -> list[str]:
    return FULL_ID.findall(unicodedata.normalize("NFKC", text))


def _async_url(url: str) -> str:
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    if url.startswith("postgresql://"):
        return "postgresql+asyncpg://" + url[len("postgresql://") :]
    return url


async def _table_hits(url: str, skip: frozenset[str]) -> dict[str, list[str]]:
    engine = create_async_engine(_async_url(url))
    hits: dict[str, list[str]] = {}
    try:
        async with engine.connect() as conn:
            meta = MetaData()
            await conn.run_sync(meta.reflect)
            for table in meta.sorted_tables:
                if table.name in skip:
                    continue
                rows = (await conn.execute(select(table))).all()
                for row in rows:
                    for value in row:
                        if isinstance(value, str):
                            text = value
                            if text[:1] in "{[":
                                try:  # tracker events: JSON with \\u escapes
                                    text = json.dumps(json.loads(text), ensure_ascii=False)
                                except ValueError:
                                    pass
                            found = full_ids(text)
                            if found:
                                hits.setdefault(table.name, []).extend(found)
    finally:
        await engine.dispose()
    return hits


def stored_full_ids(env: dict[str, str]) -> dict[str, list[str]]:
    """Full ID numbers found, by table, in the tracker store and in the
    backend's tables outside the registry and the cards."""
    hits: dict[str, list[str]] = {}
    for url, skip in ((env["BACKEND_TRACKER_URL"], frozenset()), (env["BACKEND_DATABASE_URL"], REGISTRY_TABLES)):
        for table, found in _in_thread(partial(_table_hits, url, skip)).items():
            hits.setdefault(table, []).extend(found)
    return hits


def registry_ids(*csv_files: Any) -> set[str]:
    """Every ID number (students, guardians, teachers) of registry CSV files."""
    import csv

    found: set[str] = set()
    for path in csv_files:
        with open(path, encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f):
                found |= {v for k, v in row.items() if k.endswith("id_number") and v}
    return found


def page_full_ids(base_url: str, env: dict[str, str], root: Any, registry: set[str]) -> dict[str, list[str]]:
    """ID numbers of the registry found on the staff console's pages, by
    path (a story export replaces each number by a fictional one of the
    same shape, which is not counted)."""
    from tests.staff_client import StaffClient

    subprocess.run(
        [sys.executable, "-m", "backend", "create-staff", ADMIN, "--role", "admin", "--password-stdin"],
        input=PASSWORD,
        text=True,
        cwd=root,
        env=env,
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [sys.executable, "-m", "backend", "index-conversations"], cwd=root, env=env, check=True, capture_output=True
    )

    async def read() -> dict[str, list[str]]:
        hits: dict[str, list[str]] = {}
        async with StaffClient(base_url) as admin:
            await admin.login(ADMIN, PASSWORD)
            paths = ["/staff/tickets", "/staff/conversations", "/staff/dashboard"]
            listing = await admin.get("/staff/conversations")
            refs = list(dict.fromkeys(re.findall(r'href="(/staff/conversations/[A-Za-z0-9_\-]+)"', listing.text)))
            for ref in refs[:MAX_TRANSCRIPTS]:
                paths += [ref, ref + "/story.yml"]
            tickets = await admin.get("/staff/tickets")
            paths += list(dict.fromkeys(re.findall(r'href="(/staff/tickets/\d+)"', tickets.text)))[:50]
            for path in paths:
                page = await admin.get(path)
                found = [n for n in full_ids(page.text) if n.upper() in registry]
                if found:
                    hits[path] = found
        return hits

    return _in_thread(read)


def report(hits: dict[str, list[str]], limit: int = 5) -> str | None:
    if not hits:
        return None
    return "; ".join(f"{where}: {len(found)} (e.g. {found[0][:4]}…)" for where, found in list(hits.items())[:limit])
