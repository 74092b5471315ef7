"""Errors a live gateway raises, grouped by what the caller does with them.

```text
ExchangeError ─┬─ TemporaryExchangeError                    retry reads with backoff and jitter
               │    └─ RateLimited                          first back off the whole account
               ├─ UnknownOrderOutcome                       look the order up by client order id; never resend
               ├─ OrderRejected                             drop this order, never retry it
               │    ├─ InsufficientFunds
               │    └─ InvalidOrder
               ├─ OrderNotFound                             an answer: the exchange has no such order
               └─ FatalExchangeError                        stop the bot, a person looks
                    ├─ AuthenticationFailed
                    └─ ExitRefused                          a protective exit refused, again and again
```

`UnknownOrderOutcome` is deliberately not a `TemporaryExchangeError`: a caller that retries
whatever is temporary would resend the order, and the first one may already be on the book.

`OrderNotFound` is not an `OrderRejected`: it comes from lookups and cancels, where it is an
answer, not a refusal. A cancel that finds no order usually means the order filled first, so the
caller fetches its fills; `except OrderRejected: drop` around a cancel would lose them.

`execution.ccxt_errors` turns ccxt's exceptions into these, once, at the gateway. Messages name
the action, the symbol and a fix, and pass through `redact`, so they never carry a key or a
signature:
`create_order BTC/USDT failed (InsufficientFunds): binance {"code":-2010,...}. Nothing was placed; ...`.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

__all__ = [
    "AuthenticationFailed", "ExchangeError", "ExitRefused", "FatalExchangeError", "InsufficientFunds", "InvalidOrder",
    "OrderNotFound", "OrderRejected", "RateLimited", "TemporaryExchangeError", "UnknownOrderOutcome",
    "redact",
]

REDACTED = "<redacted>"

# `name=value`, `name: value` and `'name': 'value'` where the name smells of a credential:
# signature=..., apiKey=..., X-MBX-APIKEY: ..., OK-ACCESS-SIGN, secret, passphrase, listenKey.
_NAMED_SECRET = re.compile(
    r"""(?P<name>\b[\w-]*(?:key|sign|secret|passphrase|password|token)[\w-]*)"""
    r"""(?P<sep>["']?\s*[:=]\s*["']?)"""
    r"""(?P<value>[^\s&"',;}\]]+)""",
    re.IGNORECASE)
# Bare hex of 40+ characters: HMAC-SHA1/256/512 signatures. 32-hex UUIDs (client order ids) stay.
_LONG_HEX = re.compile(r"(?<![0-9A-Za-z])[0-9a-fA-F]{40,}(?![0-9A-Za-z])")
# Base64-ish runs of 40+ characters with letters and digits: API keys and secrets (Binance's are
# 64 alphanumerics), base64 signatures. Client order ids are at most 36 characters on Binance.
_LONG_TOKEN = re.compile(r"(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{40,}={0,2}")


def redact(text: str) -> str:
    """`text` with anything that looks like a credential replaced by `<redacted>`.

    Removes the values of credential-named parameters and headers (`signature=`, `apiKey=`,
    `X-MBX-APIKEY: ...`, `"secret": "..."`), bare hex of 40+ characters, and base64-ish tokens of
    40+ characters that mix letters and digits. ccxt puts the full request URL in some messages,
    signature included; the rest of it (path, symbol, `timestamp=`) is kept for debugging.

    >>> redact("GET /api/v3/order?symbol=BTCUSDT&timestamp=1&signature=3f1cab")
    'GET /api/v3/order?symbol=BTCUSDT&timestamp=1&signature=<redacted>'
    """
    text = _NAMED_SECRET.sub(lambda m: f"{m['name']}{m['sep']}{REDACTED}", text)
    text = _LONG_HEX.sub(REDACTED, text)
    return _LONG_TOKEN.sub(lambda m: REDACTED if _mixes_letters_and_digits(m[0]) else m[0], text)


def _mixes_letters_and_digits(token: str) -> bool:
    return any(c.isdigit() for c in token) and any(c.isalpha() for c in token)


class ExchangeError(Exception):
    """A call to the exchange failed; the subclass says what the caller does about it.

    `action` is the gateway's call (`create_order`, `fetch_ohlcv`), `symbol` the market or None
    for account-wide calls, `ccxt_class` the name of the ccxt exception it came from (None when it
    did not come from ccxt: our own deadline, a test fake). `detail` (ccxt's message) is redacted
    before it goes into the message. `fix` replaces the class's default advice.
    """

    fix: ClassVar[str] = "A person should read the exchange's message."

    def __init__(self, action: str, symbol: str | None, detail: str, *, ccxt_class: str | None = None,
                 fix: str | None = None) -> None:
        where = f"{action} {symbol}" if symbol else action
        origin = f" ({ccxt_class})" if ccxt_class else ""
        super().__init__(f"{where} failed{origin}: {redact(detail).rstrip('. ')}. {fix or self.fix}")
        self.action = action
        self.symbol = symbol
        self.ccxt_class = ccxt_class

    def __reduce__(self) -> tuple[Any, ...]:
        # loguru's `enqueue=True` pickles a logged exception, and drops it from the record when
        # that fails; the default reduce would call `cls(message)`, which lacks the fields.
        return _restore, (type(self), self.args, self.__dict__)


def _restore(cls: type[ExchangeError], args: tuple[Any, ...], state: dict[str, Any]) -> ExchangeError:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class TemporaryExchangeError(ExchangeError):
    """The call may work if repeated: network trouble, a 5xx, maintenance, a clock hiccup.

    Reads, cancels and lookups are retried with `ccxt_errors.retry_delay_secs` (exponential
    backoff, full jitter) up to the caller's limit. An order submission never gets this: a
    network failure there is an `UnknownOrderOutcome`.
    """

    fix = "Usually passes on retry; if it persists, check the exchange's status page and this host's network."


class RateLimited(TemporaryExchangeError):
    """The exchange refused the request for going too fast (HTTP 429, a 418 IP ban, DDoS guard).

    Back off the whole account, not just this call: every bot on the same key shares the limit,
    and Binance turns repeated 429s into an IP ban. `retry_after_secs` is the exchange's
    `Retry-After`, or None when it sent none. The request was refused before it reached the
    matching engine, so an order that gets this was not placed.
    """

    fix = "Back off the whole account; if it repeats, lower the request rate (fewer bots per key, slower polling)."

    def __init__(self, action: str, symbol: str | None, detail: str, *, ccxt_class: str | None = None,
                 fix: str | None = None, retry_after_secs: float | None = None) -> None:
        super().__init__(action, symbol, detail, ccxt_class=ccxt_class, fix=fix)
        self.retry_after_secs = retry_after_secs


class UnknownOrderOutcome(ExchangeError):
    """An order was sent and its result is unknown: a timeout, a dropped connection, a 5xx.

    The exchange may have placed it. Look it up by client order id before anything else (a
    lookup right after the send may lag, so retry the lookup, not the order), and never resend
    it: a resend can double the position.
    """

    fix = "The order may have been placed: look it up by its client order id before anything else; never resend it."


class OrderRejected(ExchangeError):
    """The exchange refused this order (or this one operation) and nothing was placed.

    Drop it and never retry it: the same request gets the same answer. Other orders go on.
    """

    fix = "Nothing was placed; do not retry this order as it is."


class InsufficientFunds(OrderRejected):
    """The account lacks the balance or margin for this order."""

    fix = "Nothing was placed; top up the account or lower the bot's order size."


class InvalidOrder(OrderRejected):
    """The order breaks the market's rules: size, price, tick, min notional, post-only would take."""

    fix = ("Nothing was placed; check the order's size, price and type against the market's limits "
           "(lot size, tick size, min notional).")


class OrderNotFound(ExchangeError):
    """The exchange has no such order: an answer from a lookup or a cancel, not a failure.

    After a cancel, the order is already gone (usually filled): fetch its fills before forgetting
    it. After an `UnknownOrderOutcome`, it means the order was not placed, once the lookup has
    been repeated for long enough to outlast the exchange's lag.
    """

    fix = "The exchange has no such order; fetch its fills before treating it as gone."


class FatalExchangeError(ExchangeError):
    """Retrying cannot help, or the error is not understood: stop this bot; a person looks.

    Raised for unknown exchange errors too, on the cautious side. When it comes from an order
    submission, the order may exist: reconcile before restarting (startup does).
    """

    fix = ("Retrying cannot help: a person should read this and check the account on the exchange "
           "before the bot trades again.")


class AuthenticationFailed(FatalExchangeError):
    """The exchange refused the credentials, or the key may not do this (permissions, IP list)."""

    fix = ("Check the API key and secret named in the config, the key's permissions (spot trading enabled) "
           "and its IP whitelist.")


class ExitRefused(FatalExchangeError):
    """The exchange refused the market exit of a protective exit (stop-loss, take-profit, trailing
    stop) `execution.live_exit_refusals.MAX_EXIT_REFUSALS` times in a row while the account held
    what it sells: each try went under a new client order id, and the position stays open with
    its exits armed (in the snapshot) for when the bot starts again."""

    fix = ("The position is open and the exchange refuses to close it: read the refusal, check the symbol's "
           "trading status and filters and the account on the exchange, close the position by hand if needed, "
           "then start the bot again.")
