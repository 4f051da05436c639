"""The registries the claims are checked against (学籍库 and 教师库): the
Jiangxi reference data (jiangxi.py), the import files' format (columns.py),
their row checks (rows.py, and frames.py: the same checks vectorised), and
the importer (importer.py, reading chunks.py, writing sinks.py and
staging.py)."""
