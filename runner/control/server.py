"""Listening for the control API: the Unix socket (0600, a stale file replaced, another daemon's
refused) and loopback TCP, checked as `runner.control.endpoints` checks them before the bots are
built. The application itself is `runner.control.api.build_control_app`."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from aiohttp import web
from loguru import logger

from runner.control.api import BotControl, build_control_app
from runner.control.endpoints import (ControlEndpointUnusable, ControlSocketInUse, bind_tcp, loopback_host,
                                      stale_socket_file)
from runner.notify.sender import SenderStats
from runner.control.dashboard import JournalView
from runner.control.live_feed import DashboardFeed

__all__ = ["ControlEndpointUnusable", "ControlServer", "ControlSocketInUse", "serve_control"]

# Long enough for a stop or kill in flight to finish when the daemon shuts down.
SHUTDOWN_GRACE_SECS = 5.0


class ControlServer:
    """The listening control API; `aclose()` stops it and removes the socket file it created."""

    def __init__(self) -> None:
        self._runners: list[web.AppRunner] = []
        self._feed_task: asyncio.Task | None = None
        self.feed: DashboardFeed | None = None
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
        if self.feed is not None:
            self.feed.close()           # the dashboards' streams end: the runners need not wait for them
        if self._feed_task is not None:
            self._feed_task.cancel()
            await asyncio.gather(self._feed_task, return_exceptions=True)
            self._feed_task = None
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


async def serve_control(manager: BotControl, *, socket_path: Path | None,
                        tcp: tuple[str, int] | None = None, token: str | None = None,
                        health_problems: Callable[[], list[str]] = list,
                        journal: JournalView | None = None,
                        notification_stats: Callable[[], list[SenderStats]] = list) -> ControlServer:
    """Start the control API on `socket_path` (created 0600) and/or loopback `tcp` (needs `token`).

    A stale socket file (no process answers on it) is replaced. Raises ControlSocketInUse when
    another daemon answers there, and ValueError for a non-loopback host, TCP without a token,
    or a socket path too long for AF_UNIX, ControlEndpointUnusable when the socket cannot be
    made or the port is taken. Port 0 picks a free port: see `ControlServer.url`. The web
    dashboard (runner.control.dashboard) is served on both; one feed samples the bots for all
    its viewers, and `journal` gives it each bot's fills and events.

        async with await serve_control(manager, socket_path=Path("state/botrunner.sock")):
            await stop.wait()
    """
    if socket_path is None and tcp is None:
        raise ValueError("the control API needs a socket path or a TCP address to listen on")
    if tcp is not None:
        host = loopback_host(tcp[0])
        if not token:
            raise ValueError("the control API on TCP needs a token (set BOTRUNNER_TOKEN)")
    server = ControlServer()
    feed = server.feed = DashboardFeed(manager.dashboard_samples, fills=journal)
    try:
        if socket_path is not None:
            sock = _bind_unix(socket_path)
            server.socket_path, server._socket_inode = socket_path, os.stat(socket_path).st_ino
            await server._serve(build_control_app(manager, health_problems=health_problems, feed=feed,
                                                  journal=journal, notification_stats=notification_stats), sock)
            logger.info("Control API listening on {}", socket_path)
        if tcp is not None:
            sock = bind_tcp(host, tcp[1])
            server.tcp_address = sock.getsockname()[:2]
            await server._serve(build_control_app(manager, token=token, health_problems=health_problems,
                                                  feed=feed, journal=journal, notification_stats=notification_stats),
                                sock)
            logger.info("Control API listening on {} (token required for actions)", server.url)
            # Never the token itself: log files get shared. The fragment stays in the browser.
            logger.info("Dashboard: {}/ (to act from it, open {}/#token=<your token>)", server.url, server.url)
        else:
            logger.info("Dashboard: off; a browser needs a TCP port (control.tcp in daemon.yaml, or for the demo "
                        "BOTRUNNER_TOKEN set: see the README)")
        server._feed_task = asyncio.create_task(feed.run(), name="control:dashboard-feed")
    except BaseException:
        await server.aclose()
        raise
    return server


def _bind_unix(path: Path) -> socket.socket:
    if stale_socket_file(path):        # a blocking probe of at most a second, at start-up only
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
