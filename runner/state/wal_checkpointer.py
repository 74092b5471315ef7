"""The journal's WAL copied back into its database on a thread of its own (see `SqliteJournal`)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from loguru import logger

__all__ = ["WalCheckpointer"]


class WalCheckpointer:
    """Copies a journal's WAL back into its database on a thread of its own, when asked.

    A PASSIVE checkpoint through a second connection: it waits for no writer and blocks none, so
    the event loop's commits go on meanwhile (sqlite3 lets go of the GIL while SQLite works). The
    thread starts at the first request; a request made while one is under way is served once
    that one is done. A failed checkpoint is logged and tried again at the next request: the WAL
    only grows meanwhile, nothing is lost.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._wanted = threading.Event()
        self._closing = False
        self._thread: threading.Thread | None = None
        self.done = 0

    def request(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"checkpoint:{self._path.name}", daemon=True)
            self._thread.start()
        self._wanted.set()

    def close(self) -> None:
        """Wait for a checkpoint under way and end the thread."""
        if self._thread is not None:
            self._closing = True
            self._wanted.set()
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        db = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        try:
            while True:
                self._wanted.wait()
                self._wanted.clear()
                if self._closing:
                    return
                try:
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as exc:
                    logger.warning("Checkpointing the journal {} failed ({}); trying again later", self._path, exc)
                else:
                    self.done += 1
        finally:
            db.close()
