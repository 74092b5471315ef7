"""A paper or live bot whose symbol the exchange does not list stays down at once, over real
ccxt against the Binance stand-in (which lists BTC/USDT): no restart can list it."""

from __future__ import annotations

from execution.standin import FastForwardClock
from runner.config.daemon import SupervisorConfig
from tests.integration.manager_runs import ManagerRun
from tests.integration.test_exchange_bots import bot, services_for, standin, until

__all__ = ["standin"]       # the fixture, used by name

# Restarts that would happen at once, so that before the fix the bot was restarted in the test's time.
QUICK_RESTARTS = SupervisorConfig(max_restarts=3, backoff_initial_secs=0.01, backoff_max_secs=0.01)


async def test_a_bot_on_a_symbol_the_exchange_does_not_list_stays_down_without_restarts(
        tmp_path, standin, log_records):
    healthy = bot("paper-btc", "paper", standin.base_url)
    unlisted = bot("paper-eth", "paper", standin.base_url, symbol="ETH/USDT")
    services = services_for(tmp_path, FastForwardClock(standin))
    async with ManagerRun([healthy, unlisted], services, supervisor=QUICK_RESTARTS) as run:
        await until(lambda: run.manager.status("paper-eth").state == "failed"
                    and run.manager.status("paper-btc").fills >= 2)
        status = run.manager.status("paper-eth")
        assert run.manager.status("paper-btc").state == "running"

    assert status.restarts == 0
    assert status.last_error == ("bot paper-eth: symbol ETH/USDT is not listed on binance/default "
                                 "(closest listed: BTC/USDT); fix the bot's symbol")
    errors = [r for r in log_records if r["level"].name == "ERROR" and r["extra"].get("bot") == "paper-eth"]
    assert len(errors) == 1 and "ETH/USDT is not listed on binance/default" in errors[0]["message"]


async def test_a_bot_whose_symbol_the_exchange_refuses_after_listing_it_stays_down_without_restarts(
        tmp_path, standin, log_records):
    # exchangeInfo lists BTC/USDT, but its candles answer Binance's -1121 'Invalid symbol.' (a
    # symbol delisted since, or since the markets loaded): ccxt's BadSymbol, which no restart fixes.
    standin.fail_next("GET /api/v3/klines", 400, times=100, code=-1121, msg="Invalid symbol.")
    refused = bot("paper-btc", "paper", standin.base_url)
    async with ManagerRun([refused], services_for(tmp_path, FastForwardClock(standin)),
                          supervisor=QUICK_RESTARTS) as run:
        await until(lambda: run.manager.status("paper-btc").state == "failed")
        status = run.manager.status("paper-btc")

    assert status.restarts == 0
    assert status.last_error.startswith("bot paper-btc: the exchange refuses symbol BTC/USDT (")
    assert "Invalid symbol." in status.last_error
