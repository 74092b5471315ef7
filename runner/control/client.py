"""Talks to a running daemon's control API: what `botrunner status`, `start`, `kill`... call.

    async with ControlClient(socket_path(Path("state"))) as client:
        for bot in await client.bots():
            print(bot.id, bot.state)

ControlClientError ─┬─ DaemonNotRunning        nothing listens: start one with `botrunner run`
                    ├─ DaemonNotResponding     it listens but did not answer in time
                    └─ ControlRequestFailed    it answered with an error (status, message, problems)
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

from pydantic import BaseModel, ValidationError

from runner.basket.status import BasketStatus
from runner.control.client_http import MalformedReply, Reply, exchange
from runner.control.endpoints import SOCKET_NAME, check_socket_path_length
from runner.control.governance_status import GovernanceStatus
from runner.control.status import BotStatus, ReloadResult

M = TypeVar("M", bound=BaseModel)

DEFAULT_TIMEOUT_SECS = 10.0


def socket_path(state_dir: Path) -> Path:
    """Where the daemon listens and clients look: `<state-dir>/botrunner.sock`."""
    return state_dir / SOCKET_NAME


class ControlClientError(Exception):
    """A control request got no useful answer; the message is for the operator."""


class DaemonNotRunning(ControlClientError):
    """Nothing listens where the daemon should (no socket file, a stale one, or a refused port)."""


class DaemonNotResponding(ControlClientError):
    """The daemon accepted the connection but did not answer within the timeout."""


class ControlRequestFailed(ControlClientError):
    """The daemon answered with an error: 404 unknown bot, 409 wrong state, 422 bad config..."""

    def __init__(self, status: int, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.problems = problems or []


class ControlClient:
    """One daemon's control API, over its Unix socket (no token) or a loopback URL (token).

    Every request is bounded by `timeout_secs`, and goes on a connection of its own (the
    stdlib's streams, `runner.control.client_http`: no aiohttp to import for a command). Use as an
    async context manager, or call `aclose()`. Raises the `ControlClientError` subclasses above.
    """

    def __init__(self, socket_path: Path | None = None, *, url: str | None = None,
                 token: str | None = None, timeout_secs: float = DEFAULT_TIMEOUT_SECS) -> None:
        if (socket_path is None) == (url is None):
            raise ValueError("give exactly one of socket_path and url")
        self._socket_path = socket_path
        self._base_url = url.rstrip("/") if url else "http://botrunner"
        # The socket asks for no token: none is sent there, so one that cannot be sent stops nothing.
        self._headers = {"Authorization": f"Bearer {token}"} if token and url is not None else {}
        self._timeout_secs = timeout_secs

    async def __aenter__(self) -> ControlClient:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Nothing stays open between requests; kept so that callers close what they open."""

    async def health(self) -> dict[str, Any]:
        return await self._request("GET", "/health")

    async def bots(self) -> list[BotStatus]:
        return [_parse(BotStatus, item) for item in await self._request("GET", "/bots")]

    async def bot(self, bot_id: str) -> BotStatus:
        return _parse(BotStatus, await self._request("GET", _bot_path(bot_id)))

    async def basket(self, basket_id: str) -> BasketStatus:
        """A basket whole (`runner.basket.status`); 404 (ControlRequestFailed) for an id of no basket."""
        return _parse(BasketStatus, await self._request("GET", f"/baskets/{quote(basket_id, safe='')}"))

    async def bot_or_basket(self, bot_id: str) -> BotStatus | BasketStatus:
        """The bot `bot_id`, or else the basket of that id (`botrunner status ID`)."""
        try:
            return await self.bot(bot_id)
        except ControlRequestFailed as exc:
            if exc.status != 404:
                raise
            try:
                return await self.basket(bot_id)
            except ControlRequestFailed:
                raise exc from None               # no basket either: the bot's message, which lists the bots

    async def start(self, bot_id: str) -> BotStatus:
        return _parse(BotStatus, await self._request("POST", _bot_path(bot_id, "start")))

    async def stop(self, bot_id: str) -> BotStatus:
        return _parse(BotStatus, await self._request("POST", _bot_path(bot_id, "stop")))

    async def kill(self, bot_id: str, reason: str) -> BotStatus:
        return _parse(BotStatus, await self._request("POST", _bot_path(bot_id, "kill"), {"reason": reason}))

    async def kill_all(self, reason: str) -> list[BotStatus]:
        return [_parse(BotStatus, item) for item in await self._request("POST", "/kill", {"reason": reason})]

    async def resume(self, bot_id: str) -> BotStatus:
        return _parse(BotStatus, await self._request("POST", _bot_path(bot_id, "resume")))

    async def resume_all(self) -> list[BotStatus]:
        """Cluster: release the global kill switch."""
        return [_parse(BotStatus, item) for item in await self._request("POST", "/resume")]

    async def move(self, bot_id: str, node: str) -> dict[str, Any]:
        """Cluster: ask for the bot to run on `node`."""
        return await self._request("POST", _bot_path(bot_id, "move"), {"node": node})

    async def cluster(self) -> dict[str, Any]:
        return await self._request("GET", "/cluster")

    async def trigger(self, bot_id: str) -> BotStatus:
        return _parse(BotStatus, await self._request("POST", _bot_path(bot_id, "trigger")))

    async def reload(self) -> ReloadResult:
        return _parse(ReloadResult, await self._request("POST", "/reload"))

    async def promote(self, bot_id: str) -> GovernanceStatus:
        return _parse(GovernanceStatus, await self._request("POST", _bot_path(bot_id, "promote")))

    async def demote(self, bot_id: str) -> GovernanceStatus:
        return _parse(GovernanceStatus, await self._request("POST", _bot_path(bot_id, "demote")))

    async def governance(self, bot_id: str | None = None) -> list[GovernanceStatus]:
        path = _bot_path(bot_id, "governance") if bot_id else "/governance"
        return [_parse(GovernanceStatus, item) for item in await self._request("GET", path)]

    async def metrics(self) -> str:
        return await self._request("GET", "/metrics", expect_json=False)

    @property
    def _target(self) -> str:
        return str(self._socket_path) if self._socket_path is not None else self._base_url

    def _not_running(self) -> DaemonNotRunning:
        where = (f"no control socket at {self._socket_path}" if self._socket_path is not None
                 else f"nothing answers at {self._base_url}")
        return DaemonNotRunning(f"no botrunner daemon is running ({where}); start one with: botrunner run")

    async def _request(self, method: str, path: str, body: dict[str, Any] | None = None, *,
                       expect_json: bool = True) -> Any:
        if self._socket_path is not None:
            try:
                check_socket_path_length(self._socket_path)
            except ValueError as exc:
                raise ControlClientError(str(exc)) from None
            if not self._socket_path.exists():
                raise self._not_running()
        try:
            async with asyncio.timeout(self._timeout_secs):
                reply = await self._exchange(method, path, None if body is None else json.dumps(body).encode())
        except TimeoutError as exc:
            raise DaemonNotResponding(f"the botrunner daemon at {self._target} did not answer {method} {path} "
                                      f"within {self._timeout_secs:g}s") from exc
        if reply.status >= 400:
            raise _failure(reply.status, reply.text)
        if not expect_json:
            return reply.text
        try:
            return json.loads(reply.text)
        except ValueError:
            raise ControlRequestFailed(reply.status, f"the daemon sent a reply that is not JSON: "
                                                     f"{reply.text[:200]!r}") from None

    async def _exchange(self, method: str, path: str, body: bytes | None) -> Reply:
        url = urlsplit(self._base_url)
        try:
            port = url.port or 80
        except ValueError:              # a port that is not a number, or out of range
            port = None
        if url.scheme != "http" or not url.hostname or port is None:
            raise ControlClientError(f"cannot reach {self._base_url}: the control API speaks plain HTTP on "
                                     "loopback; give a URL like http://127.0.0.1:8765")
        if any(c in value for value in self._headers.values() for c in "\r\n\0"):
            # Never the token itself in the message: it would land in a terminal's scrollback.
            raise ControlClientError("the token (BOTRUNNER_TOKEN) holds a line break or a NUL, which an HTTP "
                                     "header cannot carry; set it to the daemon's token")
        if not all(value.isascii() for value in self._headers.values()):
            raise ControlClientError("the token (BOTRUNNER_TOKEN) holds a character other than printable ASCII, which "
                                     "the daemon's token never does; set it to the daemon's token")
        try:
            if self._socket_path is not None:
                reader, writer = await asyncio.open_unix_connection(str(self._socket_path))
            else:
                reader, writer = await asyncio.open_connection(url.hostname, port)
        except (ConnectionRefusedError, FileNotFoundError) as exc:
            # Refused: the socket file outlived its daemon (a crash, or kill -9), or no one is on the port.
            raise self._not_running() from exc
        except OSError as exc:
            # PermissionError, most often: the daemon runs as another user.
            raise ControlClientError(f"cannot reach the botrunner daemon at {self._target}: {exc}") from exc
        try:
            return await exchange(reader, writer, method, url.path + path, host=url.netloc,
                                  headers=self._headers, body=body)
        except (MalformedReply, OSError) as exc:
            raise ControlClientError(f"{method} {path} failed: {type(exc).__name__}: {exc}") from exc
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass                    # reset by the daemon after its reply: the reply is what counts


def _bot_path(bot_id: str, action: str | None = None) -> str:
    path = f"/bots/{quote(bot_id, safe='')}"
    return f"{path}/{action}" if action else path


def _parse(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ControlClientError(f"the daemon's reply does not fit this botrunner's {model.__name__} "
                                 f"(is the daemon another version?): {exc}") from None


def _failure(status: int, text: str) -> ControlRequestFailed:
    """The daemon's `{"error": ..., "problems": [...]}`, or the raw text if something else answered."""
    try:
        payload = json.loads(text)
    except ValueError:
        payload = None
    if isinstance(payload, dict) and isinstance(payload.get("error"), str):
        problems = payload.get("problems")
        return ControlRequestFailed(status, payload["error"], problems if isinstance(problems, list) else None)
    return ControlRequestFailed(status, f"HTTP {status}: {text[:200] or 'no body'}")
