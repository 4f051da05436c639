"""`python -m devstack` (make run), `python -m devstack --scaled` (make
run-scaled), `python -m devstack shell` (make shell): see devstack/profiles.py
for the settings."""

from __future__ import annotations

import argparse
import asyncio

from devstack.supervise import run, shell


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devstack", description="The services of the development stack (settings: devstack/profiles.py)."
    )
    parser.add_argument(
        "command",
        nargs="?",
        choices=["run", "shell"],
        default="run",
        help="run (default): start the services in the foreground; shell: rasa shell against them",
    )
    parser.add_argument(
        "--scaled",
        action="store_true",
        help="the scaled profile: PostgreSQL, Redis, several Rasa and action servers behind nginx",
    )
    args = parser.parse_args(argv)
    if args.command == "shell":
        shell()  # replaces this process
    return asyncio.run(run(scaled=args.scaled))


if __name__ == "__main__":
    raise SystemExit(main())
