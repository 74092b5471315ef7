"""`BurstThrottler`: ccxt's rolling window, letting every queued request that fits go in one turn."""

from __future__ import annotations

import asyncio

import ccxt.async_support as ccxt_async

from execution.exchange import ExchangeAccount
from execution.exchange_config import ExchangeConfig
from execution.rate_limit import BurstThrottler


def throttler(*, window_ms: float = 60_000, rate_limit_ms: float = 50) -> BurstThrottler:
    # ccxt's own bucket for a rolling window: the budget is window / rateLimit cost units.
    return BurstThrottler({"algorithm": "rollingWindow", "windowSize": window_ms, "rateLimit": rate_limit_ms,
                           "cost": 1.0, "delay": 0.001})


async def test_orders_queued_at_one_candle_close_are_all_let_through_in_one_loop_turn():
    limiter = throttler()
    grants = [limiter(0.2) for _ in range(40)]          # forty bots' orders (Binance: cost 0.2 each)
    await asyncio.sleep(0)                                # the limiter's task runs once
    assert all(g.done() for g in grants)


async def test_a_request_with_room_and_nobody_in_line_goes_at_once_without_a_loop_turn():
    limiter = throttler(window_ms=200, rate_limit_ms=50)  # a budget of 4 per 200 ms
    grants = [limiter(1) for _ in range(5)]
    # The first four are let through as they are asked: each order is signed and sent in its
    # bot's own step. The fifth has no room: it waits in line for the limiter's task.
    assert [g.done() for g in grants] == [True] * 4 + [False]
    assert limiter.running and limiter.spent == 4
    later = limiter(0.5)                                  # someone waits: in line behind them
    assert not later.done()
    await asyncio.wait_for(asyncio.gather(grants[-1], later), timeout=5)


async def test_requests_past_the_budget_wait_in_order_until_the_window_frees():
    limiter = throttler(window_ms=200, rate_limit_ms=50)  # a budget of 4 per 200 ms
    grants = [limiter(1) for _ in range(6)]
    await asyncio.sleep(0)
    assert [g.done() for g in grants] == [True] * 4 + [False] * 2
    await asyncio.wait_for(asyncio.gather(*grants), timeout=5)
    assert limiter.spent == 2                             # the first four have left the window


async def test_a_request_above_the_whole_budget_goes_alone_when_the_window_is_empty():
    limiter = throttler(window_ms=100, rate_limit_ms=50)  # a budget of 2
    big, small = limiter(5), limiter(1)
    await asyncio.sleep(0)
    assert (big.done(), small.done(), limiter.spent) == (True, False, 5)   # in at once, and alone
    await asyncio.wait_for(small, timeout=5)              # the next goes once the window frees
    assert limiter.spent == 1


def account_for(exchange_id: str, **changes) -> ExchangeAccount:
    return ExchangeAccount(ExchangeConfig(id=exchange_id, **changes), environ={})


async def test_binance_accounts_spend_a_per_minute_budget_and_others_keep_ccxts_leaky_bucket():
    binance, kraken = account_for("binance"), account_for("kraken")
    leaky_binance = account_for("binance", account="leaky", rate_limit_window_secs=0)
    try:
        assert isinstance(binance.client.throttler, BurstThrottler)
        assert binance.client.throttler.config["maxWeight"] == 60_000 / binance.client.rateLimit
        for account in (kraken, leaky_binance):
            assert account.client.tokenBucket["algorithm"] == "leakyBucket"
            assert not isinstance(account.client.throttler, BurstThrottler)
    finally:
        for account in (binance, kraken, leaky_binance):
            await account.aclose()


def test_the_throttler_subclass_still_matches_ccxts_constructor():
    # A guard for ccxt upgrades: the subclass relies on Throttler's config, queue and running flag.
    client = ccxt_async.binance({"rateLimiterAlgorithm": "rollingWindow", "rollingWindowSize": 60_000})
    limiter = BurstThrottler(client.tokenBucket, None)
    assert {"windowSize", "maxWeight", "cost"} <= set(limiter.config)
    assert hasattr(limiter, "queue") and hasattr(limiter, "running")
