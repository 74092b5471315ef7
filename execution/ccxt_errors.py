"""ccxt's exceptions translated to the domain errors of `execution.errors`, once, at the gateway.

Every class ccxt defines has its own row in `CCXT_ERROR_TABLE`, looked up by exact class, so a
new ccxt class fails the guard test instead of quietly inheriting a parent's meaning. A row gives
the domain error for reads, cancels and lookups, and the one for an order submission, which
differs where the exchange may have acted on a request whose reply we never got.

The rule for submissions: only an error that proves the exchange refused the order (an
`ExchangeError`-branch reply such as InsufficientFunds, or a rate limit) may let the caller move
on; anything else is `UnknownOrderOutcome`, or `FatalExchangeError` when we cannot even say what
happened. Binance's own table shows why: -1006 "execution status unknown" arrives as
`ccxt.OperationFailed`, and -1007 as `ccxt.RequestTimeout`.

Binance's error payload (`{"code": -NNNN, "msg": "..."}`, which ccxt puts in the message) can say
more than ccxt's class, so for Binance the class is first corrected from it (`binance_class`):
by `BINANCE_ERRORS` (code and message), then by ccxt's own spot-only table, which ccxt applies
only when the URL is `https://api.binance.com/` (not through a proxy, an other host name or the
tests' stand-in), so the bot means the same by an error wherever its client points.

```python
with ccxt_errors("create_order", order.symbol, order_submission=True, exchange=self._exchange):
    async with asyncio.timeout(self._timeout_secs):
        raw = await self._exchange.create_order(...)
```
"""

from __future__ import annotations

import functools
import json
import math
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

import ccxt

from execution.errors import (
    AuthenticationFailed, ExchangeError, FatalExchangeError, InsufficientFunds, InvalidOrder, OrderNotFound,
    OrderRejected, RateLimited, TemporaryExchangeError, UnknownOrderOutcome, redact,
)

__all__ = [
    "BINANCE_ERRORS", "CCXT_ERROR_TABLE", "Disposition", "UnplacedCcxtError", "binance_class", "ccxt_errors",
    "retry_after_secs_from", "retry_delay_secs", "translate",
]


@dataclass(frozen=True, slots=True)
class Disposition:
    """What one ccxt exception class means to the bot.

    `error` is raised for reads, cancels and lookups; `on_submission` for `create_order`.
    `fix` replaces `error`'s default advice in the message; a submission that maps to another
    class keeps that class's advice (an `UnknownOrderOutcome` must always say "look it up").
    """

    error: type[ExchangeError]
    on_submission: type[ExchangeError]
    fix: str | None = None

    @property
    def outcome_unknown_on_submission(self) -> bool:
        return issubclass(self.on_submission, UnknownOrderOutcome)

    def error_for(self, *, order_submission: bool) -> type[ExchangeError]:
        return self.on_submission if order_submission else self.error


# Short names keep each row on one line: the row is the decision, the comment above it the reason.
_Temporary, _Unknown = TemporaryExchangeError, UnknownOrderOutcome
_Fatal, _Auth = FatalExchangeError, AuthenticationFailed

_ORDER_MAY_EXIST = ("An error ccxt could not narrow down: a person should read this. If it was an order, it may "
                    "have been placed: check the exchange before the bot trades again.")

CCXT_ERROR_TABLE: dict[type[ccxt.BaseError], Disposition] = {
    # ---- ccxt's roots, raised bare where ccxt did not classify the failure
    # the root, raised bare by unclassified paths: meaning unknown, so stop
    ccxt.BaseError: Disposition(_Fatal, _Fatal, _ORDER_MAY_EXIST),
    # an exchange reply ccxt did not map, or an aiohttp ClientError (a reply cut short after the order went out)
    ccxt.ExchangeError: Disposition(_Fatal, _Fatal, _ORDER_MAY_EXIST),
    # ccxt's "may work if repeated" branch; Binance -1000 unknown error, -1006 "execution status unknown"
    ccxt.OperationFailed: Disposition(_Temporary, _Unknown),

    # ---- credentials and the account: retrying cannot help
    # bad key, secret or signature (Binance -1022, -2014, -2015)
    ccxt.AuthenticationError: Disposition(_Auth, _Auth),
    # the key may not do this: trading disabled on the key, IP not whitelisted, symbol not permitted
    ccxt.PermissionDenied: Disposition(_Auth, _Auth),
    # the account lacks the product (margin, futures): an account setting, like a key permission
    ccxt.AccountNotEnabled: Disposition(_Auth, _Auth, "Enable this product (margin, futures) on the account."),
    # the account itself is blocked; a new key will not help, so not AuthenticationFailed
    ccxt.AccountSuspended: Disposition(_Fatal, _Fatal, "The account is suspended or restricted: contact the exchange."),
    # the exchange wants something done on its website (accept terms, finish verification)
    ccxt.ManualInteractionNeeded: Disposition(_Fatal, _Fatal, "Log in to the exchange's website and do what it asks."),
    # the exchange refuses this host's country or IP range
    ccxt.RestrictedLocation: Disposition(_Fatal, _Fatal, "The exchange refuses this host's location: move the daemon."),

    # ---- our call or our config is wrong: a retry sends the same wrong request
    # ccxt refused the call before sending it (a method needs a symbol, say): a bug in the gateway
    ccxt.ArgumentsRequired: Disposition(_Fatal, _Fatal, "ccxt wants an argument the gateway did not pass: a bug."),
    # malformed request: for an order mostly its numbers (Binance -1013 filter failure, -1111 precision), so drop it
    ccxt.BadRequest: Disposition(_Fatal, InvalidOrder),
    # the configured symbol is unknown or delisted: every call for it would fail
    ccxt.BadSymbol: Disposition(_Fatal, _Fatal, "Check the bot's symbol in the config (delisted? spelled BTC/USDT?)."),
    # the exchange, or ccxt for it, lacks this call or parameter: config and exchange do not match
    ccxt.NotSupported: Disposition(_Fatal, _Fatal, "ccxt lacks this call or order type here: change the config."),
    # the ccxt client's proxy settings contradict each other
    ccxt.InvalidProxySettings: Disposition(_Fatal, _Fatal, "Fix the exchange client's proxy settings."),
    # a call on a client already closed: it outlived shutdown, a bug in botrunner
    ccxt.ExchangeClosedByUser: Disposition(_Fatal, _Fatal, "The client was closed already: a call outlived shutdown."),
    # deposit-address calls: the bot never makes them, so seeing one needs a person
    ccxt.InvalidAddress: Disposition(_Fatal, _Fatal),
    # the address is still being generated, so a read may work later; create_order never raises it
    ccxt.AddressPending: Disposition(_Temporary, _Fatal),

    # ---- the exchange refused this one request; nothing was done, other work goes on
    # a business refusal (Binance -1004, -4xxx futures rules): the same request gets the same answer
    ccxt.OperationRejected: Disposition(OrderRejected, OrderRejected),
    # the setting is already as asked: nothing to retry, and the caller may count it as done
    ccxt.NoChange: Disposition(OrderRejected, OrderRejected, "Nothing changed: the setting is already as asked."),
    # NoChange, for set_margin_mode
    ccxt.MarginModeAlreadySet: Disposition(OrderRejected, OrderRejected, "Nothing changed: the margin mode is "
                                                                         "already as asked."),
    # trading halted: a read may work later; an order is dropped, its signal is stale when trading resumes
    ccxt.MarketClosed: Disposition(_Temporary, OrderRejected),
    # balance or margin too small for the order
    ccxt.InsufficientFunds: Disposition(InsufficientFunds, InsufficientFunds),
    # the order breaks the market's rules (Binance -2010, -1014 unsupported order combination)
    ccxt.InvalidOrder: Disposition(InvalidOrder, InvalidOrder),
    # a post-only order would take: the price moved
    ccxt.OrderImmediatelyFillable: Disposition(InvalidOrder, InvalidOrder),
    # a FOK, IOC or market order without the liquidity to fill it
    ccxt.OrderNotFillable: Disposition(InvalidOrder, InvalidOrder),
    # the contract is not tradable (expired, settling, delisted)
    ccxt.ContractUnavailable: Disposition(InvalidOrder, InvalidOrder),
    # on submission the client order id is taken, most likely by our own earlier send that landed: look it up
    ccxt.DuplicateOrderId: Disposition(InvalidOrder, _Unknown),

    # ---- lookups and cancels
    # no such order (Binance -2013, -2011); from create_order (some exchanges fetch after placing) it proves nothing
    ccxt.OrderNotFound: Disposition(OrderNotFound, _Unknown),
    # ccxt's own cache lacks the order, which says nothing about the exchange: never read it as "not placed"
    ccxt.OrderNotCached: Disposition(_Fatal, _Unknown, "ccxt has no record of this order: reconcile from open "
                                                       "orders and recent trades."),
    # the cancel is still in progress: look again shortly
    ccxt.CancelPending: Disposition(_Temporary, _Unknown),

    # ---- the network and the exchange's health: the request may have been acted on
    # a transport failure ccxt did not narrow down
    ccxt.NetworkError: Disposition(_Temporary, _Unknown),
    # no reply in time (HTTP 408 and 504, Binance -1007 "execution status unknown")
    ccxt.RequestTimeout: Disposition(_Temporary, _Unknown),
    # DNS failure, connection reset, a 5xx: the request may have reached the matching engine
    ccxt.ExchangeNotAvailable: Disposition(_Temporary, _Unknown),
    # a maintenance window; a 503 during it may still follow a processed request
    ccxt.OnMaintenance: Disposition(_Temporary, _Unknown),
    # timestamp outside recvWindow (Binance -1021); Binance refuses before matching, but the table stays cautious
    # (the account then measures the exchange's clock and signs on it: execution.exchange)
    ccxt.InvalidNonce: Disposition(_Temporary, _Unknown, "The account now signs on the exchange's clock; if it "
                                                         "repeats, sync this host's clock (NTP)."),
    # an order book stream failed its checksum: resubscribe
    ccxt.ChecksumError: Disposition(_Temporary, _Unknown),
    # a reply that could not be parsed (an HTML error page): the request may have been processed
    ccxt.BadResponse: Disposition(_Temporary, _Unknown),
    # an empty reply: as BadResponse
    ccxt.NullResponse: Disposition(_Temporary, _Unknown),

    # ---- rate limits: refused at the edge, before matching, so an order that gets one was not placed
    # HTTP 429, Binance -1003 and -1015
    ccxt.RateLimitExceeded: Disposition(RateLimited, RateLimited),
    # HTTP 418 IP ban, a CDN block, or Binance -2015 after a good private call (which ccxt reads as a ban)
    ccxt.DDoSProtection: Disposition(RateLimited, RateLimited, "Back off the whole account; if it repeats, check "
                                                               "the API key (Binance answers -2015 to a revoked key too)."),

    # ---- websockets
    # an unsubscribe failed: harmless to retry; create_order never raises it, so stop if it does
    ccxt.UnsubscribeError: Disposition(_Temporary, _Fatal),
}

# Binance (code, msg) -> the ccxt class whose row says what it means; msg None: any message.
BINANCE_ERRORS: dict[tuple[int, str | None], type[ccxt.BaseError]] = {
    # -2010 NEW_ORDER_REJECTED, which ccxt maps to InvalidOrder whatever the message. This message
    # means an open order already has this client order id: most likely our own earlier send
    # that landed, so the order is looked up, never taken as refused (and forgotten).
    (-2010, "Duplicate order sent."): ccxt.DuplicateOrderId,
    # -2026 ORDER_ARCHIVED, "Order was canceled or expired with no executed qty over 90 days ago
    # and has been archived.", answers a lookup (ccxt: InvalidOrder, which a poll would raise
    # through the bot). It is an order that ended with nothing filled: for the books, as good as
    # one the exchange does not have, and a lookup drops it as such.
    (-2026, None): ccxt.OrderNotFound,
}
_BINANCE_PAYLOAD = re.compile(r"^binance\w* (\{.*\})\s*$", re.DOTALL)


def binance_class(exc: ccxt.BaseError) -> type[ccxt.BaseError]:
    """The ccxt class that `exc` stands for: `type(exc)`, or for a Binance error payload the class
    `BINANCE_ERRORS` or ccxt's binance spot-only table gives its code."""
    match = _BINANCE_PAYLOAD.match(str(exc.args[0]) if exc.args else "")
    if match is None:
        return type(exc)
    try:
        payload = json.loads(match.group(1))
        code, msg = int(payload["code"]), str(payload.get("msg", ""))
    except (ValueError, TypeError, KeyError):
        return type(exc)
    for key in ((code, msg), (code, None)):
        if key in BINANCE_ERRORS:
            return BINANCE_ERRORS[key]
    return _binance_spot_codes().get(str(code), type(exc))


@functools.cache
def _binance_spot_codes() -> dict[str, type[ccxt.BaseError]]:
    # ccxt's table for api.binance.com only (e.g. -1008 SERVER_BUSY -> OperationFailed,
    # -1131 bad recvWindow -> BadRequest); elsewhere ccxt leaves those a bare ExchangeError.
    return dict(ccxt.binance().exceptions["spot"]["exact"])


# `asyncio.timeout()` around a ccxt call (STYLE §4) ends it with the builtin TimeoutError, which
# means the same as ccxt.RequestTimeout: for an order, the request may have gone out.
_DEADLINE = Disposition(_Temporary, _Unknown)


class RecordsResponseHeaders(Protocol):
    """A ccxt client: it keeps the last reply's headers (`enableLastResponseHeaders`, on by default)."""

    last_response_headers: Mapping[str, str] | None


class UnplacedCcxtError(LookupError):
    """A ccxt exception class has no row in `CCXT_ERROR_TABLE`: a programming error.

    The guard test in tests/unit/execution/test_ccxt_errors.py fails first, naming the class.
    """


def translate(exc: ccxt.BaseError, *, action: str, symbol: str | None, order_submission: bool = False,
              retry_after_secs: float | None = None) -> ExchangeError:
    """The domain error for `exc`, looked up by its exact class in `CCXT_ERROR_TABLE`.

    `order_submission` is True for `create_order` only: there a network-class error becomes
    `UnknownOrderOutcome`. `retry_after_secs` goes to a `RateLimited` and is ignored otherwise:
    ccxt keeps the reply's headers on the exchange object (`last_response_headers`), not on the
    exception, so the caller reads them (see `retry_after_secs_from`). The chained ccxt
    exceptions are redacted in place, since a logged traceback prints them too.

    A Binance error payload in the message may correct the class first (see `binance_class`);
    the error then names the corrected class.

    Raises `UnplacedCcxtError` when the class has no row.
    """
    cls = binance_class(exc)
    try:
        disposition = CCXT_ERROR_TABLE[cls]
    except KeyError:
        raise UnplacedCcxtError(
            f"{cls.__module__}.{cls.__qualname__} has no row in CCXT_ERROR_TABLE; add one in "
            "execution/ccxt_errors.py, saying what the bot does about it") from None
    _redact_ccxt_chain(exc)
    return _build(disposition, detail=str(exc), ccxt_class=cls.__name__, action=action, symbol=symbol,
                  order_submission=order_submission, retry_after_secs=retry_after_secs)


class ccxt_errors:  # noqa: N801 - used as `with ccxt_errors(...)`, like the function it replaces
    """Re-raise ccxt exceptions (and a deadline's TimeoutError) as domain errors, chained `from exc`.

    Give `exchange` (the ccxt client the block calls) to fill `RateLimited.retry_after_secs`
    from the failing reply's `Retry-After` header. ccxt stores the headers before raising, and
    the exception reaches this block without the event loop running another task in between,
    so they are that reply's. `CancelledError` passes through untouched.

    A class rather than a `@contextmanager` generator: every request of every bot, each order
    included, enters one, and the generator's frame and wrapper cost three times as much.
    """

    __slots__ = ("_action", "_symbol", "_order_submission", "_exchange")

    def __init__(self, action: str, symbol: str | None, *, order_submission: bool = False,
                 exchange: RecordsResponseHeaders | None = None) -> None:
        self._action, self._symbol = action, symbol
        self._order_submission, self._exchange = order_submission, exchange

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> bool:
        if exc is None:
            return False
        if isinstance(exc, ccxt.BaseError):
            headers = self._exchange.last_response_headers if self._exchange is not None else None
            raise translate(exc, action=self._action, symbol=self._symbol, order_submission=self._order_submission,
                            retry_after_secs=retry_after_secs_from(headers)) from exc
        if isinstance(exc, TimeoutError):
            raise _build(_DEADLINE, detail="no reply before the call's deadline", ccxt_class=None,
                         action=self._action, symbol=self._symbol, order_submission=self._order_submission,
                         retry_after_secs=None) from exc
        return False


def retry_after_secs_from(headers: Mapping[str, str] | None) -> float | None:
    """The `Retry-After` header as seconds, or None when absent or not a number of seconds.

    The HTTP-date form is not read (it would need a clock); Binance sends seconds.
    """
    if not headers:
        return None
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    try:
        secs = float(value) if value is not None else math.nan
    except ValueError:
        return None
    return secs if math.isfinite(secs) and secs >= 0 else None


def retry_delay_secs(attempt: int, *, base: float = 0.5, cap: float = 30.0,
                     rng: Callable[[], float] = random.random) -> float:
    """Seconds to wait before retry number `attempt` (0 for the first retry) of a read.

    Exponential backoff with full jitter: uniform in [0, min(cap, base * 2**attempt)), so
    many bots hitting the same outage do not retry in step. `base` and `cap` are seconds; `rng`
    returns a float in [0, 1) and is injectable for tests. Never for order submissions: those are
    looked up, not retried (see `UnknownOrderOutcome`).

    >>> retry_delay_secs(3, rng=lambda: 0.5)      # half of min(30, 0.5 * 8)
    2.0
    """
    if attempt < 0:
        raise ValueError(f"retry_delay_secs: attempt counts from 0, got {attempt}")
    # 2**attempt overflows a float past ~1024; by 64 the cap has long been reached anyway.
    ceiling = cap if attempt >= 64 else min(cap, base * 2**attempt)
    return ceiling * rng()


def _build(disposition: Disposition, *, detail: str, ccxt_class: str | None, action: str, symbol: str | None,
           order_submission: bool, retry_after_secs: float | None) -> ExchangeError:
    error_class = disposition.error_for(order_submission=order_submission)
    fix = disposition.fix if error_class is disposition.error else None
    if issubclass(error_class, RateLimited):
        return error_class(action, symbol, detail, ccxt_class=ccxt_class, fix=fix, retry_after_secs=retry_after_secs)
    return error_class(action, symbol, detail, ccxt_class=ccxt_class, fix=fix)


def _redact_ccxt_chain(exc: BaseException) -> None:
    # ccxt builds its messages from one string (often with the signed URL in it); the aiohttp
    # errors below them carry host and path only, and their str() does not come from args.
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ccxt.BaseError):
            current.args = tuple(redact(a) if isinstance(a, str) else a for a in current.args)
        current = current.__cause__ or current.__context__
