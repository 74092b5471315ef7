"""Bounds on the numbers that enter the process: config values and candle prices.

Every number is checked where it comes in (YAML, candle files, the exchange), so the per-candle
code can trust it. Unbounded, floats go wrong quietly: a price of 1e-318 is positive but an
order sized from it overflows to infinity; a capital of 1e308 makes equity NaN at the first
fill; `true` in YAML is 1.0 to a lax float. The bounds are far outside any real market
(Bitcoin in satoshis of a cent is still above MIN_PRICE), and inside them a position's value,
cash and fees stay exact enough for float arithmetic: MAX_CAPITAL / MIN_PRICE is 1e27 units.

It lives in `market`, the package every other one imports, so config models and checks of all
packages share one set of bounds.
"""

from __future__ import annotations

import math
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, Strict

MIN_PRICE = 1e-12
"""Lowest price a candle may carry (also synthetic `start_price`), in quote currency."""
MAX_PRICE = 1e12
"""Highest price a candle may carry."""
MIN_TS_MS = 0
"""Earliest candle time: 1970-01-01 UTC, in epoch milliseconds."""
MAX_TS_MS = 7_258_118_400_000
"""Candles open before 2200-01-01 UTC: a year-9998 or 1e30 timestamp is a broken row, not data."""
MAX_CAPITAL = 1e15
"""Largest `capital` a bot may be given, in quote currency."""
MAX_VOLUME = 1e20
"""Largest volume a candle (or a trade) may carry, in base units: a day's volume-weighted sums of
price x volume then stay finite (1e12 x 1e20 x 86,400 one-second candles is 1e37), where a
volume of 1e308 made a VWAP infinite for the rest of its day."""

Number = Annotated[float, Strict(), Field(allow_inf_nan=False)]
"""A config float: a finite number, written as a number. Ints are taken (`capital: 1000`);
`true`, strings ('1e400'), NaN and infinity (`.inf`, `1.0e+309`) are refused."""
WholeNumber = Annotated[int, Strict()]
"""A config int, written as a whole number: `true` and `5.0` are refused."""
Flag = Annotated[bool, Strict()]
"""A config yes/no, written `true` or `false` (YAML 1.1's bare yes/no/on/off are those too):
lax, pydantic took `1`, `0` and the quoted words 'yes', 'off', 'f' as booleans."""


MAX_PORT = 65_535
"""Highest TCP port; 0 is not one a connection can go to."""


def reachable_url(url: str) -> str:
    """`url` as given, or ValueError: it names no host, or a port outside 1..MAX_PORT or no number.
    For a URL setting (pydantic `AfterValidator`): `urlsplit` takes 'http://h:99999' and raises only
    when `.port` is read, at the first request, so a bot passed validate and then crashed and restarted."""
    parts = urlsplit(url)                    # ValueError itself for a broken IPv6 address
    if not parts.hostname:
        raise ValueError(f"the URL names no host, e.g. {parts.scheme}://127.0.0.1:8080")
    if (problem := url_port_problem(url)) is not None:
        raise ValueError(problem)
    return url


def url_port_problem(url: str) -> str | None:
    """Why the port written in `url` is none a connection can go to, or None (also when no port is
    written). The message never holds the URL, which may carry a password."""
    # The port is what follows the host's last ':' (past an IPv6 address's ']', and any user@).
    _, colon, port = urlsplit(url).netloc.rpartition("@")[2].rpartition("]")[2].rpartition(":")
    if colon and not (port.isdigit() and 1 <= int(port) <= MAX_PORT):
        return f"the port must be a number from 1 to {MAX_PORT}, got {int(port) if port.isdigit() else repr(port)}"
    return None


def require_positive_finite(what: str, **values: float | None) -> None:
    """Raise ValueError naming `what` and the field when a given value is NaN, infinite or <= 0.

    The last check before an order goes out or a fill is booked: cheap enough for every order
    (`math.isfinite`, no pydantic), and loud, because such a value is a bug upstream."""
    for name, value in values.items():
        if value is not None and not (math.isfinite(value) and value > 0.0):
            raise ValueError(f"{what}: {name} must be a finite number > 0, got {value!r}")
