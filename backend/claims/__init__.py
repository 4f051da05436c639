"""Claiming a card: the rules, and what runs them against the database.

- rules.py: the claim and refresh rules, free of I/O: flows that yield
  operations.py's typed operations and read records.py's typed records;
- statements.py: the SQL of each operation, each statement whole;
- binding.py: which statement runs an operation, its parameters and its
  row, by name;
- sqlite_runner.py, postgres_runner.py: run a flow on either database;
  runner.py picks one for a database URL;
- service.py: what the API calls (validates the input, runs a flow);
- attempts.py: the claim log (keyed ID hashes, the rate-limit settings);
- cardnumber.py, permissions.py: card numbers, and what a card may do.

Dependencies point one way: rules, operations and records import no
database code; the runners and the service use the database layer
(backend/db.py, backend/models.py, backend/sqlite.py), which imports
nothing from here.
"""
