"""Governance's side of `StrategyRunner`: each candle's ladder, health and drift, and a person's
promote or demote.

Once per candle, after the equity is marked and the kill-switch rules have looked (a kill comes
first), the bot's `BotGovernance` sees the candle, the equity and the round trips closed since.
Every decision it makes is journalled as a `governance` event with its reason, and the entries
are scaled to the new size at once. Then:

- a drift pause stops the bot (STOPPED, the reason in the journal and its status) until
  `botrunner start` (`resume_governance`, journalled as a `resume`); the pause is in the
  snapshot, so a restarted daemon brings the bot back stopped, with its reason (`_stay_paused`);
- a level that wants another execution (L1 paper -> L2 live, say) first closes the position with
  the execution the bot has (a live position is sold on the exchange, a paper one at the quote),
  deciding nothing else meanwhile; once flat, it journals the switch and ends the run, and the
  daemon has the composition root build the bot again with the new execution (see
  `BotManager._supervise`). The ledger runs on across levels.

Each decision is journalled under a key, `<candles read>.<decisions journalled before it>`, as
the kill switch's: a sim bot re-running its candles after a crash makes the same decisions under
the same keys (a person's, read back from the journal, at the same place: `schedule_governance`),
and the journal keeps each once; a paper or live bot counts the decisions
journalled past its snapshot (`runner.governance.saved`), so its next key is a new one.

A mixin of `StrategyRunner` (it reads and writes the runner's own state), kept in its own
module so that the loop in `strategy_runner.py` reads alone.
"""

from __future__ import annotations

from typing import Any, Sequence

from loguru import logger

from market.models import Candle
from portfolio.trades import Trade
from risk.governance.ladder import Action, Decision
from runner.bot.states import RunnerState
from runner.governance.saved import GOVERNANCE_KIND
from runner.state.journal import JournalEvent

__all__ = ["GovernanceFlow"]


class GovernanceFlow:
    """Governance methods of `StrategyRunner`; see the module docstring."""

    # Sim, after a crash: a person's decisions journalled past the snapshot, made again at the
    # same place, as (candles read when it was made, "promote" or "demote"); None without.
    _governance_replays: list[tuple[int, str]] | None = None

    def schedule_governance(self, bars: int, asked: str) -> None:
        """Make a person's `asked` ("promote" or "demote") again once `bars` candles are read,
        before the next one's decisions: a sim bot re-running its candles after a crash makes
        the decisions the journal holds past its snapshot at the same place (a person's are
        not in its candles), so its sizes and keys are the ones journalled."""
        if self._governance_replays is None:
            self._governance_replays = []
        self._governance_replays.append((bars, asked))

    def _govern(self, candle: Candle, equity: float, now_ms: int) -> bool | None:
        """The candle through governance: None to go on, True when the bot stops here (a pause).
        Synchronous, and cheap when nothing happened: it runs on every candle of the hot path.
        The caller then closes the position for an execution switch (`_switch_execution`)."""
        governance = self.governance
        if self._governance_replays is not None:
            self._replay_by_hand(now_ms - self._bar_ms)
        new = self.portfolio.trade_count - governance.trades_seen
        records = governance.on_candle(candle, equity, self._closed_since(new) if new else ())
        for record in records:
            self._record_governance(record, now_ms)
        if governance.size_multiplier != self._entry_scale:
            self._scale_entries()
        if governance.pause_reason is not None:        # shown by `botrunner governance` until the bot is started again
            logger.warning("Governance pause: {}; the bot stops until `botrunner start`", governance.pause_reason)
            self._finish(RunnerState.STOPPED, f"governance pause: {governance.pause_reason}")
            return True
        return None

    def _closed_since(self, new: int) -> Sequence[Trade]:
        """The `new` round trips closed since governance last looked; those closed before a
        restore, beyond the snapshot's recent trades, are counted as seen without a look."""
        trades = self.portfolio.trades
        if new > len(trades):
            self.governance.trades_seen += new - len(trades)
            new = len(trades)
        return trades[-new:] if new else ()

    async def _switch_execution(self, now_ms: int) -> bool:
        """The level wants another execution: close the position with the one the bot has,
        deciding nothing else meanwhile (False); once flat, journal the switch and end the run
        (True) for the composition root to build the bot again."""
        governance = self.governance
        before, after = governance.running_kind, governance.wanted_kind
        if self._flat():
            self._record_governance({"action": "switch", "from": before.value, "to": after.value,
                                     "level": int(governance.level),
                                     "reason": f"{governance.level.label} runs {after.value}; the bot is flat, "
                                               f"so it is rebuilt with its {after.value} execution"}, now_ms)
            governance.switch_to(after)
            self._finish(RunnerState.STOPPED, f"switching execution from {before.value} to {after.value}")
            return True
        if not self._has_working_order():
            logger.info("Governance: {} wants {} execution; closing the {} position first",
                        governance.level.label, after.value, before.value)
            await self.close_position("governance", now_ms=now_ms, cancel_why="execution switch")
        return False

    async def govern_by_hand(self, action: str) -> Decision:
        """`botrunner promote` / `demote`: between candles (it waits for the one being worked
        on). The decision, a REFUSE included, is journalled and the state checkpointed; a
        change of execution happens at the next candle."""
        if self.governance is None:
            raise RuntimeError(f"bot {self.bot_id} has no governance: add governance: {{enabled: true}} to its config")
        async with self._turn:
            decision = self.governance.by_hand(action)
            now_ms = self.last_candle_ts_ms + self._bar_ms if self.bars else self.clock.now_ms()
            self._record_governance(decision.record(), now_ms)
            if decision.action is not Action.REFUSE:
                self._scale_entries()
                self.checkpoint()
            return decision

    @property
    def stays_paused(self) -> bool:
        """Paused by governance and not killed: a run started now stops at once, reading no
        candle (`_stay_paused`), so the daemon shows a bot restored so stopped from its start."""
        return self.governance is not None and self.governance.pause_reason is not None and not self.kill_switch.tripped

    def _stay_paused(self) -> RunnerState:
        """At the start of a run: the bot was paused by governance before the restart, and stays
        STOPPED with the reason until `botrunner start`."""
        reason = self.governance.pause_reason
        logger.warning("Governance pause: {}; the bot stays stopped until `botrunner start`", reason)
        self._finish(RunnerState.STOPPED, f"governance pause: {reason}")
        return self.state

    def resume_governance(self) -> bool:
        """`botrunner start` of a bot governance paused, before it is built again: the pause is
        journalled as ended (True; the caller writes the snapshot). False when not paused."""
        record = self.governance.resume() if self.governance is not None else None
        if record is None:
            return False
        self._record_governance(record, self.clock.now_ms())
        return True

    def _replay_by_hand(self, made_ms: int) -> None:
        """The decisions scheduled for the candles read before this one, as `govern_by_hand`
        made them between those candles: on the ladder as it stood (this candle's equity and
        trades come after), journalled under the key they had."""
        due = [(bars, asked) for bars, asked in self._governance_replays if bars < self.bars]
        self._governance_replays = [r for r in self._governance_replays if r[0] >= self.bars] or None
        for bars, asked in due:
            decision = self.governance.by_hand(asked)
            self._record_governance(decision.record(), made_ms, bars=bars)
            if decision.action is not Action.REFUSE:
                self._scale_entries()

    @property
    def execution_switched(self) -> bool:
        """The run ended for a change of execution: build the bot again (the daemon does)."""
        return self.governance is not None and self.governance.switched

    def governance_figures(self) -> dict[str, Any] | None:
        return self.governance.figures() if self.governance is not None else None

    def _scale_entries(self) -> None:
        self._entry_scale = multiplier = self.governance.size_multiplier
        self.risk.scale_entries(multiplier)

    def _record_governance(self, record: dict[str, Any], now_ms: int, *, bars: int | None = None) -> None:
        logger.info("Governance {}: {}", record["action"], record["reason"])
        self._filled = True               # checkpoint at the end of this batch: the decision persists
        governance = self.governance
        bars = self.bars if bars is None else bars
        key = f"{bars}.{governance.journalled}"             # see the module docstring
        governance.journalled += 1
        self.journal.record(JournalEvent(self.bot_id, GOVERNANCE_KIND, now_ms, record, key, bars - 1))
