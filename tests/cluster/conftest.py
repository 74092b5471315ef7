"""Real Redis and PostgreSQL servers on 127.0.0.1 for the cluster tests.

One of each starts at most once per test session (on first use) from a temporary folder and a
free port, and stops at the end. Each test gets a fresh database (`postgres_url`) and an empty
Redis (`redis_url`: the server is flushed before the test) plus a key prefix of its own
(`redis_key_prefix`). Where a server's program is missing the tests that need it are skipped,
except where `CI` is set (CI=true), where that is a failure: the suite must not pass in CI by skipping.
"""

from __future__ import annotations

import asyncio
import os
import threading
import uuid

import pytest

from tests.cluster.servers import ServerUnavailable, start_postgres, start_redis


def _unavailable(why: str) -> None:
    if os.environ.get("CI"):              # as tests/conftest.py's shared_data: CI set means CI
        pytest.fail(f"{why}; CI is set, where the cluster tests must run", pytrace=False)
    pytest.skip(why)


def _import_or_unavailable(module: str):
    try:
        return __import__(module)
    except ImportError:
        _unavailable(f"the Python package {module} is not installed (pip install -e '.[cluster]')")


@pytest.fixture(scope="session")
def postgres_server():
    """The session's PostgreSQL server (a `tests.cluster.servers.LocalPostgres`)."""
    try:
        server = start_postgres()
    except ServerUnavailable as exc:
        _unavailable(str(exc))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server():
    """The session's Redis server (a `tests.cluster.servers.LocalRedis`)."""
    try:
        server = start_redis()
    except ServerUnavailable as exc:
        _unavailable(str(exc))
    yield server
    server.stop()


def _in_own_loop(coroutine) -> None:
    """Run `coroutine` to its end on a thread of its own: an async test's loop may be running."""
    failure: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(coroutine)
        except BaseException as exc:       # raised again on the caller's thread
            failure.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]


@pytest.fixture
def postgres_url(postgres_server) -> str:
    """A URL (user postgres, no password, 127.0.0.1) of a database made for this test alone,
    dropped after it."""
    asyncpg = _import_or_unavailable("asyncpg")
    name = f"t_{uuid.uuid4().hex[:12]}"

    async def admin(sql: str) -> None:
        connection = await asyncpg.connect(postgres_server.url("postgres"))
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    _in_own_loop(admin(f"CREATE DATABASE {name}"))
    yield postgres_server.url(name)
    _in_own_loop(admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture
def redis_url(redis_server) -> str:
    """The session's Redis server, emptied for this test (tests do not run in parallel)."""
    redis = _import_or_unavailable("redis")
    client = redis.Redis.from_url(redis_server.url)
    try:
        client.flushall()
    finally:
        client.close()
    return redis_server.url


@pytest.fixture
def pg_nodes(postgres_url):
    """Two `PostgresJournal`s on this test's database, as two nodes have (each its own connection
    pool and thread); closed after the test."""
    from runner.cluster.postgres import PostgresJournal     # here: asyncpg is an optional extra

    a, b = PostgresJournal.open(postgres_url), PostgresJournal.open(postgres_url)
    yield a, b
    a.close()
    b.close()


@pytest.fixture
def redis_key_prefix() -> str:
    """A key prefix no other test uses, for code that takes one."""
    return f"t{uuid.uuid4().hex[:12]}:"
