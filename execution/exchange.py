"""`ExchangeAccount`: one ccxt async client per exchange account, shared by every bot trading on it.

Every request of every bot on the account goes through `ExchangeAccount.call`, which

- waits while the account is backing off (a 429/418 seen by any bot holds back all of them:
  they share the exchange's limit, and Binance turns repeated 429s into an IP ban); so do the
  requests made on its client directly (the candle feeds'), see `execution.back_off`;
- translates ccxt's exceptions once, via `execution.ccxt_errors`;
- retries reads, lookups and cancels after a temporary failure (`retry_delay_secs`), never an
  order submission: its network failure is an `UnknownOrderOutcome`, looked up, not resent;
- measures the exchange's clock again when a request is refused for its timestamp (Binance
  -1021, ccxt's InvalidNonce), so requests are signed on the exchange's clock from then on;
- runs each attempt under `asyncio.timeout`.

```python
accounts = ExchangeAccounts()
account = accounts.get(bot_config.exchange)         # the same object for every bot on (id, account)
await account.load_markets()
balance = await account.call("fetch_balance", None, account.client.fetch_balance)
await accounts.aclose()
```

The client itself (its settings, keys from the environment, URLs moved to a testnet) is made
by `execution.ccxt_client`; keys go into the ccxt client only, and no message, log line or
repr here carries them.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from typing import Any, TypeVar

import ccxt
import ccxt.async_support as ccxt_async
from loguru import logger

from execution import rate_limit
from execution.accounts import ExchangeAccounts
from execution.back_off import AccountBackOff
from execution.ccxt_client import ClientFactory, MissingCredentials, make_client, websocket_wanted
from execution.ccxt_errors import ccxt_errors, retry_delay_secs
from execution.errors import ExchangeError, RateLimited, TemporaryExchangeError, UnknownOrderOutcome
from execution.exchange_config import ExchangeConfig
from market.clock import SYSTEM_CLOCK, Clock

# Re-exported: `ExchangeAccount(...)` raises `MissingCredentials`, and takes a `ClientFactory`;
# `ExchangeAccounts` lives in execution.accounts, without ccxt.
__all__ = ["SYSTEM_CLOCK", "ClientFactory", "Clock", "ExchangeAccount", "ExchangeAccounts", "MissingCredentials"]

T = TypeVar("T")

_WINDOW_MS = 60_000             # `requests_last_minute`
_DEADLINE_MARGIN_SECS = 1.0     # asyncio.timeout over ccxt's own timeout: catches what ccxt does not
_READ_DEADLINE_FACTOR = 6       # reads also wait in ccxt's rate limiter: see `_deadline_secs`
_ROUNDED_AMOUNTS_KEPT = 4_096   # `round_amount`'s answers kept before they are dropped and made again
# ccxt's class for a request refused for its timestamp (Binance -1021: a host clock 1 s ahead of
# the exchange's, or more than recvWindow behind it).
_TIMESTAMP_REFUSED = "InvalidNonce"


class ExchangeAccount:
    """One exchange account: its ccxt client, its markets, its request rate and its back-off.

    `environ` is where the key and secret are read (the variables `config.api_key_env` and
    `config.secret_env` name); a config naming neither makes a keyless, public-data client.
    `clock` times back-offs and retries (tests pass one they control). `max_read_attempts`
    bounds how often one read is tried. Raises `MissingCredentials` (`execution.ccxt_client`)
    naming an unset variable.
    """

    def __init__(self, config: ExchangeConfig, *, environ: Mapping[str, str] = os.environ,
                 client_factory: ClientFactory | None = None, clock: Clock = SYSTEM_CLOCK,
                 max_read_attempts: int = 4, rng: Callable[[], float] = random.random) -> None:
        if max_read_attempts < 1:
            raise ValueError(f"max_read_attempts must be >= 1, got {max_read_attempts}")
        self.config = config
        self._clock = clock
        self._max_read_attempts = max_read_attempts
        self._rng = rng
        self._timeout_secs = config.timeout_secs
        self._client = make_client(config, environ, client_factory)
        self.websocket = websocket_wanted(config) and bool(self._client.has.get("watchOHLCV"))
        """Candles come by websocket on this account (the client is ccxt.pro's and has watch_ohlcv)."""
        self._back_off = AccountBackOff(self.name, clock)
        rate_limit.install(self._client, self._back_off)       # the feeds' requests on the client wait too
        self._markets_lock = asyncio.Lock()
        self._markets_loaded = False
        self._conversion_cache: dict[tuple[str, str], tuple[int, float]] = {}
        self.requests_total = 0
        self._request_times_ms: deque[int] = deque()
        # Exchange order id -> client order id, learnt from any bot's orders. Binance's trade
        # list names orders only by exchange id: without this, every reconciliation of every
        # bot on the account would look up every order of the account again.
        self._client_order_ids: dict[str, str] = {}
        self._in_flight: dict[tuple[Any, ...], asyncio.Task[Any]] = {}
        # (symbol, amount) -> the amount rounded to the market's step. An exit is rounded when
        # it is sized (`LiveExecution.closable_quantity`) and again when its request is built,
        # and ccxt's rounding (decimal strings) costs ~15 us on the way of the order. Each answer
        # is also kept under itself: a rounded amount rounds to itself (and ccxt rounds what it
        # sends once more anyway). Markets load once, so the steps do not change meanwhile.
        self._rounded_amounts: dict[tuple[str, float], float] = {}

    def __repr__(self) -> str:
        return f"ExchangeAccount({self.config.id}/{self.config.account})"

    def remember_order(self, exchange_id: str, client_order_id: str) -> None:
        """Learn that the account's order `exchange_id` has `client_order_id` ("" for an order
        the exchange no longer finds). Any bot may tell; every bot's reconciliation reads it."""
        self._client_order_ids[exchange_id] = client_order_id

    def client_order_id_of(self, exchange_id: str) -> str | None:
        """The client order id learnt for `exchange_id`, or None when nothing is known yet."""
        return self._client_order_ids.get(exchange_id)

    @property
    def name(self) -> str:
        return f"{self.config.id}/{self.config.account}"

    @property
    def client(self) -> ccxt_async.Exchange:
        """The shared ccxt client. Call its methods through `call`, never directly."""
        return self._client

    # -- markets -----------------------------------------------------------------------------

    async def load_markets(self) -> None:
        """Load the markets once; concurrent callers wait for the same load. A failed load
        raises to every waiter and the next call tries again."""
        if self._markets_loaded:
            return
        async with self._markets_lock:
            if not self._markets_loaded:
                await self.call("load_markets", None, self._client.load_markets)
                self._markets_loaded = True

    def market(self, symbol: str) -> dict[str, Any]:
        """ccxt's market structure; raises RuntimeError before `load_markets`."""
        if not self._markets_loaded:
            raise RuntimeError(f"{self.name}: call `await load_markets()` before using market {symbol}")
        return self._client.market(symbol)

    def round_amount(self, symbol: str, amount: float) -> float:
        """`amount` rounded DOWN to the market's step (0.0 when less than one step)."""
        rounded = self._rounded_amounts.get((symbol, amount))
        if rounded is not None:
            return rounded
        self.market(symbol)
        try:
            rounded = float(self._client.amount_to_precision(symbol, amount))
        except ccxt.InvalidOrder:           # ccxt refuses an amount that rounds to zero
            rounded = 0.0
        if len(self._rounded_amounts) >= _ROUNDED_AMOUNTS_KEPT:
            self._rounded_amounts.clear()
        self._rounded_amounts[(symbol, amount)] = self._rounded_amounts[(symbol, rounded)] = rounded
        return rounded

    def round_price(self, symbol: str, price: float) -> float:
        """`price` rounded to the market's tick."""
        self.market(symbol)
        return float(self._client.price_to_precision(symbol, price))

    def check_order(self, symbol: str, amount: float | None, price: float | None, *,
                    cost: float | None = None) -> str | None:
        """Why the exchange would refuse an order of `amount` (base) at `price`, or of `cost`
        (quote, a market buy by cost), or None when it passes the market's minimums. A check
        needing a number not given (the notional of a market order with no price) is skipped."""
        market = self.market(symbol)
        limits, base, quote = market.get("limits") or {}, market["base"], market["quote"]
        min_amount = (limits.get("amount") or {}).get("min")
        min_cost = (limits.get("cost") or {}).get("min")
        if amount is not None:
            if amount <= 0 or (min_amount is not None and amount < min_amount):
                return (f"order of {_num(amount)} {base} is below the minimum amount {_num(min_amount or 0)} "
                        f"for {symbol}")
            if cost is None and price is not None:
                cost = amount * price
        if cost is not None and min_cost is not None and cost < min_cost:
            size = f"{_num(amount)} {base} at {_num(price)} ({_num(cost)} {quote})" if amount is not None \
                else f"{_num(cost)} {quote}"
            return f"order of {size} is below the minimum notional {_num(min_cost)} {quote} for {symbol}"
        return None

    # -- requests ----------------------------------------------------------------------------

    async def call(self, action: str, symbol: str | None, fn: Callable[..., Awaitable[T]], *args: Any,
                   order_submission: bool = False, **kwargs: Any) -> T:
        """`await fn(*args, **kwargs)`, a method of `client`, with the account's rules.

        `action` and `symbol` name the call in error messages. Raises the domain errors of
        `execution.errors`. A read that fails temporarily (or is rate limited) is tried up to
        `max_read_attempts` times; `order_submission=True` sends once, ever: a rate limit or a
        back-off longer than the timeout raises `RateLimited` (nothing was sent or placed), and
        a network failure raises `UnknownOrderOutcome`.
        """
        attempt = 0
        deadline_secs = self._deadline_secs(order_submission)
        while True:
            now_ms = self._clock.now_ms()
            back_off = self._back_off
            if back_off.until_ms > now_ms:        # read inline: an order does not pay for a coroutine
                remaining_secs = (back_off.until_ms - now_ms) / 1000
                if order_submission and remaining_secs > self._timeout_secs:
                    # A signal sent minutes late is stale; refuse it before sending anything.
                    raise RateLimited(action, symbol, f"not sent: {self.name} is backing off for another "
                                      f"{remaining_secs:.1f}s", retry_after_secs=remaining_secs)
                await back_off.wait()
                now_ms = self._clock.now_ms()
            self._count_request(now_ms)
            try:
                with ccxt_errors(action, symbol, order_submission=order_submission, exchange=self._client):
                    async with asyncio.timeout(deadline_secs):
                        result = await fn(*args, **kwargs)
            except RateLimited as exc:
                self._back_off.after_rate_limit(exc)
                if order_submission or attempt + 1 >= self._max_read_attempts:
                    raise
            except UnknownOrderOutcome as exc:
                if exc.ccxt_class == _TIMESTAMP_REFUSED:
                    await self._sync_clock(action)      # the lookup that follows is signed too
                raise
            except TemporaryExchangeError as exc:
                if exc.ccxt_class == _TIMESTAMP_REFUSED:
                    await self._sync_clock(action)
                if order_submission or attempt + 1 >= self._max_read_attempts:
                    raise
                delay = retry_delay_secs(attempt, rng=self._rng)
                logger.debug("{} retrying {} in {:.2f}s after: {}", self.name, action, delay, exc)
                await self._clock.sleep(delay)
            else:
                self._back_off.succeeded()
                return result
            attempt += 1

    async def _sync_clock(self, refused_action: str) -> None:
        """Measure the difference between this host's clock and the exchange's (one public
        request, `GET /api/v3/time` on Binance) and have ccxt sign on the exchange's clock.

        Without it, a host clock 1 s ahead of Binance's (or more than recvWindow behind) has
        every signed request refused with -1021 before it is processed: the bot cannot reconcile
        at its start, place an order, or look one up. ccxt measures only when asked
        (`adjustForTimeDifference`, off by default, and then once, at the first market load), so
        the account measures when the exchange says the clock is off, however long it has run.
        Many bots refused at once share one measurement."""
        client = self._client
        if not client.has.get("fetchTime") or "timeDifference" not in client.options:
            return                  # ccxt cannot sign this exchange's requests on another clock
        try:
            difference_ms = await self.shared_read("sync_clock", None, client.load_time_difference)
        except ExchangeError as exc:
            logger.warning("{}: the exchange refused the timestamp of {}, and its clock could not be read ({}); "
                           "sync this host's clock (NTP)", self.name, refused_action, exc)
            return
        side = "ahead of" if difference_ms >= 0 else "behind"
        logger.warning("{}: the exchange refused the timestamp of {}: this host's clock is {} ms {} the "
                       "exchange's; requests are signed on the exchange's clock from now on. Sync this host's "
                       "clock (NTP)", self.name, refused_action, abs(int(difference_ms)), side)

    async def shared_read(self, action: str, symbol: str | None, fn: Callable[..., Awaitable[T]],
                          *args: Any) -> T:
        """`call` for a read that many bots on the account make at the same moment (they
        reconcile on the same candle): while one is in flight, a caller with the same method and
        arguments waits for its answer instead of sending another request. The answer is shared:
        read it, never change it. A caller cancelled while waiting leaves the request to the others."""
        key = (action, symbol, getattr(fn, "__name__", fn), repr(args))
        task = self._in_flight.get(key)
        if task is None:
            task = asyncio.ensure_future(self.call(action, symbol, fn, *args))
            self._in_flight[key] = task
            task.add_done_callback(lambda done: self._forget(key, done))
        return await asyncio.shield(task)

    def _forget(self, key: tuple[Any, ...], done: asyncio.Task[Any]) -> None:
        if self._in_flight.get(key) is done:
            del self._in_flight[key]
        if not done.cancelled():
            done.exception()            # retrieved here: every waiter may have gone

    def _deadline_secs(self, order_submission: bool) -> float:
        # The deadline also covers the wait in ccxt's rate limiter, which a busy account (a
        # hundred bots reconciling at start) makes long; reads get room for it. An order keeps
        # the tight one: a signal that waited that long is stale, and a deadline hit before it
        # left is looked up like any unknown outcome.
        if order_submission:
            return self._timeout_secs + _DEADLINE_MARGIN_SECS
        return self._timeout_secs * _READ_DEADLINE_FACTOR + _DEADLINE_MARGIN_SECS

    @property
    def backing_off_until_ms(self) -> int:
        """Clock time until which every request waits (in the past when not backing off)."""
        return self._back_off.until_ms

    def _count_request(self, now_ms: int) -> None:
        self.requests_total += 1
        times = self._request_times_ms
        times.append(now_ms)
        if times[0] <= now_ms - _WINDOW_MS:
            self._prune(now_ms)

    def requests_last_minute(self) -> int:
        """Requests sent through `call` in the last 60 s of the account's clock."""
        self._prune(self._clock.now_ms())
        return len(self._request_times_ms)

    def _prune(self, now_ms: int) -> None:
        times = self._request_times_ms
        while times and times[0] <= now_ms - _WINDOW_MS:
            times.popleft()

    # -- helpers shared by live execution and reconciliation ---------------------------------

    async def exchange_time_ms(self) -> int:
        """The exchange's clock (one light request), or the account's clock where ccxt cannot
        ask for it."""
        if self._client.has.get("fetchTime"):
            return int(await self.call("fetch_time", None, self._client.fetch_time))
        return self._clock.now_ms()

    async def trade_fees(self, symbol: str, trade: Mapping[str, Any]) -> tuple[float, float]:
        """The fees of a ccxt trade structure as (quote, base): fees charged in the quote, plus
        those in a third currency (BNB) at the last price of a conversion market, in `symbol`'s
        quote currency; and fees charged in the base asset, in base units, kept apart because
        they come off what the trade delivered, not off the cash. A fee that cannot be converted
        counts 0, with a WARNING."""
        market = self.market(symbol)
        base, quote = market["base"], market["quote"]
        fees = trade.get("fees") or ([trade["fee"]] if trade.get("fee") else [])
        in_quote = in_base = 0.0
        for fee in fees:
            cost, currency = fee.get("cost"), fee.get("currency")
            if not cost:
                continue
            if currency in (None, quote):
                in_quote += float(cost)
            elif currency == base:
                in_base += float(cost)
            else:
                in_quote += float(cost) * await self._conversion_rate(currency, quote, symbol)
        return in_quote, in_base

    async def _conversion_rate(self, currency: str, quote: str, symbol: str) -> float:
        now = self._clock.now_ms()
        cached = self._conversion_cache.get((currency, quote))
        if cached is not None and now - cached[0] < _WINDOW_MS:
            return cached[1]
        markets = self._client.markets or {}
        rate = 0.0
        try:
            if f"{currency}/{quote}" in markets:
                ticker = await self.call("fetch_ticker", f"{currency}/{quote}", self._client.fetch_ticker,
                                         f"{currency}/{quote}")
                rate = float(ticker.get("last") or 0.0)
            elif f"{quote}/{currency}" in markets:
                ticker = await self.call("fetch_ticker", f"{quote}/{currency}", self._client.fetch_ticker,
                                         f"{quote}/{currency}")
                last = float(ticker.get("last") or 0.0)
                rate = 1 / last if last else 0.0
        except ExchangeError as exc:
            logger.warning("{}: cannot price a fee in {} for {} ({}); counting it as 0", self.name, currency,
                           symbol, exc)
            return 0.0
        if not rate:
            logger.warning("{}: no market converts fees in {} to {} for {}; counting them as 0", self.name,
                           currency, quote, symbol)
        self._conversion_cache[(currency, quote)] = (now, rate)
        return rate

    async def aclose(self) -> None:
        """Close the ccxt client (its HTTP session)."""
        await self._client.close()


def _num(value: float | None) -> str:
    """A number for a message without float noise or exponents: 1e-05 -> "0.00001"."""
    if value is None:
        return "?"
    text = format(Decimal(repr(float(value))), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text
