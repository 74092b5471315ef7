"""The dashboard's routes on the control API: the page, its event stream, history and journal."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from runner.control.server import serve_control
from runner.state.journal import JournalEvent, SqliteJournal
from tests.fakes import FakeManager, make_status


@pytest.fixture
def journal(sock_dir):
    journal = SqliteJournal(sock_dir / "journal.sqlite3")
    yield journal
    journal.close()


@pytest.fixture
def manager():
    return FakeManager([make_status("btc-ema", "running", equity=1010.0), make_status("eth-rsi", "stopped")])


@pytest.fixture
async def server(manager, journal):
    async with await serve_control(manager, socket_path=None, tcp=("127.0.0.1", 0), token="t",
                                   journal=journal) as server:
        yield server


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


async def next_event(response: aiohttp.ClientResponse) -> tuple[str, dict]:
    fields = {}
    async with asyncio.timeout(5):
        while True:
            line = (await response.content.readline()).decode().rstrip("\n")
            if not line and fields:
                return fields["event"], json.loads(fields["data"])
            if line and not line.startswith(":"):
                key, _, value = line.partition(": ")
                fields[key] = value


async def test_the_page_and_its_files_are_served(server, http):
    async with http.get(server.url + "/") as page:
        assert page.status == 200 and page.content_type == "text/html"
        html = await page.text()
    for path in ("static/dashboard.js", "static/dashboard.css", "static/vendor/uPlot.iife.min.js"):
        assert path in html
        async with http.get(f"{server.url}/{path}") as response:
            assert response.status == 200 and len(await response.read()) > 1000


async def test_the_stream_starts_with_every_bot_then_sends_what_changed(server, http, manager):
    async with http.get(server.url + "/events") as response:
        assert response.content_type == "text/event-stream"
        name, snapshot = await next_event(response)
        assert name == "snapshot" and [row[0] for row in snapshot["rows"]] == ["btc-ema", "eth-rsi"]

        manager.bots["eth-rsi"] = make_status("eth-rsi", "running")
        server.feed.sample()
        name, delta = await next_event(response)

    assert name == "delta"
    assert delta == {"changed": {"eth-rsi": [[snapshot["fields"].index("state"), "running"]]}, "removed": []}


async def test_closing_the_server_ends_open_streams_at_once(manager):
    server = await serve_control(manager, socket_path=None, tcp=("127.0.0.1", 0), token="t")
    async with aiohttp.ClientSession() as http, http.get(server.url + "/events") as response:
        await next_event(response)
        async with asyncio.timeout(2):           # the runner would otherwise wait out its 5 s grace
            await server.aclose()
            assert await response.content.read() == b""


async def test_history_of_an_unknown_bot_is_404_and_a_silly_size_is_400(server, http):
    async with http.get(server.url + "/bots/doge/history") as response:
        assert response.status == 404
    async with http.get(server.url + "/bots/btc-ema/history?points=1000000") as response:
        assert response.status == 400
        assert "points must be between" in (await response.json())["error"]


async def test_history_starts_from_the_fills_journalled_before_the_daemon_started(manager, http, journal):
    journal.record(JournalEvent("btc-ema", "fill", 60_000, {"cash": 400.0, "position": 0.02, "price": 30_000.0},
                                key="f1"))
    async with await serve_control(manager, socket_path=None, tcp=("127.0.0.1", 0), token="t",
                                   journal=journal) as server:
        async with http.get(server.url + "/bots/btc-ema/history") as response:
            history = await response.json()

    assert (history["ts_ms"], history["equity"]) == ([60_000], [1000.0])


async def test_the_journal_endpoint_gives_the_latest_events_newest_first(server, http, journal):
    for i in range(5):
        journal.record(JournalEvent("btc-ema", "fill" if i % 2 else "order", 60_000 * i, {"i": i}, key=f"k{i}"))
    journal.record(JournalEvent("eth-rsi", "fill", 0, {"i": 99}, key="other"))

    async with http.get(server.url + "/bots/btc-ema/journal?kinds=fill&limit=10") as response:
        fills = await response.json()
    async with http.get(server.url + "/bots/btc-ema/journal?limit=2") as response:
        latest = await response.json()

    assert [e["data"]["i"] for e in fills] == [3, 1]
    assert [(e["kind"], e["data"]["i"]) for e in latest] == [("order", 4), ("fill", 3)]
