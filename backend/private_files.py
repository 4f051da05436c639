"""Files that hold personal data or keys, readable by their owner only.

- `private_dir(path)`: a directory made (or tightened) to 0700.
- `private_sqlite(path)`: an SQLite database file created empty with mode
  0600 before SQLite first opens it (SQLite accepts an empty file as a new
  database); an existing one, and its `-wal` / `-shm` / `-journal` files,
  tightened to 0600. SQLite creates the `-wal`, `-shm` and `-journal` files
  of a database with the database file's own permissions, so they are
  0600 too.
- `PRIVATE_UMASK` (0o077): what the service launcher (devstack/)
  starts every service with, so that whatever they create (the Rasa tracker
  store, logs, caches) is 0600 / 0700 from the start.

Tightening a file somebody else owns fails (EPERM) and is left to them.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path
from typing import Union

PRIVATE_UMASK = 0o077
DIR_MODE = 0o700
FILE_MODE = 0o600
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")

PathLike = Union[str, "os.PathLike[str]"]


def _tighten(path: Path, mode: int) -> None:
    with contextlib.suppress(FileNotFoundError, PermissionError):
        if stat.S_IMODE(path.stat().st_mode) != mode:
            path.chmod(mode)


def private_dir(path: PathLike) -> Path:
    """`path` (and its missing parents) made with mode 0700; an existing
    `path` itself tightened to 0700 (its parents are left as they are)."""
    folder = Path(path)
    missing = []
    probe = folder
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    for made in reversed(missing):
        with contextlib.suppress(FileExistsError):
            made.mkdir(mode=DIR_MODE)
        _tighten(made, DIR_MODE)  # mkdir's mode is filtered by the umask
    _tighten(folder, DIR_MODE)
    return folder


def private_file(path: PathLike) -> Path:
    """`path` created empty with mode 0600 when missing, else tightened to 0600."""
    file = Path(path)
    try:
        fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        pass
    else:
        os.close(fd)
    _tighten(file, FILE_MODE)
    return file


def private_sqlite(path: PathLike, *, make_parent: bool = True) -> Path:
    """An SQLite database file (and its companions) readable by its owner
    only. Missing parent directories are made 0700 (`make_parent`); an
    existing parent directory is left as it is (it may be anyone's)."""
    file = Path(path)
    if make_parent and not file.parent.exists():
        private_dir(file.parent)
    private_file(file)
    for suffix in SQLITE_COMPANIONS:
        _tighten(file.with_name(file.name + suffix), FILE_MODE)
    return file


def sqlite_path(url: str) -> Path | None:
    """The file of an SQLite SQLAlchemy URL (None: not SQLite, or in memory)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    if parsed.database.startswith("file:"):
        return None  # an SQLite URI (e.g. mode=ro): opened, never created, here
    return Path(parsed.database)
