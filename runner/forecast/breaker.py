"""A circuit breaker for one model: after `failures` failed calls in a row it opens, and calls
are refused at once (the bot decides without the model) until `reset_secs` have passed on the
injected clock; then one trial call is let through (half-open). Its success closes the breaker,
its failure opens it for another `reset_secs`.

The clock is the bot's `market.clock.Clock`, so a test moves time on instead of sleeping.
"""

from __future__ import annotations

from enum import Enum

from market.clock import SYSTEM_CLOCK, Clock

__all__ = ["BreakerState", "CircuitBreaker"]


class BreakerState(str, Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Counts consecutive failed calls and says whether the next may go out."""

    def __init__(self, failures: int, reset_secs: float, *, clock: Clock = SYSTEM_CLOCK) -> None:
        if failures < 1 or reset_secs <= 0:
            raise ValueError(f"breaker needs failures >= 1 and reset_secs > 0, got {failures}, {reset_secs}")
        self._threshold = failures
        self._reset_ms = int(reset_secs * 1000)
        self._clock = clock
        self.state = BreakerState.CLOSED
        self.consecutive_failures = 0
        self._opened_at_ms = 0

    def allow(self) -> bool:
        """May a call go out now? Moves an open breaker whose time is up to half-open and lets
        exactly that one trial through; while it is out, other calls are refused."""
        if self.state is BreakerState.CLOSED:
            return True
        if self.state is BreakerState.OPEN and self._clock.now_ms() - self._opened_at_ms >= self._reset_ms:
            self.state = BreakerState.HALF_OPEN
            return True
        return False

    def record_success(self) -> None:
        self.state = BreakerState.CLOSED
        self.consecutive_failures = 0

    def record_failure(self) -> bool:
        """Count a failed call; True when this one opened the breaker."""
        self.consecutive_failures += 1
        if self.state is BreakerState.HALF_OPEN or (
                self.state is BreakerState.CLOSED and self.consecutive_failures >= self._threshold):
            self.state = BreakerState.OPEN
            self._opened_at_ms = self._clock.now_ms()
            return True
        return False

    @property
    def retry_in_secs(self) -> float:
        """Seconds until an open breaker lets a trial through (0 when it is not open)."""
        if self.state is not BreakerState.OPEN:
            return 0.0
        return max(0.0, (self._opened_at_ms + self._reset_ms - self._clock.now_ms()) / 1000)
