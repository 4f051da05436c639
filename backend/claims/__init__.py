"""Claiming a card: the rules, and what runs them against the database.

- rules.py: the claim and refresh rules, free of I/O (flows of operations);
- service.py: what the API calls: validates the input, runs a flow;
- runner.py: runs a flow on SQLite or PostgreSQL;
- attempts.py: the claim log (keyed ID hashes, the rate-limit settings);
- cardnumber.py, permissions.py: card numbers, and what a card may do.
"""
