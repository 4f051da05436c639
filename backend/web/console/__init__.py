"""The support staff console under /staff (urls.py): sign-in, sessions and
the audit log (auth.py; accounts in staff.py), and its pages: the
conversations (conversations.py, searched by search.py, named by refs.py),
the 转人工 tickets (tickets.py), the dashboard (dashboard.py, charts.py,
ticket_stats.py) and one person's data (person_data.py), all registered by
routes.py. A page imports the console's shared modules, never another page.
"""
