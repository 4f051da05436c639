"""Load generators, loopback only.

- `bench.load.http`: the backend's HTTP load generator (`python -m bench.load.http`);
  its names are importable from `bench.load` as before.
- `bench.load.chat`: simulated claimants chatting with the dialogue assistant
  over Rasa's REST channel (`python -m bench.load`, see bench/README.md);
  one claimant's conversation in `bench.load.conversation`, the reports in
  `bench.load.chat_report`.

The HTTP names are loaded on first use, so that `python -m bench.load.http`
runs a module that the package has not imported already.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.load.http import LOOPBACK_HOSTS, LoadResult, NotLoopback, check_loopback, percentile, run_load

__all__ = ["LOOPBACK_HOSTS", "LoadResult", "NotLoopback", "check_loopback", "percentile", "run_load"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("bench.load.http"), name)
    raise AttributeError(f"module 'bench.load' has no attribute {name!r}")
