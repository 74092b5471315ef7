"""Where a governed bot's level is found when it is built again: its snapshot, else its journal.

The snapshot holds the whole governance state, the execution the bot ran with included. Without
one (a bot that crashed before its first snapshot, or whose snapshot was damaged), the journal's
governance events still say where it stood: the level of the last decision, and the execution
of the last switch (none: the one its start level gives). The execution matters as much as the
level: a live bot demoted while its position was still open ran on with its live execution to
close it, and must come back with that execution, not the one its new level wants.

A paper or live bot does not re-run its candles, so the governance events journalled past its
snapshot (a crash before the next one was written) are folded into the snapshot's state (and,
without one, all its events into the state it is built with: `fold_unsaved`): the
level (a move starts the level's record afresh), the execution, the drift factor, a pause and
its resume, and the count of events, which keys the next one (`runner.bot.governing`). A sim bot
re-runs its candles from the snapshot (or from the first, at its start level, without one):
the re-run makes the same decisions under the same keys, which the journal checks and keeps once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from risk.governance.config import GovernanceConfig
from risk.governance.ladder import ExecutionKind, Level, execution_kind, highest_level
from runner.state.journal import JournalEvent

if TYPE_CHECKING:
    from runner.governance.bot_governance import BotGovernance

__all__ = ["GOVERNANCE_KIND", "SavedGovernance", "asked_by_hand", "fold_events", "fold_unsaved", "saved_governance"]

GOVERNANCE_KIND = "governance"
"""The journal kind of every governance decision."""


class SavedGovernance:
    """The level and execution a governed bot is built with, and its saved state (or None)."""

    __slots__ = ("level", "running_kind", "state", "unsaved")

    def __init__(self, level: Level, running_kind: ExecutionKind, state: dict[str, Any] | None,
                 unsaved: list[JournalEvent] | None = None) -> None:
        self.level = level
        self.running_kind = running_kind
        self.state = state
        # A paper or live bot without a saved state: its journalled events, to fold into the
        # state it is built with (`fold_unsaved`): a drift pause, the count that keys the next.
        self.unsaved = unsaved or []


def saved_governance(config: GovernanceConfig, mode: str, snapshot: dict[str, Any] | None,
                     events: list[JournalEvent]) -> SavedGovernance:
    """From the bot's snapshot (`snapshot["governance"]`) and, for a paper or live bot, its
    journalled governance `events` past it (folded into `snapshot["governance"]` in place, which
    the runner then restores, as `runner.state.recovery` brings the kill latch up to date); else
    from all its journalled governance `events` (oldest first); else its start level."""
    state = (snapshot or {}).get("governance")
    if state is not None:
        if events and mode != "sim":
            state = snapshot["governance"] = fold_events(state, events, config)
        level = min(Level(state["ladder"]["level"]), highest_level(mode))
        return SavedGovernance(level, _fitting(mode, level, ExecutionKind(state["running_kind"])), state)
    level = Level(config.start_level)
    kind = execution_kind(mode, level)
    if mode == "sim":
        events = []          # re-run from the first candle: its decisions are made again
    for event in events:
        if "level" in event.data:
            level = Level(event.data["level"])
        if event.data.get("action") == "switch":
            kind = ExecutionKind(event.data["to"])
    level = min(level, highest_level(mode))
    return SavedGovernance(level, _fitting(mode, level, kind), None, events)


def _fitting(mode: str, level: Level, kind: ExecutionKind) -> ExecutionKind:
    """The saved execution, unless the bot's mode has changed since and cannot have it: a
    paper bot never gets a live execution, a sim bot only sim, an exchange bot never sim."""
    if mode == "sim" or kind is ExecutionKind.SIM or (mode == "paper" and kind is ExecutionKind.LIVE):
        return execution_kind(mode, level)
    return kind


def fold_events(state: dict[str, Any], events: list[JournalEvent], config: GovernanceConfig) -> dict[str, Any]:
    """`BotGovernance.snapshot()`'s `state` brought up to date with the governance `events`
    journalled after it (see the module docstring). What the events do not carry (the health
    window's returns, the record at a new level) starts afresh, as it does at a move."""
    state = {**state, "ladder": dict(state["ladder"])}
    ladder = state["ladder"]
    for event in events:
        data = event.data
        state["journalled"] = state.get("journalled", 0) + 1
        level = data.get("level")
        if level is not None and level != ladder["level"]:
            ladder.update(level=level, trades=0, wins=0, peak_equity=ladder.get("last_equity"), max_drawdown=0.0,
                          drawdown=0.0, waiting_noted=False)
        action = data.get("action", "")
        if action == "switch":
            state["running_kind"] = data["to"]
        elif action == "health":
            state["journalled_health"] = data["to"]
        elif action.startswith("drift_"):
            state["drift_factor"] = 1.0 if action == "drift_none" else config.drift.reduce_to
            state["last_drift"] = data["drift"]
            if action == "drift_pause":
                state["pause_reason"] = f"drift: {data['drift']['reason']}"
        elif action == "resume":
            state["pause_reason"] = None
        elif action == "refuse" and data.get("by") == "rule":
            ladder["waiting_noted"] = True          # "the rule holds, a person must promote": said once
    return state


def fold_unsaved(governance: BotGovernance, saved: SavedGovernance, config: GovernanceConfig) -> None:
    """A paper or live bot built without a saved governance state (it crashed before its first
    snapshot reached the disk, or that snapshot was damaged): the events its journal holds are
    folded into the state it was built with, as those past a snapshot are (`fold_events`). Else
    a bot paused by drift came back running, and its next event reused a key."""
    if saved.unsaved:
        governance.restore(fold_events(governance.snapshot(), saved.unsaved, config))


def asked_by_hand(data: dict[str, Any]) -> str | None:
    """What a person asked for (`promote` or `demote`) in a governance event's `data`, refused
    or not; None for a decision of the rules (or a resume, which no re-run makes again)."""
    if data.get("by") != "person":
        return None
    action = data.get("action")
    if action in ("promote", "demote"):
        return action
    if action == "refuse":                      # "promote refused: ..." (`Ladder._refuse`)
        return "demote" if data.get("reason", "").startswith("demote") else "promote"
    return None
