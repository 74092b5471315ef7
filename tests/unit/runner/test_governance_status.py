"""What governance leaves behind and shows: the level found again from the journal alone, shadow
marks in the journal, the governance text and the Prometheus series."""

from __future__ import annotations

from risk.governance.config import GovernanceConfig
from risk.governance.ladder import ExecutionKind, Level
from runner.control.governance_status import format_governance, governance_status
from runner.control.metrics import render_prometheus
from runner.governance.saved import saved_governance
from runner.governance.shadow_journal import ShadowJournal
from runner.state.journal import JournalEvent, MemoryJournal
from tests.fakes import make_status


def event(data, seq=1):
    return JournalEvent("bot", "governance", 60_000 * seq, data, seq=seq)


def test_without_a_snapshot_the_level_and_execution_come_from_the_journal():
    config = GovernanceConfig(enabled=True)
    events = [event({"action": "promote", "from": 0, "to": 1, "level": 1, "reason": "rule"}, 1),
              event({"action": "switch", "from": "shadow", "to": "paper", "level": 1, "reason": "flat"}, 2),
              event({"action": "promote", "from": 1, "to": 2, "level": 2, "reason": "rule"}, 3),
              event({"action": "health", "from": 1.0, "to": 0.8, "level": 2, "reason": "trades"}, 4)]
    saved = saved_governance(config, "live", None, events)
    # At L2, but the switch to live never happened: it comes back on paper, then switches.
    assert (saved.level, saved.running_kind, saved.state) == (Level.GATED, ExecutionKind.PAPER, None)
    assert saved_governance(config, "live", None, []).running_kind is ExecutionKind.SHADOW


def test_a_bot_whose_mode_changed_never_gets_an_execution_its_mode_forbids():
    config = GovernanceConfig(enabled=True)
    live_snapshot = {"governance": {"ladder": {"level": 3}, "running_kind": "live"}}
    made_paper = saved_governance(config, "paper", live_snapshot, [])
    assert (made_paper.level, made_paper.running_kind) == (Level.PAPER, ExecutionKind.PAPER)
    made_sim = saved_governance(config, "sim", live_snapshot, [])
    assert (made_sim.level, made_sim.running_kind) == (Level.CONSTRAINED, ExecutionKind.SIM)
    sim_snapshot = {"governance": {"ladder": {"level": 2}, "running_kind": "sim"}}
    assert saved_governance(config, "live", sim_snapshot, []).running_kind is ExecutionKind.LIVE


def test_a_shadow_bots_orders_and_fills_are_journalled_as_shadow():
    journal = MemoryJournal()
    shadow = ShadowJournal(journal)
    shadow.record(JournalEvent("bot", "order", 0, {"order_id": "x1"}))
    shadow.record(JournalEvent("bot", "lifecycle", 0, {"state": "running"}))
    assert journal.events[0].data == {"order_id": "x1", "shadow": True}
    assert journal.events[1].data == {"state": "running"}
    assert shadow.of_kind("order") == journal.of_kind("order")        # the rest passes through


def test_the_governance_text_shows_level_health_drift_and_the_last_decisions():
    figures = {"level": 2, "level_name": "L2 gated", "execution": "live", "size_multiplier": 0.08, "health": 0.8,
               "drift": {"action": "reduce", "divergence": 0.34}, "trades_at_level": 12,
               "promotion_shortfall": "12 of 50 closed trades at L2 gated"}
    events = [event({"action": "promote", "to": 2, "level": 2, "by": "rule", "reason": f"the rule holds ({i})"}, i)
              for i in range(1, 14)]
    status = governance_status("btc", "running", "live", figures, events)
    assert [d.reason for d in status.decisions][0] == "the rule holds (4)"     # the last ten
    text = format_governance([status])
    assert text.splitlines()[0] == ("btc  L2 gated  execution live  entries x0.080  health 0.80  "
                                    "drift reduce (34%)  [running]")
    assert "promotion: 12 of 50 closed trades at L2 gated" in text
    assert "promote by rule: the rule holds (13)" in text


def test_governed_bots_have_their_level_health_and_size_in_the_metrics():
    governed = make_status("btc", "running", governance={"level": 3, "execution": "live", "health": 0.75,
                                                         "size_multiplier": 0.375, "drift_divergence": None})
    text = render_prometheus([governed, make_status("eth", "running")])
    assert 'botrunner_governance_level{bot="btc"} 3' in text
    assert 'botrunner_governance_health{bot="btc"} 0.75' in text
    assert 'botrunner_governance_size_multiplier{bot="btc"} 0.375' in text
    assert 'bot="eth"' not in "\n".join(line for line in text.splitlines() if "governance" in line)
    assert "botrunner_governance_drift{" not in text
