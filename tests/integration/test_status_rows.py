"""The manager's status rows are the API's JSON of its statuses, byte for byte, for bots with
every kind of figure: risk rules and a risk group, governance, a regime detector, a model, and
bots killed and disabled; and they come in chunks with the event loop running between them."""

from __future__ import annotations

import asyncio
import json

import pytest

from market.shared import FeedHub
from risk.group import RiskGroupLimits
from runner.config.bot import BotConfig
from runner.control.status import BotStatus
from runner.daemon.manager import BotManager, DaemonServices
from runner.daemon.services import RiskGroups
from runner.forecast.model_server import build_model_app
from runner.state.forecasts import ForecastStore
from runner.state.journal import SqliteJournal
from runner.state.snapshots import SnapshotStore
from tests.fakes import eventually
from tests.integration.test_hybrid_bots import serve


def forecasts_of(status: BotStatus) -> int:
    """The bot's forecasts so far; none before it is built (its model is not shown until then)."""
    return status.model.forecasts if status.model is not None else 0


def bot(bot_id: str, *, seed: int, **extra) -> BotConfig:
    return BotConfig.model_validate({
        "id": bot_id, "symbol": "BTC/USD", "timeframe": "1m", "capital": 10_000,
        "market": {"source": "synthetic", "seed": seed, "bars": 8_000, "start_price": 20_000},
        "strategy": {"name": "sma_cross", "params": {"fast": 3, "slow": 8}},
        "risk": {"stake_pct": 0.9}, "speed": 60_000, **extra,
    })


@pytest.fixture
async def model_url():
    runner, url = await serve(build_model_app())
    yield url
    await runner.cleanup()


async def test_status_rows_are_the_json_of_the_statuses_of_bots_of_every_kind(tmp_path, model_url):
    journal, store = SqliteJournal(tmp_path / "journal.sqlite3"), ForecastStore(tmp_path / "forecasts.sqlite3")
    services = DaemonServices(hub=FeedHub(), journal=journal, snapshots=SnapshotStore(tmp_path / "bots"),
                              forecasts=store, risk_groups=RiskGroups({"pair": RiskGroupLimits(max_entries_per_candle=1)}))
    risky = {"stake_pct": 0.5, "var": {"window": 50, "confidence": 0.95, "method": "historical", "limit_pct": 0.5},
             "volatility_breaker": {"window": 20, "threshold": 0.5, "cooldown_candles": 5}}
    configs = [
        bot("plain", seed=1), bot("gets-killed", seed=2), bot("off", seed=3, enabled=False),
        bot("grouped-a", seed=4, risk=risky, risk_group="pair"), bot("grouped-b", seed=4, risk_group="pair"),
        bot("governed", seed=5, governance={"enabled": True, "start_level": 2}),
        bot("regimes", seed=6, regimes=["trending_up"]),
        bot("modelled", seed=7, strategy={"name": "hybrid", "params": {"model_threshold": 0.001}}, speed=600,
            model={"url": model_url, "horizon": "5m", "timeout_secs": 2, "retries": 0},
            triggers=[{"kind": "interval", "every": "5m"}]),
    ]
    manager = BotManager(configs, services, exit_when_done=False)
    stop = asyncio.Event()
    running = asyncio.create_task(manager.run(stop))
    try:
        await eventually(lambda: manager.status("plain").trades > 0 and manager.status("grouped-a").trades > 0
                         and forecasts_of(manager.status("modelled")) > 1 and manager.status("regimes").bars > 50,
                         timeout_secs=20, poll_secs=0.01)
        await manager.kill("gets-killed", "from the test")
        await eventually(lambda: manager.status("gets-killed").state == "killed", timeout_secs=10, poll_secs=0.01)
        stop_stepping = [asyncio.create_task(manager.stop(b)) for b in ("plain", "grouped-a", "grouped-b",
                                                                          "governed", "regimes", "modelled")]
        await asyncio.gather(*stop_stepping)       # no bot steps between the rows and the statuses

        rows, statuses = await manager.status_rows(chunk_bots=3), manager.statuses()

        assert [json.dumps(row) for row in rows] == [json.dumps(s.model_dump(mode="json")) for s in statuses]
        assert [json.dumps(row) for row in rows] == [
            json.dumps(BotStatus.model_validate(row).model_dump(mode="json")) for row in rows]
        by_id = {s.id: s for s in statuses}
        assert by_id["grouped-a"].risk["var"] is not None and by_id["grouped-a"].risk_group["group"] == "pair"
        assert by_id["governed"].governance is not None and by_id["regimes"].regime is not None
        assert by_id["modelled"].model.forecasts > 1 and by_id["off"].state == "disabled"
        assert by_id["gets-killed"].kill_switch and manager.bot_count() == len(configs)
    finally:
        stop.set()
        await asyncio.wait_for(running, 10)
        await services.aclose()
        journal.close()


async def test_status_rows_let_the_loop_run_between_chunks(tmp_path):
    journal = SqliteJournal(tmp_path / "journal.sqlite3")
    services = DaemonServices(hub=FeedHub(), journal=journal, snapshots=SnapshotStore(tmp_path / "bots"))
    manager = BotManager([bot(f"bot-{i}", seed=i, enabled=False) for i in range(7)], services)
    turns = 0

    async def count_turns():
        nonlocal turns
        while True:
            await asyncio.sleep(0)
            turns += 1

    counting = asyncio.create_task(count_turns())
    await asyncio.sleep(0)
    seen = turns
    rows = await manager.status_rows(chunk_bots=2)
    counting.cancel()

    assert [row["id"] for row in rows] == [f"bot-{i}" for i in range(7)]
    assert turns - seen >= 3                 # four chunks: the loop ran between each two
    services.close()
    journal.close()
