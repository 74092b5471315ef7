"""The web dashboard's routes on the control API: the page, its live stream, and per bot its
equity history and journal.

    GET /                        the page (static/index.html); static/ holds its script, style
                                 and the vendored chart library (uPlot, MIT, see its LICENSE)
    GET /events                  server-sent events: `snapshot` (every bot's row), then `delta`
                                 (changed cells only) each tick; see runner.control.live_feed
    GET /bots/{id}/history       {"ts_ms": [...], "equity": [...], "drawdown": [...]}, at most
                                 ?points= (default 600, at most 5000) points
    GET /bots/{id}/journal       the latest journal events, newest first: ?kinds=fill,kill&limit=50

Reading needs no token on loopback (runner.control.auth), so the page loads and follows the
bots with a plain link; its actions send the token from the URL fragment (`/#token=...`, which
a browser never sends to a server) that the page keeps in sessionStorage.
"""

from __future__ import annotations

import asyncio
from importlib.resources import files
from pathlib import Path
from aiohttp import web

from runner.control.live_feed import DashboardFeed, JournalView

__all__ = ["JournalView", "STATIC_DIR", "add_dashboard_routes"]

STATIC_DIR = Path(str(files("runner.control") / "static"))
HEARTBEAT_SECS = 15.0        # a comment line now and then: proxies and browsers keep the stream open
DEFAULT_HISTORY_POINTS, MAX_HISTORY_POINTS = 600, 5000
MAX_JOURNAL_EVENTS = 500


FEED = web.AppKey("dashboard_feed", DashboardFeed)
JOURNAL = web.AppKey("dashboard_journal", JournalView)


def add_dashboard_routes(app: web.Application, feed: DashboardFeed, journal: JournalView | None,
                         bot_status) -> None:
    """Serve the dashboard from `app`. `bot_status(bot_id)` raises UnknownBot for an unknown id,
    which the API answers with 404."""
    app[FEED] = feed
    if journal is not None:
        app[JOURNAL] = journal

    async def history(request: web.Request) -> web.Response:
        bot_id = request.match_info["bot_id"]
        bot_status(bot_id)
        points = _int_query(request, "points", DEFAULT_HISTORY_POINTS, 2, MAX_HISTORY_POINTS)
        return web.json_response(request.app[FEED].history(bot_id, points))

    async def journal_events(request: web.Request) -> web.Response:
        bot_id = request.match_info["bot_id"]
        bot_status(bot_id)
        limit = _int_query(request, "limit", 50, 1, MAX_JOURNAL_EVENTS)
        kinds = tuple(k for k in request.query.get("kinds", "").split(",") if k) or None
        view = request.app.get(JOURNAL)
        events = view.recent(bot_id, kinds=kinds, limit=limit) if view is not None else []
        return web.json_response([{"seq": e.seq, "kind": e.kind, "ts_ms": e.ts_ms, "data": e.data} for e in events])

    async def on_shutdown(app: web.Application) -> None:
        app[FEED].close()                 # the streams end, so shutdown does not wait on them

    app.on_shutdown.append(on_shutdown)
    app.add_routes([
        web.get("/", _index),
        web.get("/events", _events),
        web.get("/bots/{bot_id}/history", history),
        web.get("/bots/{bot_id}/journal", journal_events),
        web.static("/static", STATIC_DIR, append_version=False),
    ])


async def _index(request: web.Request) -> web.FileResponse:
    # no-store: a page from an older daemon must not be kept after an upgrade; it is 4 KB.
    return web.FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-store"})


async def _events(request: web.Request) -> web.StreamResponse:
    feed = request.app[FEED]
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                           "X-Accel-Buffering": "no"})
    await response.prepare(request)
    with feed.subscribe() as inbox:
        try:
            await response.write(feed.snapshot_event())
            while True:
                try:
                    async with asyncio.timeout(HEARTBEAT_SECS):
                        message = await inbox.get()
                except TimeoutError:
                    message = b": still here\n\n"
                if message is None:
                    break
                await response.write(message)
        except (ConnectionResetError, ConnectionError):
            pass                           # the viewer closed the page
    return response


def _int_query(request: web.Request, name: str, default: int, lowest: int, highest: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise web.HTTPBadRequest(reason=f"{name} must be a whole number, not {raw!r}") from None
    if not lowest <= value <= highest:
        raise web.HTTPBadRequest(reason=f"{name} must be between {lowest} and {highest}, not {value}")
    return value
