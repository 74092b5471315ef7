"""Who may do what on loopback TCP: reads need no token, actions need it, and no other site can
act through a browser (Origin, Sec-Fetch-Site, form bodies)."""

from __future__ import annotations

import aiohttp
import pytest

from runner.control.server import serve_control
from tests.fakes import FakeManager, make_status

TOKEN = "s3cret-t0ken"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def manager():
    return FakeManager([make_status("btc-ema", "running"), make_status("eth-rsi", "stopped")])


@pytest.fixture
async def server(manager):
    async with await serve_control(manager, socket_path=None, tcp=("127.0.0.1", 0), token=TOKEN) as server:
        yield server


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.mark.parametrize("path", ["/health", "/bots", "/bots/btc-ema", "/bots/btc-ema/history",
                                  "/bots/btc-ema/journal", "/metrics", "/", "/static/dashboard.js"])
async def test_reads_need_no_token_on_loopback(server, http, path):
    async with http.get(server.url + path) as response:
        assert response.status == 200


@pytest.mark.parametrize(("path", "body"), [("/bots/btc-ema/stop", None), ("/bots/btc-ema/kill", {"reason": "x"}),
                                            ("/kill", {"reason": "x"}), ("/reload", None)])
async def test_an_action_without_the_token_is_401_and_does_nothing(server, http, manager, path, body):
    async with http.post(server.url + path, json=body) as response:
        assert response.status == 401
        assert "token" in (await response.json())["error"]
    assert manager.calls == []


async def test_an_action_with_the_token_from_this_origin_is_done(server, http, manager):
    async with http.post(server.url + "/bots/btc-ema/kill", json={"reason": "from the page"},
                         headers={**AUTH, "Origin": server.url, "Sec-Fetch-Site": "same-origin"}) as response:
        assert response.status == 200
    assert manager.calls == [("kill", "btc-ema", "from the page")]


@pytest.mark.parametrize("headers", [{"Origin": "https://evil.example"}, {"Origin": "null"},
                                     {"Origin": "http://127.0.0.1:1"},
                                     {"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"}])
async def test_an_action_from_another_site_is_403_even_with_the_token(server, http, manager, headers):
    async with http.post(server.url + "/bots/btc-ema/kill", json={"reason": "csrf"},
                         headers={**AUTH, **headers}) as response:
        assert response.status == 403
        assert "cross-site" in (await response.json())["error"]
    assert manager.calls == []


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                                          "text/plain"])
async def test_an_action_with_a_form_body_is_415(server, http, manager, content_type):
    async with http.post(server.url + "/bots/btc-ema/kill", data=b'{"reason": "form"}',
                         headers={**AUTH, "Content-Type": content_type}) as response:
        assert response.status == 415
    assert manager.calls == []


async def test_a_read_for_a_host_that_is_not_loopback_needs_the_token(server, http):
    # A site re-pointing its own name at 127.0.0.1 (DNS rebinding) sends its name as Host.
    async with http.get(server.url + "/bots", headers={"Host": "evil.example"}) as response:
        assert response.status == 401
    async with http.get(server.url + "/bots", headers={"Host": "evil.example", **AUTH}) as response:
        assert response.status == 200
    async with http.get(server.url + "/bots", headers={"Host": "localhost:8765"}) as response:
        assert response.status == 200


async def test_a_wrong_token_is_refused_even_on_a_read(server, http):
    async with http.get(server.url + "/bots", headers={"Authorization": "Bearer nope"}) as response:
        assert response.status == 401
