"""The daemon's control API: JSON over HTTP on a Unix socket (0600), optionally loopback TCP.

    GET  /health                {"ok": true, "bots": N}
    GET  /bots                  [BotStatus, ...]                  GET /bots/{id}   BotStatus
    GET  /baskets/{id}          BasketStatus: a basket whole (cash, equity, positions, latch, legs)
    POST /bots/{id}/start       BotStatus                         POST /bots/{id}/stop    BotStatus
    POST /bots/{id}/kill        {"reason": "..."} -> BotStatus    POST /bots/{id}/resume  BotStatus
    POST /bots/{id}/trigger     BotStatus (its model is asked at its next candle)
    POST /kill                  {"reason": "..."} -> [BotStatus, ...]   (every bot; in a cluster, on every node)
    POST /resume                [BotStatus, ...]   cluster: release the global kill switch (`resume --all`)
    POST /bots/{id}/move        {"node": "..."} -> {"bot", "from", "to", "note"}   cluster: run it on that node
    GET  /cluster               cluster: this node, the live nodes, the latch, lease counters
    POST /reload                ReloadResult, or 422 {"error": ..., "problems": [...]}
    GET  /governance            [GovernanceStatus, ...]           GET /bots/{id}/governance  [GovernanceStatus]
    POST /bots/{id}/promote     GovernanceStatus, or 409 with the rule's reason   POST /bots/{id}/demote  likewise
    GET  /metrics               Prometheus text 0.0.4 (made at most once a second, see METRICS_MAX_AGE_SECS)
    GET  /  /events  /bots/{id}/history  /bots/{id}/journal   the web dashboard: runner.control.dashboard

Errors are `{"error": "message"}`: 400 bad body, 401 token, 404 unknown bot, 409 wrong state.
Whoever can open the socket file may trade, so the file is 0600 and needs no token; TCP is
loopback only (an SSH tunnel or a local scraper, never the network): reading is open there,
every action needs the bearer token, and nothing is done for another site (runner.control.auth).
This module is the application (routes, errors); `runner.control.server` listens.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Protocol, TypeVar

from aiohttp import web
from loguru import logger
from pydantic import BaseModel, StringConstraints, ValidationError

from market.strict import StrictModel
from runner.basket.status import BasketStatus
from runner.config.bot import ConfigError
from runner.control.auth import control_auth
from runner.control.dashboard import JournalView, add_dashboard_routes
from runner.control.errors import BotStateError, ControlError, UnknownBot
from runner.control.live_feed import BotSample, DashboardFeed
from runner.control.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from runner.control.metrics import render_prometheus_rows
from runner.control.shared_result import SharedResult
from runner.control.governance_status import GovernanceStatus
from runner.control.status import BotStatus, ReloadResult
from runner.notify.sender import SenderStats

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


class BotControl(Protocol):
    """What the API needs from the daemon: `BotManager` in production, a fake in tests."""

    def statuses(self) -> list[BotStatus]: ...
    async def status_rows(self) -> list[dict[str, Any]]: ...     # statuses as JSON values, sorted by id
    def bot_count(self) -> int: ...
    def dashboard_samples(self) -> list[BotSample]: ...
    def status(self, bot_id: str) -> BotStatus: ...
    def basket(self, basket_id: str) -> BasketStatus: ...
    async def start(self, bot_id: str) -> BotStatus: ...
    async def stop(self, bot_id: str) -> BotStatus: ...
    async def kill(self, bot_id: str, reason: str) -> BotStatus: ...
    async def kill_all(self, reason: str) -> list[BotStatus]: ...
    async def resume(self, bot_id: str) -> BotStatus: ...
    async def trigger(self, bot_id: str) -> BotStatus: ...
    async def reload(self) -> ReloadResult: ...
    async def promote(self, bot_id: str) -> GovernanceStatus: ...
    async def demote(self, bot_id: str) -> GovernanceStatus: ...
    def governance(self, bot_id: str | None = None) -> list[GovernanceStatus]: ...


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
_NOTIFICATION_STATS = web.AppKey("notification_stats", Callable[[], list[SenderStats]])
_METRICS = web.AppKey("metrics", SharedResult)

# A scrape within this long of the last one gets the same text: see runner.control.shared_result.
METRICS_MAX_AGE_SECS = 1.0
# Status rows encoded as JSON between two turns of the event loop (about 10 us a row here).
_ENCODE_CHUNK_BOTS = 250


def build_control_app(manager: BotControl, *, token: str | None = None,
                      health_problems: Callable[[], list[str]] = list, feed: DashboardFeed | None = None,
                      journal: JournalView | None = None,
                      notification_stats: Callable[[], list[SenderStats]] = list) -> web.Application:
    """The aiohttp application for `manager`. With `token` (loopback TCP), every action must carry
    `Authorization: Bearer <token>`; without, anyone who can connect is trusted (the Unix socket);
    see runner.control.auth. `health_problems()` lists what is wrong with the daemon itself (its
    journal deleted, say); `/health` reports them, with `ok: false`. The dashboard follows the
    bots through `feed` (one the caller runs, shared by its apps) or else one this app runs
    while it is up; `journal` gives it each bot's trades and events."""
    app = web.Application(middlewares=[_json_errors, control_auth(token, _error)])
    app[_MANAGER] = manager
    app[_HEALTH_PROBLEMS] = health_problems
    app[_NOTIFICATION_STATS] = notification_stats      # runner.notify's counters, in /health and /metrics
    app[_METRICS] = metrics = SharedResult(lambda: _render_metrics(manager, notification_stats),
                                           max_age_secs=METRICS_MAX_AGE_SECS)
    app.on_cleanup.append(lambda _: metrics.aclose())
    if feed is None:
        feed = DashboardFeed(manager.dashboard_samples, fills=journal)
        app.cleanup_ctx.append(_running(feed))
    add_dashboard_routes(app, feed, journal, manager.status)
    app.add_routes([
        web.get("/health", _health),
        web.get("/bots", _list_bots),
        web.get("/bots/{bot_id}", _get_bot),
        web.get("/baskets/{basket_id}", _get_basket),
        web.post("/bots/{bot_id}/start", _start),
        web.post("/bots/{bot_id}/stop", _stop),
        web.post("/bots/{bot_id}/kill", _kill),
        web.post("/bots/{bot_id}/resume", _resume),
        web.post("/bots/{bot_id}/trigger", _trigger),
        web.post("/kill", _kill_all),
        web.post("/resume", _resume_all),
        web.post("/bots/{bot_id}/move", _move),
        web.get("/cluster", _cluster),
        web.post("/reload", _reload),
        web.get("/metrics", _metrics),
        web.get("/governance", _governance),
        web.get("/bots/{bot_id}/governance", _governance),
        web.post("/bots/{bot_id}/promote", _promote),
        web.post("/bots/{bot_id}/demote", _demote),
    ])
    return app


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


def _running(feed: DashboardFeed) -> Callable[[web.Application], Any]:
    async def run_while_up(app: web.Application):
        task = asyncio.create_task(feed.run(), name="control:dashboard-feed")
        yield
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    return run_while_up


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


def _json(model: BaseModel | list[BotStatus] | list[GovernanceStatus]) -> web.Response:
    if isinstance(model, list):
        return web.json_response([item.model_dump(mode="json") for item in model])
    return web.json_response(model.model_dump(mode="json"))


def _state(status: BotStatus) -> str:
    return f"now {status.state}"


async def _health(request: web.Request) -> web.Response:
    problems = request.app[_HEALTH_PROBLEMS]()
    # Notifications dropped or failed are reported, not a reason for ok: false: the bots are fine.
    notifications = [dataclasses.asdict(s) for s in request.app[_NOTIFICATION_STATS]()]
    return web.json_response({"ok": not problems, "bots": request.app[_MANAGER].bot_count(),
                              **({"problems": problems} if problems else {}),
                              **({"notifications": notifications} if notifications else {})})


async def _list_bots(request: web.Request) -> web.Response:
    return web.json_response(text=await _json_array(await request.app[_MANAGER].status_rows()))


async def _json_array(rows: list[dict[str, Any]]) -> str:
    """`json.dumps(rows)` (what `web.json_response` writes), a chunk of rows at a time with a turn
    of the event loop between chunks: ten thousand bots are 9 MB of JSON."""
    parts = []
    for start in range(0, len(rows), _ENCODE_CHUNK_BOTS):
        if start:
            await asyncio.sleep(0)
        parts.append(json.dumps(rows[start:start + _ENCODE_CHUNK_BOTS])[1:-1])
    return f"[{', '.join(parts)}]"


async def _get_bot(request: web.Request) -> web.Response:
    return _json(request.app[_MANAGER].status(request.match_info["bot_id"]))


async def _get_basket(request: web.Request) -> web.Response:
    manager, basket_id = request.app[_MANAGER], request.match_info["basket_id"]
    if not hasattr(manager, "basket"):            # a cluster node's control (runner.cluster) has no baskets view yet
        raise UnknownBot(f"no basket {basket_id!r}: this daemon does not show baskets whole; see each leg")
    return _json(manager.basket(basket_id))


async def _start(request: web.Request) -> web.Response:
    bot_id = request.match_info["bot_id"]
    return _json(await _act("start", bot_id, request.app[_MANAGER].start(bot_id), _state))


async def _stop(request: web.Request) -> web.Response:
    bot_id = request.match_info["bot_id"]
    return _json(await _act("stop", bot_id, request.app[_MANAGER].stop(bot_id), _state))


async def _resume(request: web.Request) -> web.Response:
    bot_id = request.match_info["bot_id"]
    return _json(await _act("resume", bot_id, request.app[_MANAGER].resume(bot_id), _state))


async def _trigger(request: web.Request) -> web.Response:
    bot_id = request.match_info["bot_id"]
    return _json(await _act("trigger", bot_id, request.app[_MANAGER].trigger(bot_id),
                            lambda status: "its model is asked at its next candle"))


async def _governance(request: web.Request) -> web.Response:
    return _json(request.app[_MANAGER].governance(request.match_info.get("bot_id")))


async def _promote(request: web.Request) -> web.Response:
    bot_id = request.match_info["bot_id"]
    return _json(await _act("promote", bot_id, request.app[_MANAGER].promote(bot_id),
                            lambda status: f"now {status.level_name}"))


async def _demote(request: web.Request) -> web.Response:
    bot_id = request.match_info["bot_id"]
    return _json(await _act("demote", bot_id, request.app[_MANAGER].demote(bot_id),
                            lambda status: f"now {status.level_name}"))


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


class MoveRequest(StrictModel):
    """Body of `POST /bots/{id}/move`: the node to run the bot on."""

    node: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=63)]


def _cluster_only(manager: BotControl, action: str, alone: str = "") -> Any:
    """The manager's cluster side (runner.cluster.control.ClusterControl), or a 409 saying why
    not, and `alone`: what to do instead on a daemon that runs alone."""
    if not hasattr(manager, "move"):
        raise BotStateError(f"{action} needs cluster mode (a cluster: block in daemon.yaml); this daemon runs "
                            f"alone{alone}")
    return manager


async def _resume_all(request: web.Request) -> web.Response:
    # A daemon alone has no global latch: its `kill --all` latched each bot, released one by one.
    manager = _cluster_only(request.app[_MANAGER], "resume --all", ": resume each bot (botrunner resume BOT)")
    return _json(await _act("resume all", "*", manager.resume_all(),
                            lambda all_: f"global kill switch released; {len(all_)} "
                                         f"{'bot' if len(all_) == 1 else 'bots'} here"))


async def _move(request: web.Request) -> web.Response:
    bot_id, manager = request.match_info["bot_id"], _cluster_only(request.app[_MANAGER], "move")

    async def move() -> dict[str, Any]:
        return await manager.move(bot_id, (await _read_body(request, MoveRequest)).node)

    return web.json_response(await _act("move", bot_id, move(), lambda m: f"asked to move to {m['to']}"))


async def _cluster(request: web.Request) -> web.Response:
    return web.json_response(_cluster_only(request.app[_MANAGER], "cluster status").cluster())


async def _reload(request: web.Request) -> web.Response:
    result = await _act("reload", "*", request.app[_MANAGER].reload(),
                        lambda r: f"added {r.added}, removed {r.removed}, restarted {r.restarted}, "
                                  f"{len(r.unchanged)} unchanged")
    return _json(result)


async def _metrics(request: web.Request) -> web.Response:
    return web.Response(text=await request.app[_METRICS].get(), content_type=METRICS_CONTENT_TYPE)


async def _render_metrics(manager: BotControl, notification_stats: Callable[[], list[SenderStats]]) -> str:
    # A cluster node shows its own bots and its lease figures (runner.cluster.control).
    rows = await getattr(manager, "local_status_rows", manager.status_rows)()
    text = await render_prometheus_rows(rows, notification_stats())
    return text + manager.cluster_metrics() if hasattr(manager, "cluster_metrics") else text
