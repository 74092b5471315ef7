"""The maturity ladder: which level a bot trades at, and how it moves between levels.

| level | name | a live bot's execution | entry size |
|---|---|---|---|
| L0 | shadow | none sent: sim fills on candles, on its own book | as sized |
| L1 | paper | paper: the exchange's quotes, no orders sent | as sized |
| L2 | gated | live | `safe_mode.size_multiplier` of it |
| L3 | constrained | live | `constrained_fraction` of it |
| L4 | full | live | as sized |

A paper bot climbs to L1 at most (it never sends orders); a sim bot climbs the whole ladder as
a rehearsal, its execution always sim, the level setting only its size.

Promotion is slow and by rule: at least `min_trades` round trips closed at the current level,
their win rate above `min_win_rate`, and the worst drawdown seen at the level within
`max_drawdown_pct`. Up to L2 it happens by itself on the trade that makes the rule hold; past
L2 only a person promotes (`botrunner promote BOT`), and only when the rule holds. Demotion is
fast: equity falling more than `demote_drawdown_pct` below its peak at the level drops the bot
one level on that candle. Each move starts the new level's record afresh (no trades, the
equity of that moment as its peak), so every level is earned on its own results.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Any

__all__ = ["Action", "Decision", "ExecutionKind", "Ladder", "Level", "PromotionRule", "execution_kind",
           "highest_level"]


class Level(IntEnum):
    SHADOW = 0
    PAPER = 1
    GATED = 2
    CONSTRAINED = 3
    FULL = 4

    @property
    def label(self) -> str:
        """`L2 gated`: how logs, the journal and `botrunner governance` name it."""
        return f"L{self.value} {self.name.lower()}"


AUTOMATIC_UP_TO = Level.GATED
"""The highest level a rule reaches alone; every promotion past it is a person's."""


class ExecutionKind(StrEnum):
    """What a bot's orders really meet at its level."""

    SIM = "sim"          # a sim bot: candles from a file or generator
    SHADOW = "shadow"    # exchange candles, sim fills, nothing sent
    PAPER = "paper"      # exchange quotes, nothing sent
    LIVE = "live"        # orders sent


class Action(StrEnum):
    PROMOTE = "promote"
    DEMOTE = "demote"
    REFUSE = "refuse"    # a promotion asked for (or due, past L2) that does not happen; `reason` says why


def highest_level(mode: str) -> Level:
    """The top of the ladder for a bot of `mode`: L1 for paper (it never sends orders)."""
    return Level.PAPER if mode == "paper" else Level.FULL


def execution_kind(mode: str, level: Level) -> ExecutionKind:
    """The execution a bot of `mode` gets at `level` (see the table in the module docstring)."""
    if mode == "sim":
        return ExecutionKind.SIM
    if level is Level.SHADOW:
        return ExecutionKind.SHADOW
    if level is Level.PAPER or mode == "paper":
        return ExecutionKind.PAPER
    return ExecutionKind.LIVE


@dataclass(slots=True, frozen=True)
class PromotionRule:
    """What a bot must show at its level before it moves up; fractions, 0.45 = 45%."""

    min_trades: int = 50
    min_win_rate: float = 0.45          # strictly above
    max_drawdown_pct: float = 0.05      # the worst drawdown at the level, at most this


@dataclass(slots=True, frozen=True)
class Decision:
    """A move on the ladder, or a refusal of one; `by` is "rule" or "person"."""

    action: Action
    from_level: Level
    to_level: Level
    reason: str
    by: str = "rule"

    def record(self) -> dict[str, Any]:
        """The journal's view: what, from which level to which, why, decided by whom."""
        return {"action": self.action.value, "from": int(self.from_level), "to": int(self.to_level),
                "level": int(self.to_level), "reason": self.reason, "by": self.by}


class Ladder:
    """One bot's place on the ladder and its record at that level. Feed it every closed trade
    (`on_trade`) and every marked equity (`on_equity`); each returns the move it made, if any.

        ladder = Ladder(Level.SHADOW, highest=Level.FULL)
        ladder.on_equity(10_000.0)
        decision = ladder.on_trade(won=True)     # a Decision once the rule holds, else None
    """

    __slots__ = ("level", "highest", "rule", "demote_drawdown_pct", "trades", "wins", "peak_equity",
                 "max_drawdown", "drawdown", "last_equity", "_waiting_noted")

    def __init__(self, level: Level, *, highest: Level = Level.FULL, rule: PromotionRule = PromotionRule(),
                 demote_drawdown_pct: float = 0.10) -> None:
        self.level = min(level, highest)
        self.highest = highest
        self.rule = rule
        self.demote_drawdown_pct = demote_drawdown_pct
        self.last_equity: float | None = None
        self._start_level(None)

    def _start_level(self, equity: float | None) -> None:
        self.trades = 0
        self.wins = 0
        self.peak_equity = equity
        self.max_drawdown = 0.0
        self.drawdown = 0.0
        self._waiting_noted = False     # "the rule holds, a person must promote" journalled once per level

    # -- what the bot did --------------------------------------------------------------------

    def on_trade(self, *, won: bool) -> Decision | None:
        """A round trip closed at this level. Promotes (up to L2) on the trade that makes the
        rule hold; past L2, or at the bot's highest level, says once that it waits (a REFUSE)."""
        self.trades += 1
        self.wins += won
        if self.shortfall() is not None:
            return None
        if self.level >= self.highest:
            return self._note_waiting(f"the rule holds, but {self.level.label} is the highest level for this bot")
        if self.level >= AUTOMATIC_UP_TO:
            return self._note_waiting(f"the rule holds; past {AUTOMATIC_UP_TO.label} only a person promotes "
                                      f"(botrunner promote)")
        return self._move(Action.PROMOTE, Level(self.level + 1), f"the rule holds: {self._record_text()}", "rule")

    def on_equity(self, equity: float) -> Decision | None:
        """The bot's equity marked at a candle's close. Demotes one level on the candle the
        drawdown at this level passes `demote_drawdown_pct` (not at L0: there is no lower)."""
        self.last_equity = equity
        peak = self.peak_equity
        if peak is None or equity >= peak:       # the common case on a rising curve: nothing to check
            self.peak_equity = equity
            self.drawdown = 0.0
            return None
        drawdown = 1.0 - equity / peak if peak > 0 else 0.0
        self.drawdown = drawdown
        if drawdown > self.max_drawdown:
            self.max_drawdown = drawdown
        if drawdown > self.demote_drawdown_pct and self.level > Level.SHADOW:
            return self._move(Action.DEMOTE, Level(self.level - 1),
                              f"drawdown {drawdown:.1%} at {self.level.label} is beyond {self.demote_drawdown_pct:.1%}",
                              "rule", equity)
        return None

    # -- what a person asks ------------------------------------------------------------------

    def promote_by_hand(self) -> Decision:
        """One level up if the rule holds and the bot is below its highest level; otherwise a
        REFUSE saying why (the ladder is unchanged)."""
        if self.level >= self.highest:
            return self._refuse(f"{self.level.label} is the highest level for this bot")
        missing = self.shortfall()
        if missing is not None:
            return self._refuse(f"the promotion rule does not hold yet: {missing}")
        return self._move(Action.PROMOTE, Level(self.level + 1), f"by hand; the rule holds: {self._record_text()}",
                          "person")

    def demote_by_hand(self) -> Decision:
        """One level down, or a REFUSE at L0."""
        if self.level is Level.SHADOW:
            return self._refuse(f"already at {Level.SHADOW.label}, the lowest level", action="demote")
        return self._move(Action.DEMOTE, Level(self.level - 1), "by hand", "person")

    # -- the rule ----------------------------------------------------------------------------

    @property
    def win_rate(self) -> float | None:
        return self.wins / self.trades if self.trades else None

    def shortfall(self) -> str | None:
        """Why the promotion rule does not hold yet (every unmet part), or None when it does."""
        rule, missing = self.rule, []
        if self.trades < rule.min_trades:
            trades = "closed trade" if rule.min_trades == 1 else "closed trades"
            missing.append(f"{self.trades} of {rule.min_trades} {trades} at {self.level.label}")
        win_rate = self.win_rate
        if win_rate is None or win_rate <= rule.min_win_rate:
            shown = "none yet" if win_rate is None else f"{win_rate:.2f}"
            missing.append(f"win rate {shown}, needs above {rule.min_win_rate:.2f}")
        if self.max_drawdown > rule.max_drawdown_pct:
            missing.append(f"drawdown {self.max_drawdown:.1%} at the level is beyond {rule.max_drawdown_pct:.1%}")
        return "; ".join(missing) if missing else None

    def _record_text(self) -> str:
        trades = "trade" if self.trades == 1 else "trades"
        return (f"{self.trades} {trades} at {self.level.label}, win rate {self.wins / self.trades:.2f}, "
                f"worst drawdown {self.max_drawdown:.1%}")

    def _move(self, action: Action, to: Level, reason: str, by: str, equity: float | None = None) -> Decision:
        decision = Decision(action, self.level, to, reason, by)
        # The new level's peak is the equity of this moment: a demotion does not carry the old
        # level's fall into the new one (it would demote again on the next candle).
        self.level = to
        self._start_level(equity if equity is not None else self.last_equity)
        return decision

    def _refuse(self, reason: str, *, action: str = "promote") -> Decision:
        return Decision(Action.REFUSE, self.level, self.level, f"{action} refused: {reason}", "person")

    def _note_waiting(self, reason: str) -> Decision | None:
        if self._waiting_noted:
            return None
        self._waiting_noted = True
        return Decision(Action.REFUSE, self.level, self.level, reason, "rule")

    # -- state -------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        return {"level": int(self.level), "trades": self.trades, "wins": self.wins, "peak_equity": self.peak_equity,
                "max_drawdown": self.max_drawdown, "drawdown": self.drawdown, "last_equity": self.last_equity, "waiting_noted": self._waiting_noted}

    def restore(self, data: dict[str, Any]) -> None:
        """Continue from `snapshot()`; a level above this bot's highest (its mode changed) is capped."""
        self.level = min(Level(data["level"]), self.highest)
        self.trades, self.wins = data["trades"], data["wins"]
        self.peak_equity, self.max_drawdown = data["peak_equity"], data["max_drawdown"]
        self.drawdown = data.get("drawdown", 0.0)
        self.last_equity = data.get("last_equity")
        self._waiting_noted = data.get("waiting_noted", False)
