"""Where a governed bot's level is found when it is built again: its snapshot, else its journal.

The snapshot holds the whole governance state, the execution the bot ran with included. Without
one (a bot that crashed before its first snapshot, or whose snapshot was damaged), the journal's
governance events still say where it stood: the level of the last decision, and the execution
of the last switch (none: the one its start level gives). The execution matters as much as the
level: a live bot demoted while its position was still open ran on with its live execution to
close it, and must come back with that execution, not the one its new level wants.
"""

from __future__ import annotations

from typing import Any

from risk.governance.config import GovernanceConfig
from risk.governance.ladder import ExecutionKind, Level, execution_kind, highest_level
from runner.state.journal import JournalEvent

__all__ = ["GOVERNANCE_KIND", "SavedGovernance", "saved_governance"]

GOVERNANCE_KIND = "governance"
"""The journal kind of every governance decision."""


class SavedGovernance:
    """The level and execution a governed bot is built with, and its saved state (or None)."""

    __slots__ = ("level", "running_kind", "state")

    def __init__(self, level: Level, running_kind: ExecutionKind, state: dict[str, Any] | None) -> None:
        self.level = level
        self.running_kind = running_kind
        self.state = state


def saved_governance(config: GovernanceConfig, mode: str, snapshot: dict[str, Any] | None,
                     events: list[JournalEvent]) -> SavedGovernance:
    """From the bot's snapshot (`snapshot["governance"]`), else from its journalled governance
    `events` (oldest first), else its configured start level."""
    state = (snapshot or {}).get("governance")
    if state is not None:
        level = min(Level(state["ladder"]["level"]), highest_level(mode))
        return SavedGovernance(level, _fitting(mode, level, ExecutionKind(state["running_kind"])), state)
    level = Level(config.start_level)
    kind = execution_kind(mode, level)
    for event in events:
        if "level" in event.data:
            level = Level(event.data["level"])
        if event.data.get("action") == "switch":
            kind = ExecutionKind(event.data["to"])
    level = min(level, highest_level(mode))
    return SavedGovernance(level, _fitting(mode, level, kind), None)


def _fitting(mode: str, level: Level, kind: ExecutionKind) -> ExecutionKind:
    """The saved execution, unless the bot's mode has changed since and cannot have it: a
    paper bot never gets a live execution, a sim bot only sim, an exchange bot never sim."""
    if mode == "sim" or kind is ExecutionKind.SIM or (mode == "paper" and kind is ExecutionKind.LIVE):
        return execution_kind(mode, level)
    return kind
