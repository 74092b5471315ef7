"""Faults a test arms on the stand-in, one-shot or counted, per endpoint pattern.

Each copies a failure a real Binance client meets:

- `status`: a 5xx from Binance or its CDN edge, by default an HTML page (what CloudFront sends)
  or, given `code`/`msg`, Binance's JSON error. The request is not processed.
- `rate_limit` / `ban`: HTTP 429 / 418 with a `Retry-After` header and the -1003 body.
- `delay`: the reply comes `delay_secs` late (the request is then processed as usual), so a
  client timeout fires first.
- `drop`: the connection closes without a reply; the request is not processed.
- `hold`: the reply waits until the test sets the fault's `release` event (then the request
  is processed as usual): a request in flight for as long as a test needs, ended by the test,
  not by a timer.
- `lose_response`: the request is processed (an order is booked, maybe filled), then the
  connection closes without a reply: the client cannot know the outcome.
- `status_after`: the request is processed, then answered like `status` (by default Binance's
  503 -1007 "Timeout waiting for response from backend server. Send status unknown; execution
  status unknown.": the backend booked the order but the API gave up waiting for it).
- `land_late`: answered like `status_after` at once (503 -1007 by default), before the request
  reached the matching engine, which takes it `land_after_ms` later by the exchange's clock
  (when the clock is moved past that): the order shows up after the client was told "status
  unknown", and a lookup before then finds nothing. Binance's timing rule ("Timing security":
  the API forwards a request to the matching engine only while `serverTime - timestamp <=
  recvWindow`) bounds the delay: a request that would land later than its recvWindow never lands.

A pattern is `"METHOD /path"` or `"/path"` (any method); the path may use `fnmatch` wildcards,
e.g. `"GET /api/v3/ticker/*"`.
"""

from __future__ import annotations

import asyncio
import fnmatch
from dataclasses import dataclass, field
from typing import Literal

FaultKind = Literal["status", "rate_limit", "ban", "delay", "hold", "drop", "lose_response", "status_after",
                    "land_late"]
_METHODS = {"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"}


@dataclass
class Fault:
    """One armed fault; `remaining` counts the requests it will still hit."""

    pattern: str
    kind: FaultKind
    remaining: int = 1
    status: int = 500
    code: int | None = None
    msg: str | None = None
    retry_after_secs: int = 1
    delay_secs: float = 0.0
    land_after_ms: int = 0
    release: asyncio.Event | None = field(default=None, repr=False, compare=False)   # `hold`: set to reply

    def __post_init__(self) -> None:
        if self.remaining < 1:
            raise ValueError(f"fault {self.kind} on {self.pattern!r}: times must be >= 1, got {self.remaining}")
        method, _, path = self.pattern.partition(" ")
        if not path:
            method, path = "", method
        if method and method.upper() not in _METHODS:
            raise ValueError(f"bad fault pattern {self.pattern!r}: expected 'METHOD /path' or '/path'")
        if not path.startswith("/"):
            raise ValueError(f"bad fault pattern {self.pattern!r}: the path must start with '/'")
        self._method, self._path = method.upper(), path

    def matches(self, method: str, path: str) -> bool:
        return (not self._method or self._method == method.upper()) and fnmatch.fnmatchcase(path, self._path)


class FaultPlan:
    """The armed faults, oldest first. `take` fires the oldest one matching a request."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self.fired: list[tuple[str, str, FaultKind]] = []

    def arm(self, fault: Fault) -> Fault:
        self._faults.append(fault)
        return fault

    def take(self, method: str, path: str) -> Fault | None:
        for fault in self._faults:
            if fault.matches(method, path):
                fault.remaining -= 1
                if fault.remaining == 0:
                    self._faults.remove(fault)
                self.fired.append((method, path, fault.kind))
                return fault
        return None

    @property
    def pending(self) -> list[Fault]:
        """Faults armed but not (fully) fired: a test can assert this is empty at the end."""
        return list(self._faults)
