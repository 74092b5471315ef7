"""ControlClient against small servers on a real Unix socket that answer as no daemon would:
silence, a reply cut short, a chunked body, text that is not JSON; and what it refuses to send."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from runner.control.client import ControlClient, ControlClientError, ControlRequestFailed, DaemonNotResponding

Answer = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture
async def answering(sock_dir):
    """Factory: a Unix socket server that reads a request's head and answers with `answer`; it
    records each request's head. Returns (socket path, heads)."""
    servers, heads = [], []

    async def start(answer: Answer):
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            heads.append((await reader.readuntil(b"\r\n\r\n")).decode())
            try:
                await answer(reader, writer)
            finally:
                writer.close()

        path = sock_dir / "botrunner.sock"
        servers.append(await asyncio.start_unix_server(handle, str(path)))
        return path, heads

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


def reply(head: str, body: bytes) -> Answer:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        await writer.drain()
    return answer


async def test_a_daemon_that_accepts_but_never_answers_is_not_responding_within_the_timeout(answering):
    never = asyncio.Event()

    async def silent(reader, writer):
        await never.wait()

    path, _ = await answering(silent)
    async with ControlClient(path, timeout_secs=0.2) as client:
        with pytest.raises(DaemonNotResponding, match=r"did not answer GET /bots within 0.2s"):
            await client.bots()


async def test_a_reply_cut_short_is_a_failed_request_naming_it(answering):
    path, _ = await answering(reply("HTTP/1.1 200 OK\nContent-Length: 100\n", b'[{"id": '))
    async with ControlClient(path) as client:
        with pytest.raises(ControlClientError, match=r"GET /health failed: .*closed before the reply was whole"):
            await client.health()


async def test_a_chunked_reply_is_read_whole(answering):
    body = b'{"status": "ok",' + b' "bots": 3}'
    chunked = b"10\r\n" + body[:16] + b"\r\n" + f"{len(body) - 16:x}".encode() + b"\r\n" + body[16:] + b"\r\n0\r\n\r\n"
    path, _ = await answering(reply("HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n", chunked))
    async with ControlClient(path) as client:
        assert await client.health() == {"status": "ok", "bots": 3}


async def test_a_reply_that_is_not_json_says_so_with_its_start(answering):
    path, _ = await answering(reply("HTTP/1.1 200 OK\nContent-Length: 9\n", b"<html>hi!"))
    async with ControlClient(path) as client:
        with pytest.raises(ControlRequestFailed, match=r"not JSON: '<html>hi!'"):
            await client.health()


async def test_an_error_reply_carries_the_daemons_message_and_problems(answering):
    body = b'{"error": "config has problems", "problems": ["bots/a.yaml: symbol: missing"]}'
    path, heads = await answering(reply(f"HTTP/1.1 422 Unprocessable\nContent-Length: {len(body)}\n", body))
    async with ControlClient(path) as client:
        with pytest.raises(ControlRequestFailed) as failed:
            await client.kill("a", "looking")
    assert (failed.value.status, failed.value.message, failed.value.problems) == (
        422, "config has problems", ["bots/a.yaml: symbol: missing"])
    assert heads[0].startswith("POST /bots/a/kill HTTP/1.1\r\n") and "Content-Type: application/json" in heads[0]


async def test_a_token_that_would_break_the_request_head_is_refused_without_being_shown(answering):
    path, heads = await answering(reply("HTTP/1.1 200 OK\nContent-Length: 2\n", b"{}"))
    async with ControlClient(url="http://127.0.0.1:1", token="secret-part\r\nX-Evil: 1") as client:
        with pytest.raises(ControlClientError, match="holds a line break") as refused:
            await client.health()
    assert "secret-part" not in str(refused.value) and heads == []


async def test_a_token_that_is_not_ascii_is_refused_without_being_shown(answering):
    # Before: UnicodeEncodeError, a traceback, from writing the request head.
    path, heads = await answering(reply("HTTP/1.1 200 OK\nContent-Length: 2\n", b"{}"))
    async with ControlClient(url="http://127.0.0.1:1", token="secret-part-\U0001f511") as client:
        with pytest.raises(ControlClientError) as refused:
            await client.health()
    assert str(refused.value) == ("the token (BOTRUNNER_TOKEN) holds a character other than printable ASCII, which "
                                  "the daemon's token never does; set it to the daemon's token")
    assert heads == []


async def test_the_socket_sends_no_token_and_ignores_one_it_could_not_send(answering):
    # Before: status over the socket with BOTRUNNER_TOKEN set to a non-ASCII value raised
    # UnicodeEncodeError, though the socket asks for no token.
    path, heads = await answering(reply("HTTP/1.1 200 OK\nContent-Length: 2\n", b"{}"))
    async with ControlClient(path, token="secret-part-\U0001f511") as client:
        await client.health()
    assert "Authorization" not in heads[0]


@pytest.mark.parametrize("url", ["https://127.0.0.1:8765", "http://127.0.0.1:port", "127.0.0.1:8765"])
async def test_a_url_the_control_api_cannot_speak_names_the_form_it_needs(url):
    async with ControlClient(url=url) as client:
        with pytest.raises(ControlClientError, match=r"give a URL like http://127.0.0.1:8765"):
            await client.health()
