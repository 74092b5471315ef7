"""`botrunner journal BOT --postgres-url-env NAME`: a cluster's journal, read from PostgreSQL.

A reader migrates nothing (the nodes do, when they start; a tool run beside them must not
change the schema under them), and names the database by its masked URL.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import NoReturn

from runner.cluster.postgres.errors import StorageError
from runner.cluster.postgres.journal import PostgresJournal
from runner.cluster.postgres.url import url_from_environment
from runner.state.journal import JournalEvent


def read_events(bot_id: str, url_env: str, *, kinds: tuple[str, ...] | None, fail: Callable[..., NoReturn],
                environ: Mapping[str, str] | None = None) -> tuple[list[JournalEvent], str, bool]:
    """The bot's events (of `kinds`), where they were read (the masked URL), and whether
    `bot_id` is a basket's (no bot of its own, as `kill` and `resume` take it): then its legs'
    events, as the SQLite journal's reader lists them. A missing variable, an unreachable
    database or an unknown schema goes to `fail(problems, code=1)`."""
    try:
        url = url_from_environment(url_env, os.environ if environ is None else environ, setting="--postgres-url-env")
        journal = PostgresJournal.open(url, max_connections=1, migrate_schema=False)
    except (StorageError, ConnectionError) as exc:
        fail([str(exc)], code=1)
    try:
        basket = "." not in bot_id and not journal.last_seq(bot_id) and bool(journal.basket_events(bot_id, limit=1))
        read = journal.basket_events if basket else journal.events
        return read(bot_id, kinds=kinds), journal.url, basket
    finally:
        journal.close()
