"""The staff console's accounts and tickets: codes and what the pages call
them. Staff roles are the console's accounts; they are not the claim paths
users choose (contract/paths.py).

- `agent`, `admin`: the province's support desk and its administrators;
- `district`, `school` (../shared/CONTRACT.md, "Campaign"): the campaign's
  education bureaus and schools, each limited to its scope: a 6-digit
  county code or a 4-digit city prefix, or one or more school codes.
"""

from __future__ import annotations

from contract.registry import COVERAGE_LEVEL_LABELS

STAFF_ROLES = ("agent", "admin", "district", "school")
SUPPORT_ROLES = ("agent", "admin")  # tickets and conversations: support work
SCOPED_ROLES = ("district", "school")  # accounts limited to their scope codes
CAMPAIGN_ROLES = ("admin", "district", "school")  # coverage, the dashboard, the reports
STAFF_ROLE_LABELS = {
    "agent": "客服",
    "admin": "管理员",
    "district": "教育局",
    "school": COVERAGE_LEVEL_LABELS["school"],
}

TICKET_STATUSES = ("open", "assigned", "resolved")
TICKET_STATUS_LABELS = {"open": "待处理", "assigned": "处理中", "resolved": "已解决"}
# Why a ticket was opened; the bot opens them when the user asks for a person.
TICKET_REASON_LABELS = {"request_human": "用户要求转人工"}
