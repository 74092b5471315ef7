"""A person's decisions a sim bot makes again as it re-runs its candles: found by where its state
stands in its candles, not by the snapshot's `journal_seq`.

A sim bot comes back by re-running the candles past its snapshot (`runner.state.recovery`); a
kill by hand, and a promote or demote by hand, are not in its candles, so those the snapshot
does not hold are made again at their place (`StrategyRunner.schedule_kill`,
`schedule_governance`; a basket leg also follows its first kill, whatever tripped it:
`follow_journalled_kill`). The snapshot's `journal_seq` cannot say which those are once the bot
has re-run candles it had journalled: its journal handle starts at the bot's last row
(`BotJournal.last_seq`), and a re-written event keeps its place, so a snapshot written during a
re-run holds the journal's end there. Crashed again before the re-run reached a kill by hand, the
bot read nothing past that `journal_seq` and came back running (and, past a demotion it had not
made again, sized its entries as the journal had not: `JournalConflict`). So:

- a kill is in the snapshot when the snapshot is killed (latched and KILLED) since the last
  resume: a resume clears every kill before it (it is in the snapshot, or `recover` folds it in),
  and the latch trips once between resumes. One journalled after the last resume and not in the
  snapshot is made again at its candle, unless its candle is behind the snapshot's (a state that
  disagrees with its journal there is left as it is, not killed at a candle it will never read);
- the governance decisions are counted: the snapshot's `journalled` is how many it holds (each
  decision's key is `<candles read>.<decisions before it>`, and a re-run makes the same ones in
  the same order), so those past the first `journalled` of the journal are the ones to make again.

The whole journal of those kinds is read, once, as the bot is built: kills and resumes are a few
rows, and governance decisions one in many candles.
"""

from __future__ import annotations

from typing import Any

from runner.bot.states import RunnerState
from runner.governance.saved import GOVERNANCE_KIND, asked_by_hand
from runner.state.journal import BotJournal, JournalEvent

__all__ = ["RerunDecisions", "rerun_decisions"]


class RerunDecisions:
    """What a sim bot restored to `state` makes again past it; see the module docstring."""

    __slots__ = ("kills", "first_kill", "governance")

    def __init__(self) -> None:
        self.kills: dict[int, str] = {}                           # candles read -> reason, kills by hand
        self.first_kill: tuple[int, str, str] | None = None       # (candles read, reason, source)
        self.governance: list[tuple[int, str]] = []               # (candles read, "promote" or "demote")


def rerun_decisions(state: dict[str, Any] | None, journal: BotJournal,
                    events: list[JournalEvent] | None = None) -> RerunDecisions:
    """The decisions past `state` (None: the first candle) among the bot's journal. `events`:
    every kill, resume and governance event of the bot, oldest first, when the caller has read
    them already (a bot without a snapshot reads its whole journal)."""
    state = state or {}
    bars = state.get("bars", 0)
    governance_state = state.get("governance")
    if events is None:
        kinds = ("kill", "resume", GOVERNANCE_KIND) if governance_state is not None else ("kill", "resume")
        events = journal.events(kinds=kinds)
    decisions = RerunDecisions()
    kills: list[JournalEvent] = []
    governance: list[JournalEvent] = []
    for event in events:
        if event.kind == "resume":
            kills.clear()
        elif event.kind == "kill":
            kills.append(event)
        elif event.kind == GOVERNANCE_KIND:
            governance.append(event)
    latch = state.get("kill_switch") or {}
    killed = latch.get("tripped", False) and state.get("state") == RunnerState.KILLED.value
    for event in kills:
        at = event.data["bars"]
        if at > bars or (at == bars and not killed):
            if decisions.first_kill is None:
                decisions.first_kill = (at, event.data["reason"], event.data.get("source", "rule"))
            if event.data.get("source") == "manual":
                decisions.kills[at] = event.data["reason"]
    held = (governance_state or {}).get("journalled", 0)
    for event in governance[held:]:
        if (asked := asked_by_hand(event.data)) is not None and event.bar + 1 >= bars:
            decisions.governance.append((event.bar + 1, asked))   # journalled at bar = candles read - 1
    return decisions
