"""Database URLs: read from the environment (they may carry a password), printed masked.

A URL with a password never goes in `daemon.yaml`: the config names the environment variable
that holds it (`postgres_url_env`, say), and every message that names the database shows it
through `mask`, which replaces the password.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

from runner.cluster.postgres.errors import MissingDatabaseUrl

MASK = "***"


def mask(url: str) -> str:
    """`url` with its password (if any) replaced by `***`, for logs and messages.

        >>> mask("postgresql://bot:s3cret@db.lan:5432/botrunner")
        'postgresql://bot:***@db.lan:5432/botrunner'
    """
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:                   # not parseable: show nothing of it rather than a secret
        return f"<unparseable URL, {len(url)} characters>"
    if password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:{MASK}@{host}"))


def url_from_environment(variable: str, environ: Mapping[str, str], *, setting: str) -> str:
    """The URL held by `variable`. Raises MissingDatabaseUrl naming `setting` (where the
    variable's name came from) when it is unset or empty."""
    url = environ.get(variable, "").strip()
    if not url:
        raise MissingDatabaseUrl(f"{setting}: the environment variable {variable} is not set; it must hold the "
                                 f"PostgreSQL URL, e.g. postgresql://botrunner:PASSWORD@127.0.0.1:5432/botrunner")
    return url
