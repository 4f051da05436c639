"""Manual use: python -m tools.demo_registry --students N --teachers M --out DIR
(the project's command is `python -m backend demo-registry`)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from tools.demo_registry import DEFAULT_SEED, generate


def main(argv: Sequence[str] | None = None) -> int:
    """Manual use: python -m tools.demo_registry --students N --teachers M --out DIR."""
    parser = argparse.ArgumentParser(description="Write a deterministic demo registry.")
    parser.add_argument("--students", type=int, default=5000)
    parser.add_argument("--teachers", type=int, default=800)
    parser.add_argument("--out", type=Path, default=Path("var/demo"))
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    summary = generate(
        args.students, args.teachers, args.out, args.seed, progress=lambda n: print(f"{n:,} rows", flush=True)
    )
    print(
        f"{summary.students:,} students, {summary.teachers:,} teachers, "
        f"{summary.families:,} families, {summary.guardians:,} guardians -> {summary.out_dir}"
    )
    for sample in summary.samples:
        print(f"  {sample['kind']:32} {sample['name']} {sample['id_number']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
