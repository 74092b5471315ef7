"""What `botrunner governance` shows: each governed bot's level, health, drift and last decisions.

The daemon builds it from the running bot (`GET /governance`, `GET /bots/{id}/governance`); with
no daemon running, `from_state_folder` reads the same from the bots' snapshots and the journal.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel

from market.models import iso_utc
from runner.state.journal import JournalEvent

__all__ = ["GovernanceDecision", "GovernanceStatus", "format_governance", "from_state_folder", "governance_status"]

LAST_DECISIONS = 10


class GovernanceDecision(BaseModel):
    time: str
    action: str             # promote, demote, refuse, health, drift_reduce, drift_pause, drift_none, switch
    level: int | None       # the level after it
    by: str | None          # rule or person, for promotions and demotions
    reason: str


class GovernanceStatus(BaseModel):
    id: str
    state: str
    mode: str
    level: int | None               # None: the bot has not run with governance yet
    level_name: str | None
    execution: str | None           # what its orders meet now: shadow, paper, live (sim for a sim bot)
    size_multiplier: float | None   # level x health x drift: what entries are scaled by
    health: float | None
    drift: dict[str, Any] | None    # the last drift check's figures, None before the first
    figures: dict[str, Any] = {}    # everything else: the record at the level, the promotion's shortfall
    decisions: list[GovernanceDecision] = []


def governance_status(bot_id: str, state: str, mode: str, figures: dict[str, Any] | None,
                      events: list[JournalEvent]) -> GovernanceStatus:
    """The status of one bot from its governance `figures` (None: unknown yet) and its journalled
    governance events (oldest first; the last ten are shown)."""
    figures = figures or {}
    decisions = [GovernanceDecision(time=iso_utc(e.ts_ms), action=e.data.get("action", "?"), level=e.data.get("level"),
                                    by=e.data.get("by"), reason=e.data.get("reason", ""))
                 for e in events[-LAST_DECISIONS:]]
    return GovernanceStatus(
        id=bot_id, state=state, mode=mode, level=figures.get("level"), level_name=figures.get("level_name"),
        execution=figures.get("execution"), size_multiplier=figures.get("size_multiplier"),
        health=figures.get("health"), drift=figures.get("drift"),
        figures={k: v for k, v in figures.items()
                 if k not in ("level", "level_name", "execution", "size_multiplier", "health", "drift")},
        decisions=decisions)


def from_state_folder(state_dir: Path, bot_id: str | None = None) -> list[GovernanceStatus]:
    """Read what a stopped daemon left: each governed bot's snapshot figures and its journal.
    Raises FileNotFoundError when the folder has no journal."""
    from runner.state.state_dir import JOURNAL_FILE, SNAPSHOT_FOLDER
    from runner.state.journal import SqliteJournal
    from runner.state.snapshots import CorruptSnapshot, SnapshotStore

    journal_path = state_dir / JOURNAL_FILE
    if not journal_path.exists():
        raise FileNotFoundError(f"no journal at {journal_path}; is --state-dir the daemon's state folder?")
    store = SnapshotStore(state_dir / SNAPSHOT_FOLDER)
    ids = [bot_id] if bot_id else sorted(p.stem for p in (state_dir / SNAPSHOT_FOLDER).glob("*.json"))
    journal = SqliteJournal(journal_path)
    try:
        statuses = []
        for each in ids:
            try:
                snapshot = store.read(each) or {}
            except CorruptSnapshot:
                snapshot = {}
            events = journal.events(each, kinds=("governance",))
            governance = snapshot.get("governance")
            if governance is None and not events:
                continue                  # not a governed bot
            figures = (governance or {}).get("figures")
            statuses.append(governance_status(each, snapshot.get("state", "unknown"), "-", figures, events))
        return statuses
    finally:
        journal.close()


def format_governance(statuses: list[GovernanceStatus]) -> str:
    """The text `botrunner governance` prints: a few lines per bot, its last decisions under it."""
    if not statuses:
        return "no governed bots (governance: {enabled: true} in a bot's config)"
    lines: list[str] = []
    for s in statuses:
        health = "-" if s.health is None else f"{s.health:.2f}"
        size = "-" if s.size_multiplier is None else f"x{s.size_multiplier:.3f}"
        drift = s.drift or {}
        divergence = drift.get("divergence")
        drift_text = ("not checked yet" if not drift else
                      f"{drift.get('action')} ({'-' if divergence is None else f'{divergence:.0%}'})")
        lines.append(f"{s.id}  {s.level_name or 'level unknown'}  execution {s.execution or '-'}  entries {size}  "
                     f"health {health}  drift {drift_text}  [{s.state}]")
        shortfall = s.figures.get("promotion_shortfall")
        trades = s.figures.get("trades_at_level")
        if trades is not None:
            counted = f"{trades} trade" if trades == 1 else f"{trades} trades"
            lines.append(f"  at this level: {counted}; promotion: {shortfall or 'the rule holds'}")
        for d in s.decisions:
            by = f" by {d.by}" if d.by else ""
            lines.append(f"  {d.time}  {d.action}{by}: {d.reason}")
    return "\n".join(lines)
