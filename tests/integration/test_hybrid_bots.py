"""Hybrid bots in the daemon with a model on 127.0.0.1: the reference model that ships, and a
model that answers garbage. The bot records and scores its forecasts, keeps deciding when its
model fails, and nothing a model says wrong reaches an order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from market.factory import load_market
from market.shared import FeedHub, feed_key_for
from runner.assembly.compose import sim_runner
from runner.config.bot import BotConfig
from runner.daemon.manager import BotManager, DaemonServices
from runner.forecast.model_server import build_model_app
from runner.state.forecast_report import summarize
from runner.state.forecasts import ForecastStore
from runner.state.journal import MemoryJournal, SqliteJournal
from runner.state.snapshots import SnapshotStore
from tests.fakes import eventually


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}/forecast"


@pytest.fixture
async def reference_model() -> AsyncIterator[str]:
    runner, url = await serve(build_model_app())
    yield url
    await runner.cleanup()


@pytest.fixture
async def garbage_model() -> AsyncIterator[str]:
    answers = iter(["<html><body>502 Bad Gateway</body></html>", '{"predicted_return": NaN, "direction": "up"}',
                    '{"predicted_return": 0.01, "direction": "up", "confidence": 1.5}'] * 1000)

    async def forecast(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(text=next(answers), content_type="application/json")

    app = web.Application()
    app.router.add_post("/forecast", forecast)
    runner, url = await serve(app)
    yield url
    await runner.cleanup()


def hybrid_bot(bot_id: str, model_url: str | None) -> BotConfig:
    fields = {"id": bot_id, "symbol": "BTC/USDT", "timeframe": "5m", "capital": 10_000,
              "market": {"source": "synthetic", "seed": 7, "bars": 600, "start_price": 40_000},
              "strategy": {"name": "hybrid", "params": {"model_threshold": 0.001}}}
    if model_url is not None:
        fields |= {"model": {"url": model_url, "horizon": "30m", "timeout_secs": 2, "retries": 0,
                             "breaker_failures": 1_000},
                   "triggers": [{"kind": "interval", "every": "30m"}]}
    return BotConfig.model_validate(fields)


async def run_to_the_end(tmp_path, configs: list[BotConfig]) -> tuple[BotManager, ForecastStore, SqliteJournal]:
    store = ForecastStore(tmp_path / "forecasts.sqlite3")
    journal = SqliteJournal(tmp_path / "journal.sqlite3")
    services = DaemonServices(hub=FeedHub(), journal=journal, snapshots=SnapshotStore(tmp_path / "bots"),
                              forecasts=store)
    manager = BotManager(configs, services)
    await asyncio.wait_for(manager.run(asyncio.Event()), 60)
    await services.aclose()
    return manager, store, journal


def orders_of(journal: SqliteJournal, bot_id: str) -> list[tuple]:
    return [(e.data["side"], e.data["created_ts_ms"], e.data["reason"])
            for e in journal.for_bot(bot_id).events(kinds=("order",))]


async def test_a_hybrid_bot_asks_the_reference_model_and_its_forecasts_are_recorded_and_scored(tmp_path,
                                                                                               reference_model):
    manager, store, journal = await run_to_the_end(tmp_path, [hybrid_bot("hybrid-ref", reference_model)])

    status = manager.status("hybrid-ref")
    assert status.state == "finished" and status.model is not None
    # 600 five-minute candles: one forecast each 30 minutes, the first at the first candle.
    assert status.model.calls == status.model.forecasts == 100 and status.model.failures == 0
    assert status.model.available
    [summary] = summarize(store, bot="hybrid-ref")
    assert summary.count == 100 and summary.scored == 99          # the last one's horizon never passed
    assert status.model.scored == 99 and status.model.hit_rate == pytest.approx(summary.hit_rate)
    assert orders_of(journal, "hybrid-ref")
    store.close()
    journal.close()


async def test_a_model_answering_garbage_leaves_the_bot_deciding_on_its_technical_votes_alone(tmp_path,
                                                                                            garbage_model):
    manager, store, journal = await run_to_the_end(
        tmp_path, [hybrid_bot("hybrid-garbage", garbage_model), hybrid_bot("hybrid-alone", None)])

    model = manager.status("hybrid-garbage").model
    assert manager.status("hybrid-garbage").state == "finished"
    assert model.malformed == model.calls == model.failures > 0 and model.forecasts == 0 and not model.available
    assert summarize(store, bot="hybrid-garbage") == []                   # nothing invalid was recorded
    # Every decision is the one the same bot makes with no model at all.
    assert orders_of(journal, "hybrid-garbage") == orders_of(journal, "hybrid-alone") != []
    store.close()
    journal.close()


async def test_hybrid_bots_on_one_replay_read_one_feature_computation_and_decide_as_alone(tmp_path):
    configs = [hybrid_bot("hybrid-a", None), hybrid_bot("hybrid-b", None),
               BotConfig.model_validate({**hybrid_bot("hybrid-c", None).model_dump(),
                                         "strategy": {"name": "hybrid", "params": {"score_threshold": 2.0}}})]
    store = ForecastStore(tmp_path / "forecasts.sqlite3")
    journal = SqliteJournal(tmp_path / "journal.sqlite3")
    services = DaemonServices(hub=FeedHub(), journal=journal, snapshots=SnapshotStore(tmp_path / "bots"),
                              forecasts=store)
    await asyncio.wait_for(BotManager(configs, services).run(asyncio.Event()), 60)
    await services.aclose()

    [shared] = [services.replay_features.shared(k, ["ema:12"]) for k in {*_stream_keys(configs)}]
    assert shared.computed == 600 and shared.misses == 0        # once per candle, for all three bots
    for config in configs:
        alone = MemoryJournal()
        runner = sim_runner(config, load_market(config.market, symbol=config.symbol, timeframe=config.timeframe),
                            journal=alone)
        await runner.run()
        assert orders_of(journal, config.id) == [(e.data["side"], e.data["created_ts_ms"], e.data["reason"])
                                                 for e in alone.of_kind("order")] != []
    store.close()
    journal.close()


def _stream_keys(configs: list[BotConfig]):
    return [feed_key_for(c.market, c.symbol, c.timeframe, c.speed) for c in configs]


async def test_a_sim_hybrid_bot_with_a_model_restarted_mid_run_decides_as_one_never_stopped(tmp_path):
    from market.forecast import Forecast
    from runner.forecast.replay import write_forecasts

    config = hybrid_bot("hybrid-restart", None)
    candles = load_market(config.market, symbol=config.symbol, timeframe=config.timeframe)
    replay = tmp_path / "forecasts.jsonl"
    write_forecasts(replay, [Forecast("ar", "BTC/USDT", c.ts_ms + 300_000, 1_800_000, c.close,
                                      0.002 if i % 3 else -0.002, 1 if i % 3 else -1, 0.6, "interval")
                             for i, c in enumerate(candles)])
    config = BotConfig.model_validate({**config.model_dump(), "speed": 30_000,
                                       "strategy": {"name": "hybrid", "params": {"model_weight": 2.0,
                                                                                 "model_threshold": 0.001}},
                                       "model": {
        "replay": str(replay), "horizon": "30m"}, "triggers": [{"kind": "interval", "every": "35m"},
                                                               {"kind": "volume_spike", "factor": 1.5, "window": 10}]})
    alone = MemoryJournal()
    await sim_runner(config, candles, journal=alone).run()
    expected = [(e.data["side"], e.data["created_ts_ms"], e.data["reason"]) for e in alone.of_kind("order")]

    # Run until well past a snapshot, then lose everything in memory (no clean stop).
    first = DaemonServices(hub=FeedHub(), journal=SqliteJournal(tmp_path / "journal.sqlite3"),
                           snapshots=SnapshotStore(tmp_path / "bots"), forecasts=ForecastStore(tmp_path / "f.sqlite3"))
    manager = BotManager([config], first, snapshot_interval_secs=0.1)
    running = asyncio.create_task(manager.run(asyncio.Event()))
    await eventually(lambda: manager.status(config.id).bars >= 300, 30, poll_secs=0.01)
    assert (tmp_path / "bots" / f"{config.id}.json").exists()
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)
    first.journal._db.rollback()
    first.journal._db.close()
    first.writer.close()
    first.forecasts.close()

    second = DaemonServices(hub=FeedHub(), journal=SqliteJournal(tmp_path / "journal.sqlite3"),
                            snapshots=SnapshotStore(tmp_path / "bots"), forecasts=ForecastStore(tmp_path / "f.sqlite3"))
    manager = BotManager([BotConfig.model_validate({**config.model_dump(), "speed": None})], second)
    await asyncio.wait_for(manager.run(asyncio.Event()), 60)
    await second.aclose()
    assert manager.status(config.id).state == "finished", manager.status(config.id).last_error
    assert orders_of(second.journal, config.id) == expected != []
    second.journal.close()
    second.forecasts.close()
