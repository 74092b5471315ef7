"""The circuit breaker on an injected clock: opens after N failures in a row, one trial after the
reset time, closed by its success, reopened by its failure."""

from __future__ import annotations

from runner.bot.clock import ManualClock
from runner.forecast.breaker import BreakerState, CircuitBreaker


def test_opens_after_n_failures_in_a_row_and_a_success_resets_the_count():
    breaker = CircuitBreaker(3, 60, clock=ManualClock(0))
    breaker.record_failure()
    breaker.record_failure()
    breaker.record_success()
    assert not breaker.record_failure() and not breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED and breaker.allow()
    assert breaker.record_failure()
    assert breaker.state is BreakerState.OPEN and not breaker.allow()


def test_one_trial_after_the_reset_time_then_closed_or_open_again():
    clock = ManualClock(1_000)
    breaker = CircuitBreaker(1, 60, clock=clock)
    breaker.record_failure()
    clock.advance_to(60_999)
    assert not breaker.allow() and breaker.retry_in_secs == 0.001
    clock.advance_to(61_000)
    assert breaker.allow() and breaker.state is BreakerState.HALF_OPEN
    assert not breaker.allow()  # one trial at a time
    assert breaker.record_failure() and breaker.state is BreakerState.OPEN
    clock.advance_to(120_999)
    assert not breaker.allow()
    clock.advance_to(121_000)
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED and breaker.allow() and breaker.consecutive_failures == 0
