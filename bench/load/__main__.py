"""`python -m bench.load`: the chat load generator (bench/load/cli.py)."""

from bench.load.cli import main

raise SystemExit(main())
