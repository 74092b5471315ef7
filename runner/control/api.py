"""The daemon's control API: JSON over HTTP on a Unix socket (0600), optionally loopback TCP.

    GET  /health                {"ok": true, "bots": N}
    GET  /bots                  [BotStatus, ...]                  GET /bots/{id}   BotStatus
    POST /bots/{id}/start       BotStatus                         POST /bots/{id}/stop    BotStatus
    POST /bots/{id}/kill        {"reason": "..."} -> BotStatus    POST /bots/{id}/resume  BotStatus
    POST /kill                  {"reason": "..."} -> [BotStatus, ...]   (every bot)
    POST /reload                ReloadResult, or 422 {"error": ..., "problems": [...]}
    GET  /metrics               Prometheus text 0.0.4

Errors are `{"error": "message"}`: 400 bad body, 401 token, 404 unknown bot, 409 wrong state.
Whoever can open the socket file may trade, so the file is 0600 and needs no token; TCP is
loopback only and needs the bearer token (an SSH tunnel or a local scraper, never the network).
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import os
import socket
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import Annotated, Any, Protocol, TypeVar

from aiohttp import web
from loguru import logger
from pydantic import BaseModel, StringConstraints, ValidationError

from market.strict import StrictModel
from runner.config.bot import ConfigError
from runner.control.client import check_socket_path_length
from runner.control.errors import BotStateError, ControlError, UnknownBot
from runner.control.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from runner.control.metrics import render_prometheus
from runner.control.status import BotStatus, ReloadResult

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

# Long enough for a stop or kill in flight to finish when the daemon shuts down.
SHUTDOWN_GRACE_SECS = 5.0
_PROBE_TIMEOUT_SECS = 1.0


class BotControl(Protocol):
    """What the API needs from the daemon: `BotManager` in production, a fake in tests."""

    def statuses(self) -> list[BotStatus]: ...
    def status(self, bot_id: str) -> BotStatus: ...
    async def start(self, bot_id: str) -> BotStatus: ...
    async def stop(self, bot_id: str) -> BotStatus: ...
    async def kill(self, bot_id: str, reason: str) -> BotStatus: ...
    async def kill_all(self, reason: str) -> list[BotStatus]: ...
    async def resume(self, bot_id: str) -> BotStatus: ...
    async def reload(self) -> ReloadResult: ...


class ControlSocketInUse(RuntimeError):
    """Another daemon answers on the control socket (or the path is not a socket): not ours to delete."""


class KillRequest(StrictModel):
    """Body of the kill endpoints: the reason is logged and shown by `botrunner status`."""


    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class _BadRequest(Exception):
    """The request body is not what the endpoint takes; the message says what is wrong."""


_ERROR_STATUS: tuple[tuple[type[Exception], int], ...] = (
    (UnknownBot, 404), (BotStateError, 409), (ControlError, 409), (_BadRequest, 400),
)

_MANAGER = web.AppKey("manager", BotControl)
_HEALTH_PROBLEMS = web.AppKey("health_problems", Callable[[], list[str]])


def build_control_app(manager: BotControl, *, token: str | None = None,
                      health_problems: Callable[[], list[str]] = list) -> web.Application:
    """The aiohttp application for `manager`. With `token`, every request must carry
    `Authorization: Bearer <token>`; without, anyone who can connect is trusted (the Unix socket).
    `health_problems()` lists what is wrong with the daemon itself (its journal deleted, say);
    `/health` reports them, with `ok: false`."""
    middlewares = [_json_errors] + ([_bearer_auth(token)] if token else [])
    app = web.Application(middlewares=middlewares)
    app[_MANAGER] = manager
    app[_HEALTH_PROBLEMS] = health_problems
    app.add_routes([
        web.get("/health", _health),
        web.get("/bots", _list_bots),
        web.get("/bots/{bot_id}", _get_bot),
        web.post("/bots/{bot_id}/start", _start),
        web.post("/bots/{bot_id}/stop", _stop),
        web.post("/bots/{bot_id}/kill", _kill),
        web.post("/bots/{bot_id}/resume", _resume),
        web.post("/kill", _kill_all),
        web.post("/reload", _reload),
        web.get("/metrics", _metrics),
    ])
    return app


class ControlServer:
    """The listening control API; `aclose()` stops it and removes the socket file it created."""

    def __init__(self) -> None:
        self._runners: list[web.AppRunner] = []
        self._socket_inode: int | None = None
        self.socket_path: Path | None = None
        self.tcp_address: tuple[str, int] | None = None

    @property
    def url(self) -> str | None:
        """`http://host:port` of the TCP listener (the real port when 0 was asked), or None."""
        if self.tcp_address is None:
            return None
        host, port = self.tcp_address
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    async def __aenter__(self) -> ControlServer:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        while self._runners:
            await self._runners.pop().cleanup()
        if self.socket_path is not None and self._socket_inode is not None:
            # Only our own file: after a restart another daemon may have bound the same path.
            try:
                if os.lstat(self.socket_path).st_ino == self._socket_inode:
                    self.socket_path.unlink()
            except FileNotFoundError:
                pass
            self._socket_inode = None

    async def _serve(self, app: web.Application, sock: socket.socket) -> None:
        try:
            runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_GRACE_SECS)
            await runner.setup()
        except BaseException:
            sock.close()
            raise
        self._runners.append(runner)
        site = web.SockSite(runner, sock)
        try:
            await site.start()
        except BaseException:
            sock.close()
            raise


class ControlEndpointUnusable(ValueError):
    """The socket or TCP port cannot be listened on (a file in the way, the port taken); the
    message names the setting and the path or address."""


async def serve_control(manager: BotControl, *, socket_path: Path | None,
                        tcp: tuple[str, int] | None = None, token: str | None = None,
                        health_problems: Callable[[], list[str]] = list) -> ControlServer:
    """Start the control API on `socket_path` (created 0600) and/or loopback `tcp` (needs `token`).

    A stale socket file (no process answers on it) is replaced. Raises ControlSocketInUse when
    another daemon answers there, and ValueError for a non-loopback host, TCP without a token,
    or a socket path too long for AF_UNIX, ControlEndpointUnusable when the socket cannot be
    made or the port is taken. Port 0 picks a free port: see `ControlServer.url`.

        async with await serve_control(manager, socket_path=Path("state/botrunner.sock")):
            await stop.wait()
    """
    if socket_path is None and tcp is None:
        raise ValueError("the control API needs a socket path or a TCP address to listen on")
    if tcp is not None:
        host = _loopback_host(tcp[0])
        if not token:
            raise ValueError("the control API on TCP needs a token (set BOTRUNNER_TOKEN)")
    server = ControlServer()
    try:
        if socket_path is not None:
            sock = await _bind_unix(socket_path)
            server.socket_path, server._socket_inode = socket_path, os.stat(socket_path).st_ino
            await server._serve(build_control_app(manager, health_problems=health_problems), sock)
            logger.info("Control API listening on {}", socket_path)
        if tcp is not None:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            try:
                sock = socket.create_server((host, tcp[1]), family=family)
            except OSError as exc:
                raise ControlEndpointUnusable(
                    f"control.tcp: cannot listen on {host}:{tcp[1]}: {exc.strerror or exc}") from None
            server.tcp_address = sock.getsockname()[:2]
            await server._serve(build_control_app(manager, token=token, health_problems=health_problems), sock)
            logger.info("Control API listening on {} (token required)", server.url)
    except BaseException:
        await server.aclose()
        raise
    return server


def _loopback_host(host: str) -> str:
    if host == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is None or not address.is_loopback:
        raise ValueError(f"the control API listens on loopback only (127.0.0.1, ::1 or localhost), "
                         f"not {host!r}; reach it from elsewhere through an SSH tunnel")
    return str(address)


async def _bind_unix(path: Path) -> socket.socket:
    check_socket_path_length(path)
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:          # a file where a folder of the path should be
        raise ControlEndpointUnusable(f"control.socket: cannot use {path}: {exc.strerror or exc}") from None
    if mode is not None:
        if not stat.S_ISSOCK(mode):
            raise ControlSocketInUse(f"{path} exists and is not a socket; refusing to replace it")
        if await _answers(path):
            raise ControlSocketInUse(f"another botrunner daemon is already listening on {path}; "
                                     f"stop it first, or give this one another --state-dir")
        logger.info("Removing stale control socket {} (no daemon answers on it)", path)
        path.unlink(missing_ok=True)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ControlEndpointUnusable(f"control.socket: cannot create the folder of {path}: "
                                      f"{exc.strerror or exc}") from None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    # The umask, not a chmod after bind: between bind and chmod another local user could connect.
    # umask is process-wide, so this stays one synchronous syscall with no await inside.
    previous = os.umask(0o177)
    try:
        sock.bind(str(path))
    except OSError as exc:
        sock.close()
        raise ControlEndpointUnusable(f"control.socket: cannot create a socket at {path}: "
                                      f"{exc.strerror or exc}") from None
    except BaseException:
        sock.close()
        raise
    finally:
        os.umask(previous)
    return sock


async def _answers(path: Path) -> bool:
    """Does a process accept connections on this socket file? Refused means a stale file."""
    try:
        async with asyncio.timeout(_PROBE_TIMEOUT_SECS):
            _, writer = await asyncio.open_unix_connection(str(path))
    except (ConnectionRefusedError, FileNotFoundError):
        return False
    except TimeoutError:
        return True                  # it exists and is busy: still not ours to delete
    except OSError as exc:
        raise ControlSocketInUse(f"cannot tell whether a daemon listens on {path}: {exc}") from exc
    writer.close()
    await writer.wait_closed()
    return True


@web.middleware
async def _json_errors(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                       ) -> web.StreamResponse:
    try:
        return await handler(request)
    except ConfigError as exc:
        return _error(422, f"the config folder has {len(exc.problems)} problem(s); nothing was changed",
                      problems=exc.problems)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = {404: f"no such endpoint: {request.path}",
                   405: f"{request.method} is not allowed on {request.path}"}.get(exc.status, exc.reason)
        return _error(exc.status, message)
    except Exception as exc:
        status = next((code for kind, code in _ERROR_STATUS if isinstance(exc, kind)), None)
        if status is None:
            logger.exception("Control request {} {} failed", request.method, request.path)
            return _error(500, f"internal error: {type(exc).__name__}: {exc}")
        return _error(status, str(exc))


def _bearer_auth(token: str) -> Callable[..., Awaitable[web.StreamResponse]]:
    expected = token.encode()

    @web.middleware
    async def check(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                    ) -> web.StreamResponse:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        # compare_digest: the time taken must not tell how much of a guessed token was right.
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(errors="replace"), expected):
            logger.warning("Control request {} {} refused: missing or wrong token", request.method, request.path)
            return _error(401, "missing or wrong token: send Authorization: Bearer <BOTRUNNER_TOKEN>",
                          headers={"WWW-Authenticate": "Bearer"})
        return await handler(request)

    return check


def _error(status: int, message: str, *, problems: list[str] | None = None,
           headers: dict[str, str] | None = None) -> web.Response:
    body: dict[str, Any] = {"error": message}
    if problems is not None:
        body["problems"] = problems
    return web.json_response(body, status=status, headers=headers)


async def _read_body(request: web.Request, model: type[M]) -> M:
    text = await request.text()
    try:
        data = json.loads(text) if text.strip() else {}
    except ValueError as exc:
        raise _BadRequest(f"the request body is not valid JSON: {exc}") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        details = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors())
        raise _BadRequest(f"bad request body: {details}") from None


async def _act(action: str, bot: str, call: Awaitable[T], outcome: Callable[[T], str]) -> T:
    """Run one control action and log one INFO line saying how it went, refusals included."""
    log = logger.bind(bot=bot)
    try:
        result = await call
    except ConfigError as exc:
        log.info("Control {}: refused, {} config problem(s), first: {}", action, len(exc.problems),
                 exc.problems[0] if exc.problems else "-")
        raise
    except (ControlError, _BadRequest) as exc:
        log.info("Control {}: refused, {}", action, exc)
        raise
    log.info("Control {}: {}", action, outcome(result))
    return result


def _json(model: BaseModel | list[BotStatus]) -> web.Response:
    if isinstance(model, list):
        return web.json_response([item.model_dump(mode="json") for item in model])
    return web.json_response(model.model_dump(mode="json"))


def _state(status: BotStatus) -> str:
    return f"now {status.state}"


async def _health(request: web.Request) -> web.Response:
    problems = request.app[_HEALTH_PROBLEMS]()
    return web.json_response({"ok": not problems, "bots": len(request.app[_MANAGER].statuses()),
                              **({"problems": problems} if problems else {})})


async def _list_bots(request: web.Request) -> web.Response:
    return _json(request.app[_MANAGER].statuses())


async def _get_bot(request: web.Request) -> web.Response:
    return _json(request.app[_MANAGER].status(request.match_info["bot_id"]))


async def _start(request: web.Request) -> web.Response:
    bot_id = request.match_info["bot_id"]
    return _json(await _act("start", bot_id, request.app[_MANAGER].start(bot_id), _state))


async def _stop(request: web.Request) -> web.Response:
    bot_id = request.match_info["bot_id"]
    return _json(await _act("stop", bot_id, request.app[_MANAGER].stop(bot_id), _state))


async def _resume(request: web.Request) -> web.Response:
    bot_id = request.match_info["bot_id"]
    return _json(await _act("resume", bot_id, request.app[_MANAGER].resume(bot_id), _state))


async def _kill(request: web.Request) -> web.Response:
    bot_id, manager = request.match_info["bot_id"], request.app[_MANAGER]

    async def kill() -> BotStatus:
        return await manager.kill(bot_id, (await _read_body(request, KillRequest)).reason)

    return _json(await _act("kill", bot_id, kill(), lambda s: f"now {s.state} (reason: {s.kill_reason})"))


async def _kill_all(request: web.Request) -> web.Response:
    manager = request.app[_MANAGER]

    async def kill_all() -> list[BotStatus]:
        return await manager.kill_all((await _read_body(request, KillRequest)).reason)

    return _json(await _act("kill all", "*", kill_all(),
                            lambda all_: ", ".join(f"{s.id} now {s.state}" for s in all_) or "no bots"))


async def _reload(request: web.Request) -> web.Response:
    result = await _act("reload", "*", request.app[_MANAGER].reload(),
                        lambda r: f"added {r.added}, removed {r.removed}, restarted {r.restarted}, "
                                  f"{len(r.unchanged)} unchanged")
    return _json(result)


async def _metrics(request: web.Request) -> web.Response:
    return web.Response(text=render_prometheus(request.app[_MANAGER].statuses()),
                        content_type=METRICS_CONTENT_TYPE)
