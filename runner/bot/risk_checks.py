"""The runner's side of risk beyond one decision: the audit trail, and room in a risk group.

- Every signal a rule blocked or resized is journalled as a `risk` event with the rule's
  name, its inputs and its verdict (`botrunner journal BOT --kind risk`), and counted per rule.
- After each fill: the risk rules learn it (protections count stop-losses and losing trades); a
  fill further than `max_fill_deviation_pct` from the close it was decided on is an alert (and,
  with `pause_on_fill_deviation`, stops the bot until `botrunner start`); and the position
  must equal the sum of the bot's fills, or the bot stops with the reason.
- A bot in a risk group (bots sharing an exchange account, or a group of the daemon's:
  `risk.group`) reserves room for each entry just before it leaves, and gives it back once the
  order is done.

A mixin of `StrategyRunner` (it reads the runner's own state), kept in its own module so that
the loop in `strategy_runner.py` reads alone.
"""

from __future__ import annotations

import math
from typing import Any

from loguru import logger

from execution.models import Fill, Side
from execution.order_ids import client_order_id
from risk.decision import RiskDecision
from runner.bot.errors import BotMustStayDown

__all__ = ["PositionInvariantBroken", "RiskChecks"]

# Module names for what every fill reads (a member off its enum class costs ten times a global on 3.11).
_BUY = Side.BUY
_isclose = math.isclose


class PositionInvariantBroken(BotMustStayDown):
    """The position is not the sum of the bot's fills: a bug, or state changed behind its back."""


class RiskChecks:
    """Risk methods of `StrategyRunner`; see the module docstring."""

    def _record_risk(self, rule: str, verdict: str, reason: str, inputs: dict[str, Any], now_ms: int) -> None:
        self.risk_blocks[rule] = self.risk_blocks.get(rule, 0) + 1
        self._record("risk", now_ms, {"rule": rule, "verdict": verdict, "reason": reason, "inputs": inputs})

    def _after_fill(self, fill: Fill, reference_price: float, now_ms: int) -> None:
        risk = self.risk
        watches = risk.watches_fills           # no protection nor fill-price check configured: no call
        if watches:
            risk.on_fill(fill)
        booked = self._booked_position + ((fill.quantity if fill.side is _BUY else -fill.quantity) - fill.base_fee)
        self._booked_position = booked
        position = self.portfolio.quantity
        if not _isclose(position, booked, rel_tol=1e-9, abs_tol=1e-12):
            raise PositionInvariantBroken(
                f"the position ({position}) differs from the sum of the bot's fills ({booked}) "
                f"after fill {fill.key}; the ledger cannot be trusted, so the bot stops for a person to look")
        if watches and reference_price > 0 and (deviation := risk.check_fill_price(fill.price, reference_price)):
            logger.warning("Fill {} at {} is far from the close it was decided on ({}): {}", fill.key, fill.price,
                           reference_price, deviation)
            self._record_risk("fill_deviation", "alert", deviation,
                              {"fill_price": fill.price, "reference_price": reference_price}, now_ms)
            if self.risk.pause_on_fill_deviation:
                self.request_stop()

    async def _read_spread(self) -> None:
        """Paper and live: the book's spread, read once before an entry is decided, for the
        spread breaker (sim has no book: the breaker never sees a spread there)."""
        spread = await self.execution.spread_bps()
        if spread is not None:
            self.risk.set_spread_bps(spread)

    def _group_room_for(self, decision: RiskDecision, now_ms: int) -> bool:
        """Reserve room in the risk group for an entry (exits need none); False, journalled,
        when it does not fit. Checked and reserved in one call with no await between: of two
        bots deciding on one candle, the first the event loop runs takes the room."""
        notional = decision.quote_amount
        if notional is None:
            if decision.price is None or decision.side is not Side.BUY:
                return True
            notional = decision.quantity * decision.price       # a limit entry: its notional at its price
        group = self.risk_group
        next_id = client_order_id(self.order_id_prefix, self.order_seq + 1)
        refusal = group.reserve(self.bot_id, next_id, self.symbol, notional, now_ms)
        if refusal is None:
            return True
        self._record_risk(f"risk_group:{group.name}", "reject", refusal, {"notional": notional}, now_ms)
        return False

    def _release_done_orders(self) -> None:
        """Give the group back the room of entries whose orders are done (filled and booked,
        refused, cancelled): their fills are in the position now, or nothing happened."""
        group = self.risk_group
        if group is not None and group.has_reservations(self.bot_id):
            group.release({o.client_order_id for o in self.execution.open_orders()}, bot_id=self.bot_id)
