"""One HTTP/1.1 request on a connection of its own: what `ControlClient` sends the daemon.

The control API is small JSON over a Unix socket or loopback TCP, asked once per command, so
`botrunner status` and `kill` need no connection pool, no redirects and no TLS. aiohttp's client
cost them about 0.1 s of imports (a third of the command); asyncio's streams, used here, are
loaded with asyncio already. The daemon's server is aiohttp's: its replies carry a
Content-Length; a chunked body, or one that ends when the connection does, is read too.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

__all__ = ["MalformedReply", "Reply", "exchange"]



@dataclass(frozen=True, slots=True)
class Reply:
    """The daemon's answer: its HTTP status and its body as text."""

    status: int
    text: str


class MalformedReply(Exception):
    """What came back is not an HTTP reply, or ended before it was whole."""


async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, method: str, target: str, *,
                   host: str, headers: dict[str, str], body: bytes | None = None) -> Reply:
    """Send one request on the open connection and read its reply; the caller closes the writer.
    Raises MalformedReply, or OSError when the connection fails on the way."""
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", "Connection: close", "Accept: */*",
             *(f"{name}: {value}" for name, value in headers.items())]
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b""))
    await writer.drain()
    try:
        status, fields = await _head(reader)
        data = await _body(reader, fields, method)
    except asyncio.IncompleteReadError:
        raise MalformedReply("the connection closed before the reply was whole") from None
    except asyncio.LimitOverrunError:
        raise MalformedReply("a line of the reply is longer than a stream reads (64 KiB)") from None
    except ValueError:                        # a chunk size that is not hexadecimal
        raise MalformedReply("a chunked reply with a chunk size that is not a number") from None
    return Reply(status, data.decode(_charset(fields.get("content-type", "")), errors="replace"))


async def _head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    status_line = (await reader.readuntil(b"\r\n")).decode("latin-1").rstrip("\r\n")
    version, _, rest = status_line.partition(" ")
    code = rest[:3]
    if not version.startswith("HTTP/1.") or not code.isdigit():
        raise MalformedReply(f"not an HTTP reply: {status_line[:100]!r}")
    fields: dict[str, str] = {}
    while (line := (await reader.readuntil(b"\r\n")).decode("latin-1").rstrip("\r\n")):
        name, colon, value = line.partition(":")
        if not colon:
            raise MalformedReply(f"a header line without a colon: {line[:100]!r}")
        fields[name.strip().lower()] = value.strip()
    return int(code), fields


async def _body(reader: asyncio.StreamReader, fields: dict[str, str], method: str) -> bytes:
    if method == "HEAD":
        return b""
    if "chunked" in fields.get("transfer-encoding", "").lower():
        parts = []
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)                          # the CRLF after each chunk
        while await reader.readuntil(b"\r\n") != b"\r\n":       # trailers, if any
            pass
        return b"".join(parts)
    if (length := fields.get("content-length")) is not None:
        if not length.isdigit():
            raise MalformedReply(f"a Content-Length that is not a number: {length[:40]!r}")
        return await reader.readexactly(int(length))
    return await reader.read()                                 # Connection: close ends it


def _charset(content_type: str) -> str:
    for param in content_type.split(";")[1:]:
        name, _, value = param.strip().partition("=")
        if name.lower() == "charset" and value:
            charset = value.strip('"')
            try:
                "".encode(charset)
            except LookupError:
                break
            return charset
    return "utf-8"
