"""The daemon's state folder: private to its user, and held by one daemon at a time.

The journal and snapshots hold positions and balances, so the folder is 0700 and its files
0600 (see `private_file`). Two daemons on one folder would restore the same bots and write the
same journal: whatever socket each listens on, the second is refused by an exclusive lock on
`<state_dir>/.lock`, held for the daemon's life (the kernel drops it when the process dies,
even by SIGKILL, so a crash never leaves a stale lock behind).
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import stat
from pathlib import Path

from loguru import logger

from market.file_kind import special_file_kind

LOCK_FILE = ".lock"
JOURNAL_FILE = "journal.sqlite3"      # the daemon's journal, without cluster mode
SNAPSHOT_FOLDER = "bots"              # one snapshot file a bot
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


class StartupError(Exception):
    """The daemon cannot start with this setting; the message is one line naming the setting
    and the path, for the operator (`botrunner run` exits 2)."""


class StateFileUnreadable(StartupError):
    """A database of the state folder is not one the daemon wrote (damaged, or another file
    put in its place): said with its path, never mended or replaced, since it holds history."""


class StateDirLock:
    """The state folder, made private and locked; `release()` (or process exit) frees it.

        lock = StateDirLock.acquire(Path("state"), setting="--state-dir")
        ...
        lock.release()
    """

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, path: Path, *, setting: str = "state_dir") -> StateDirLock:
        """Create `path` (0700) if needed and lock it. Raises StartupError, naming `setting` and
        the path, when it is not a usable folder or another daemon holds it."""
        _make_private_dir(path, setting)
        try:
            fd = os.open(path / LOCK_FILE, os.O_RDWR | os.O_CREAT, PRIVATE_FILE_MODE)
        except OSError as exc:
            raise StartupError(f"{setting}: cannot write in {path}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise StartupError(f"{setting}: another botrunner daemon (pid {holder}) is using the state folder "
                               f"{path}; stop it first, or give this one another --state-dir") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        return cls(path, fd)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)          # closing the descriptor drops the flock
            self._fd = None


def private_file(path: Path) -> None:
    """Create `path` empty with mode 0600 if it does not exist (so a library that opens it later,
    SQLite say, keeps that mode), and take group and other access away if it does."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE_MODE)
    try:
        if stat.S_IMODE(os.fstat(fd).st_mode) & 0o077:
            os.fchmod(fd, PRIVATE_FILE_MODE)
    finally:
        os.close(fd)


def open_wal_database(path: Path, schema: str, *, durable: bool, unreadable: str) -> sqlite3.Connection:
    """Open (or create) a state database in WAL mode with `schema`; a file that is not one the
    daemon can read raises StateFileUnreadable with `unreadable` (what it is and what to do)."""
    if (kind := special_file_kind(path)) is not None:     # sqlite's own word for a pipe: 'disk I/O error'
        raise StateFileUnreadable(unreadable.format(path=path, error=f"it is {kind}, not a file"))
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:                  # connect() opens any file; the first statement finds out what it holds
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        db.executescript(schema)
    except sqlite3.DatabaseError as exc:
        db.close()
        raise StateFileUnreadable(unreadable.format(path=path, error=exc)) from None
    return db


def _make_private_dir(path: Path, setting: str) -> None:
    try:
        path.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    except FileExistsError:
        raise StartupError(f"{setting}: {path} is a file, not a folder") from None
    except OSError as exc:
        raise StartupError(f"{setting}: cannot create the folder {path}: {exc.strerror or exc}") from None
    if not path.is_dir():
        raise StartupError(f"{setting}: {path} is not a folder")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        try:
            path.chmod(PRIVATE_DIR_MODE)
        except OSError as exc:
            logger.warning("State folder {} is mode {:o} and cannot be made 0700 ({}): other users "
                           "may read positions and balances", path, mode, exc.strerror or exc)
            return
        logger.info("State folder {} was mode {:o}; made it 0700 (it holds positions and balances)", path, mode)
