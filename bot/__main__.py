"""`python -m bot ARGS` is `rasa ARGS` (Rasa's own command line, in the
Rasa environment .venv-rasa) with this project's patches of Rasa internals
installed first (bot/patches/, checked against the Rasa version).

This is the one place they are installed, whichever channel the server
serves: devstack starts every Rasa server through it (`python -m bot run
...`), and `make shell` its `python -m bot shell`. Plain `rasa run` still
works, without the patches.

Two duties stay with the REST channel (bot/channels.py), because they are
the trust boundary's and must hold however the server is started, plain
`rasa run` included (credentials.yml names the channel): masking full ID
numbers in every log record, and refusing a production start with a
development secret or an API without its token. This entry point also
masks log records from its first line (the guard is idempotent), so that
nothing Rasa logs before it loads the channel shows a full ID number.
"""

from __future__ import annotations

import sys


def main() -> None:
    from identity.logfilter import guard_process_logging

    guard_process_logging()
    from bot import patches

    patches.install()
    from rasa.__main__ import main as rasa_main

    sys.argv[0] = "rasa"  # Rasa's usage and help name the command
    rasa_main()


if __name__ == "__main__":
    main()
