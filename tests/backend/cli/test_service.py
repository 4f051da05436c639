"""The backend as `make run` starts it: a real process on a real port."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from tests.people import FATHER_LI, UNIVERSITY, XIAOMING, write_registry

ROOT = Path(__file__).resolve().parents[3]
FULL_ID = re.compile(r"\b\d{17}[\dXx]\b")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("workers", [1, 2])
async def test_served_backend_claims_and_logs_no_id_numbers(tmp_path: Path, workers: int) -> None:
    port = free_port()
    env = {
        **os.environ,
        "BACKEND_DATABASE_URL": f"sqlite:///{tmp_path / 'svc.db'}",
        "BACKEND_PORT": str(port),
        "BACKEND_SERVICE_TOKEN": "svc-token",
        "BACKEND_WORKERS": str(workers),
        "PYTHONUNBUFFERED": "1",  # each worker's "Running on" line shows as soon as it serves
    }
    students, teachers = write_registry(tmp_path)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "backend",
            "import-registry",
            "--students",
            str(students),
            "--teachers",
            str(teachers),
            "--no-progress",
        ],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    log = open(tmp_path / "backend.log", "w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "backend", "serve"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": "Bearer svc-token"}
    try:
        async with aiohttp.ClientSession() as http:
            deadline = time.monotonic() + 30
            while True:
                try:
                    async with http.get(f"{base}/healthz") as resp:
                        assert resp.status == 200
                        break
                except aiohttp.ClientConnectionError:
                    assert time.monotonic() < deadline, "backend did not start"
                    assert proc.poll() is None, "backend exited"
                    await asyncio.sleep(0.2)
            # Every worker serving before the claims (and before SIGINT: a worker
            # still starting up when the test ends would never say it ran).
            while open(tmp_path / "backend.log").read().count("Running on") < workers:
                assert time.monotonic() < deadline, "not every worker started"
                await asyncio.sleep(0.2)
            claim = {
                "path": "parent",
                "name": XIAOMING.name,
                "id_number": XIAOMING.id_number,
                "guardian_name": FATHER_LI.name,
                "guardian_id_number": FATHER_LI.id_number,
                "face_verification": False,
                "channel_user": "svc",
            }
            async with http.post(f"{base}/api/v1/claims", json=claim, headers=headers) as resp:
                assert resp.status == 201
            async with http.post(
                f"{base}/api/v1/claims", json={**claim, "guardian_name": "王五"}, headers=headers
            ) as resp:
                # The card exists, but only a recorded guardian is shown it.
                assert (resp.status, (await resp.json())["code"]) == (422, "guardian_mismatch")
            async with http.post(f"{base}/api/v1/claims", json={**claim, "name": "李小红"}, headers=headers) as resp:
                assert (await resp.json())["code"] == "identity_not_found"
            async with http.post(f"{base}/api/v1/claims", data="{bad", headers=headers) as resp:
                assert resp.status in (400, 415)
            # Simultaneous duplicates, spread over the worker processes: one card.
            uni = {"path": "university_student", "name": UNIVERSITY.name, "id_number": UNIVERSITY.id_number}

            async def claim_uni() -> str:
                async with aiohttp.ClientSession() as own:  # own connection: any worker may answer
                    async with own.post(f"{base}/api/v1/claims", json=uni, headers=headers) as resp:
                        assert resp.status in (200, 201)
                        return str((await resp.json())["card"]["card_number"])

            numbers = await asyncio.gather(*[claim_uni() for _ in range(30)])
            assert len(set(numbers)) == 1
            # Query strings stay out of the access log (a conversation id, a search term).
            async with http.get(f"{base}/chat/api/updates", params={"sender": "web-" + "ab" * 16}) as resp:
                assert resp.status == 200
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
    log.seek(0)
    text = log.read()
    assert text.count("Running on") == workers, text[:2000]
    assert "POST /api/v1/claims" in text  # the access log is on...
    assert '"GET /chat/api/updates?… HTTP' in text and "abab" not in text
    assert not FULL_ID.search(text), "a full ID number reached the log"  # ...and holds no ID number
