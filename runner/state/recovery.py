"""Where a bot restarts from: its snapshot plus the journal past it.

The snapshot holds the bot's whole state at a candle boundary and the journal sequence number
it reflects. What the journal holds past that number happened after the snapshot and before the
crash. A sim bot is deterministic, so it re-runs the candles from the snapshot's position: the
orders and fills it makes again are checked against the journalled ones (same keys, same
values; see `runner.state.journal`) and booked once. Kills by hand are not deterministic, so those
the snapshot does not hold are scheduled to trip again before the same candle, and a resume past
the snapshot clears the latch; so are a person's governance decisions (promote, demote, and their
refusals), made again at the same place under the same keys. Which those are is read by where
the snapshot stands in the candles, not by its `journal_seq` (`runner.state.rerun_decisions`):
a snapshot written while the bot re-ran candles it had journalled holds the journal's end there,
and a second crash then must still make them. A paper or live bot cannot re-run: it books the fills past the
snapshot, asks the exchange about the intents past it, and leaves out the orders of the
snapshot cancelled past it (`cancelled_after`), and its kill latch is the one the journal leaves:
the kills and resumes past the snapshot folded into the snapshot's (`latch_after`; a kill's
snapshot is written a loop turn after its journal commit, and a flatten's answer may come later
still). Its governance decisions past the snapshot are folded in where it is built
(`runner.governance.saved`), and its protective exits catch up on the candles past the
snapshot where it is built too (`runner.state.exits_past_snapshot`), with those of the market
entries filled past the snapshot (`exits_to_arm`), from their fill's candle on, and (live) those
of the entries it looks up again and finds filled (`entries_to_look_up`).

A snapshot that is damaged is moved aside (kept for a person to look at) and the bot re-runs
from the start against the whole journal; so does a bot that crashed before its first snapshot.
With a damaged snapshot and nothing in the journal to rebuild from, it refuses to start.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from loguru import logger

from execution.models import Order
from runner.bot.errors import BotMustStayDown
from runner.governance.saved import GOVERNANCE_KIND
from runner.state.exits_past_snapshot import ExitsToArm, entries_to_look_up, exits_of_entries_past_snapshot
from runner.state.journal import BotJournal, JournalEvent
from runner.state.rerun_decisions import rerun_decisions
from runner.state.snapshots import CorruptSnapshot, SnapshotStore


class RecoveryError(BotMustStayDown):
    """The bot's state cannot be restored safely; a person must look. The message says why.
    `restored` is the bot as far as it was restored (shown in its status), when there is one."""

    restored: object | None = None


_KINDS = ("kill", "resume", "order", "fill", "cancel", GOVERNANCE_KIND)   # what recovery reads past the snapshot
_RERUN_KINDS = ("kill", "resume", GOVERNANCE_KIND)                        # `rerun_decisions`, from the whole journal


@dataclass(slots=True)
class RecoveredState:
    state: dict[str, Any] | None          # None: start from the first candle
    kills_to_replay: dict[int, str] = field(default_factory=dict)   # bar -> reason
    source: str = "fresh"                 # "fresh", "snapshot" or "journal"
    # Past the snapshot, for bots that cannot re-run their candles (paper, live): the fills to
    # book, and the order intents whose outcome the exchange must be asked about.
    fills_after: list[dict[str, Any]] = field(default_factory=list)
    orders_after: list[dict[str, Any]] = field(default_factory=list)
    # Order id -> why, of the cancels past the snapshot: a paper or live bot does not restore an
    # order of its snapshot that was cancelled since (`StrategyRunner.restore`).
    cancelled_after: dict[str, str] = field(default_factory=dict)
    # Sim: a person's governance decisions the snapshot does not hold, as (candles read, "promote"
    # or "demote"), made again at the same place (`StrategyRunner.schedule_governance`).
    governance_to_replay: list[tuple[int, str]] = field(default_factory=list)
    # Paper, live: the kill latch (`KillSwitch.snapshot()`) with the kills and resumes past the
    # snapshot folded in; None when none was journalled (`restore_from_journal` restores it).
    # Not for sim: its re-run trips the rules again and replays the kills by hand.
    latch_after: dict[str, Any] | None = None
    # Sim basket legs: (candles read, reason, source) of the first kill the snapshot does not hold,
    # after the last resume, whatever tripped it; the leg re-runs up to it (`StrategyRunner.follow_journalled_kill`).
    journalled_kill: tuple[int, str, str] | None = None
    # Paper, live: the protective exits of the market entries filled past the snapshot, to arm
    # and catch up from their fill's candle on (`runner.state.exits_past_snapshot`); a paper or
    # shadow bot's limit entries' join them where it is built (`exits_of_limit_entries_filled`).
    exits_to_arm: list[ExitsToArm] = field(default_factory=list)
    # Paper, live: the entries asking for exits that a live bot follows again by looking them up;
    # the feed gives the candles their exits may catch up on (`entries_to_look_up`).
    entries_to_look_up: list[Order] = field(default_factory=list)

    @property
    def position(self) -> int:
        return self.state["bars"] if self.state else 0


def recover(bot_id: str, snapshots: SnapshotStore, journal: BotJournal, *, reruns: bool = True) -> RecoveredState:
    """Read the bot's snapshot and the journal past it; see the module docstring. `reruns`: the
    bot re-runs its candles (sim), so the decisions by hand it makes again are looked for
    (`kills_to_replay`, `journalled_kill`, `governance_to_replay`; a paper or live bot needs none)."""
    try:
        state = snapshots.read(bot_id)
    except CorruptSnapshot as exc:
        state = _after_corrupt_snapshot(bot_id, snapshots, journal, exc)
        source = "journal"
    else:
        source = "snapshot" if state is not None else "fresh"
    after_seq = state.get("journal_seq", 0) if state else 0
    recovered = RecoveredState(state, source=source)
    latch = state["kill_switch"] if state else None
    past = journal.events(after_seq=after_seq, kinds=_KINDS)
    for event in past:
        if event.kind == "order":
            recovered.orders_after.append(event.data)
        elif event.kind == "fill":
            recovered.fills_after.append(event.data)
        elif event.kind == "cancel":                # keyed by order id, or a protective exit's by id@candle
            order_id = event.data.get("order_id", event.key)
            recovered.orders_after = [o for o in recovered.orders_after if o["order_id"] != order_id]
            recovered.cancelled_after[order_id] = event.data.get("why", "")
        elif event.kind != GOVERNANCE_KIND:         # a kill or a resume
            latch = recovered.latch_after = folded_latch(latch, event)
            if event.kind == "resume" and recovered.state is not None:
                recovered.state["kill_switch"] = latch
    if not reruns:
        recovered.exits_to_arm = exits_of_entries_past_snapshot(recovered.orders_after, recovered.fills_after,
                                                                recovered.cancelled_after)
        recovered.entries_to_look_up = entries_to_look_up(recovered.state, recovered.orders_after,
                                                          recovered.exits_to_arm, recovered.cancelled_after)
    if reruns:     # by where the state stands in the candles, not by `journal_seq` (see the module docstring)
        rerun = rerun_decisions(recovered.state, journal,
                                [e for e in past if e.kind in _RERUN_KINDS] if after_seq == 0 else None)
        recovered.kills_to_replay, recovered.journalled_kill = rerun.kills, rerun.first_kill
        recovered.governance_to_replay = rerun.governance
    if source == "fresh" and journal.events(kinds=("order", "fill"), limit=1):
        # Crashed before its first snapshot: re-run from the first candle, checked against what
        # the journal holds, which is a rebuild from the journal, not an empty start.
        recovered.source = "journal"
        logger.info("No snapshot yet; re-running from the first candle against the journal")
    return recovered


def folded_latch(latch: dict[str, Any] | None, event: JournalEvent) -> dict[str, Any]:
    """`KillSwitch.snapshot()`'s `latch` (None: never tripped) after a kill or resume `event`
    journalled past it, changed as `KillSwitch.trip` and `reset` change the switch: a kill
    latches unless tripped already (the first reason stays), a resume clears it and counts."""
    latch = latch or {"tripped": False, "reason": "", "ts_ms": 0}
    if event.kind == "resume":
        return {"tripped": False, "reason": "", "ts_ms": 0, "resets": latch.get("resets", 0) + 1}
    if latch["tripped"]:
        return latch
    return {**latch, "tripped": True, "reason": event.data["reason"], "ts_ms": event.ts_ms}


def _after_corrupt_snapshot(bot_id: str, snapshots: SnapshotStore, journal: BotJournal,
                            exc: CorruptSnapshot) -> None:
    if not journal.events(limit=1):
        raise RecoveryError(f"{exc}; and the journal holds nothing for bot {bot_id} to rebuild it "
                            "from. Refusing to start it empty; restore the file or remove it.") from exc
    kept = snapshots.set_aside(bot_id)
    logger.warning("{}; moved it to {} and rebuilding the bot from the journal", exc, kept)
    return None
