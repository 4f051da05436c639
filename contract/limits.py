"""Limits the bot tells users about and the backend enforces."""

from __future__ import annotations

# 目前最多支持代领三张小孩的卡 (the manual): children one parent may claim for.
MAX_PROXY_CHILDREN = 3
# Failed identity checks allowed per person and per conversation in the
# window before `rate_limited` (the bot says: 一小时后再试). The backend's
# defaults; BACKEND_RATE_LIMIT_FAILURES and _WINDOW_SECONDS override them.
RATE_LIMIT_FAILURES = 5
RATE_LIMIT_WINDOW_SECONDS = 3600
