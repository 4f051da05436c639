"""The staff console's accounts and tickets: codes and what the pages call
them. Staff roles are the console's accounts (agent, admin); they are not
the claim paths users choose (contract/paths.py)."""

from __future__ import annotations

STAFF_ROLES = ("agent", "admin")
STAFF_ROLE_LABELS = {"agent": "客服", "admin": "管理员"}

TICKET_STATUSES = ("open", "assigned", "resolved")
TICKET_STATUS_LABELS = {"open": "待处理", "assigned": "处理中", "resolved": "已解决"}
# Why a ticket was opened; the bot opens them when the user asks for a person.
TICKET_REASON_LABELS = {"request_human": "用户要求转人工"}
