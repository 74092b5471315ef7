"""What the daemon's supervision does for a basket's re-runs (`runner.basket.reruns`) when one sim
leg crashes, is built again, or stops in the middle of its re-run.

A sim leg comes back from its last snapshot and re-runs the candles past it as its journal holds
them; until it is past them, the basket's cash holds its share as of the candle its re-run has
reached, and no other leg may decide afresh on it. So:

- crashed (mid-re-run or later): the leg is held in the barrier through its backoff, its runner's
  close notwithstanding, and the other running legs wait again from their next candle;
- built again: the hold ends; if it re-runs while the others run (started by hand after it
  stayed down, say), they wait from their next candle, as at a restart of the daemon;
- not restarted after all (out of restarts, stopped, killed or cancelled in its backoff, failing
  to build), or stopped by hand mid-re-run: the others stop waiting. A leg down mid-re-run leaves
  its share of the cash as of a moment the basket never was at, so the basket enters nothing until
  it starts again, as for a leg that cannot start (`BasketGroup.start_failed`). The others manage
  their positions meanwhile: stopping them would leave those positions to nobody, and their own
  flow is whole. A leg that crashed past its re-run leaves its share as of its crash: they trade on.

A mixin of `runner.daemon.manager.BotManager`, which calls these from `_supervise`.
"""

from __future__ import annotations

from typing import Callable

from loguru import logger

from runner.basket.reruns import RerunBarrier
from runner.bot.states import RunnerState
from runner.daemon.services import DaemonServices
from runner.daemon.slots import BotSlot, BotState

__all__ = ["LegReruns"]


class LegReruns:
    """`BotManager`'s part in its baskets' re-runs; see the module docstring."""

    _services: DaemonServices
    _stopping: bool
    _basket_legs: Callable[[str], list[BotSlot]]       # `ManagerQueries._basket_legs`

    def _reruns_of(self, slot: BotSlot) -> RerunBarrier | None:
        """The re-runs of the basket `slot` is a leg of; None for a plain bot."""
        basket = slot.config.basket
        group = self._services.risk_groups.baskets.group(basket.basket) if basket is not None else None
        return group.reruns if group is not None else None

    def _hold_basket_for_restart(self, slot: BotSlot) -> None:
        """`slot`'s leg crashed and the supervisor restarts it after a backoff (paper and live
        legs re-run nothing: no hold)."""
        reruns = self._reruns_of(slot)
        if reruns is None or slot.config.mode != "sim":
            return
        reruns.hold(slot.id)
        self._others_wait_for_reruns(slot)

    def _rebuilt_in_basket(self, slot: BotSlot) -> None:
        """`slot`'s leg is built: its new runner re-runs (and is waited for), or has nothing to."""
        reruns = self._reruns_of(slot)
        if reruns is None:
            return
        reruns.release(slot.id)
        if slot.id in reruns.pending:
            self._others_wait_for_reruns(slot)

    def _stopped_mid_rerun(self, slot: BotSlot) -> None:
        """`slot`'s leg stopped: if before its journal's end, held until `_rerun_given_up`."""
        reruns = self._reruns_of(slot)
        if reruns is not None and slot.id in reruns.pending:
            reruns.hold(slot.id)

    def _rerun_given_up(self, slot: BotSlot) -> None:
        """`slot`'s supervision ended: a leg still held is not coming back for now."""
        reruns = self._reruns_of(slot)
        if reruns is None or slot.id not in reruns.held:
            return
        # At the daemon's shutdown nothing is marked: every leg re-runs again at the next start.
        if not self._stopping and reruns.held_mid_rerun(slot.id):
            group = self._services.risk_groups.baskets.group(slot.config.basket.basket)
            group.forget(slot.config.symbol)
            group.start_failed(slot.config.symbol, f"down in the middle of its re-run: {slot.last_error or slot.state}")
            with logger.contextualize(bot=slot.id):
                logger.error("Down in the middle of its re-run: the basket's cash holds its share as of the candle "
                             "its re-run reached, so its other legs enter nothing until it runs again (botrunner "
                             "start {})", slot.id)
        reruns.release(slot.id)

    def _others_wait_for_reruns(self, slot: BotSlot) -> None:
        for leg in self._basket_legs(slot.config.basket.basket):
            runner = leg.runner
            if leg is not slot and leg.state == BotState.RUNNING and runner is not None and (
                    runner.state is RunnerState.RUNNING):
                runner.wait_for_reruns()
