"""The maturity ladder on crafted trade and equity sequences: promotion exactly when the rule
holds, demotion on the candle the drawdown crosses, a person needed past L2."""

from __future__ import annotations

import pytest

from risk.governance.ladder import (Action, ExecutionKind, Ladder, Level, PromotionRule, execution_kind,
                                    highest_level)

RULE = PromotionRule(min_trades=50, min_win_rate=0.45, max_drawdown_pct=0.05)


def ladder_at(level: Level, *, highest: Level = Level.FULL) -> Ladder:
    ladder = Ladder(level, highest=highest, rule=RULE, demote_drawdown_pct=0.10)
    ladder.on_equity(10_000.0)
    return ladder


def test_promotes_on_the_trade_that_makes_the_rule_hold_and_not_one_earlier():
    ladder = ladder_at(Level.SHADOW)
    outcomes = [ladder.on_trade(won=i % 2 == 0) for i in range(49)]    # 25 wins of 49
    assert outcomes == [None] * 49 and ladder.level is Level.SHADOW
    assert "49 of 50 closed trades" in ladder.shortfall()

    decision = ladder.on_trade(won=False)                              # the 50th: 25 of 50 = 0.50 > 0.45
    assert decision.action is Action.PROMOTE and decision.by == "rule"
    assert (decision.from_level, decision.to_level, ladder.level) == (Level.SHADOW, Level.PAPER, Level.PAPER)
    assert ladder.trades == 0            # the new level is earned on its own trades


def test_no_promotion_while_the_win_rate_is_not_above_the_minimum():
    ladder = ladder_at(Level.SHADOW)
    for i in range(100):                 # 55 losses, then 45 wins: exactly 0.45 is not above it
        assert ladder.on_trade(won=i >= 55) is None
    assert "win rate 0.45, needs above 0.45" in ladder.shortfall()
    assert ladder.on_trade(won=True).action is Action.PROMOTE      # 46 of 101


def test_a_drawdown_seen_at_the_level_beyond_the_rule_blocks_promotion():
    ladder = ladder_at(Level.SHADOW)
    ladder.on_equity(9_400.0)            # 6% under the peak: within demotion, beyond the rule
    ladder.on_equity(10_500.0)
    for _ in range(60):
        assert ladder.on_trade(won=True) is None
    assert "drawdown 6.0% at the level is beyond 5.0%" in ladder.shortfall()


def test_climbs_alone_to_l2_then_waits_for_a_person():
    ladder = ladder_at(Level.PAPER)
    for _ in range(50):
        decision = ladder.on_trade(won=True)
    assert decision.action is Action.PROMOTE and ladder.level is Level.GATED

    waits = [ladder.on_trade(won=True) for _ in range(60)]
    refusals = [d for d in waits if d is not None]
    assert ladder.level is Level.GATED                                 # never past L2 by itself
    assert len(refusals) == 1 and refusals[0].action is Action.REFUSE  # said once, on the 50th trade
    assert waits.index(refusals[0]) == 49 and "only a person promotes" in refusals[0].reason

    by_hand = ladder.promote_by_hand()
    assert by_hand.action is Action.PROMOTE and by_hand.by == "person" and ladder.level is Level.CONSTRAINED


def test_a_promotion_by_hand_before_the_rule_holds_is_refused_with_the_reason():
    ladder = ladder_at(Level.GATED)
    for _ in range(10):
        ladder.on_trade(won=True)
    decision = ladder.promote_by_hand()
    assert decision.action is Action.REFUSE and ladder.level is Level.GATED
    assert decision.reason == "promote refused: the promotion rule does not hold yet: 10 of 50 closed trades at L2 gated"


def test_demotes_on_the_candle_the_drawdown_crosses_the_limit():
    ladder = ladder_at(Level.CONSTRAINED)
    equities = [10_200.0, 9_900.0, 9_250.0, 9_181.0, 9_179.0, 9_000.0]   # peak 10,200: 10% under is 9,180
    decisions = [ladder.on_equity(e) for e in equities]
    assert decisions[:4] == [None, None, None, None]
    assert decisions[4].action is Action.DEMOTE and ladder.level is Level.GATED
    assert "drawdown 10.0% at L3 constrained is beyond 10.0%" in decisions[4].reason
    assert decisions[5] is None          # the new level's peak is 9,179: 9,000 is 1.9% under it


def test_l0_is_the_floor_and_a_paper_bot_tops_out_at_l1():
    shadow = ladder_at(Level.SHADOW)
    assert shadow.on_equity(5_000.0) is None and shadow.level is Level.SHADOW
    assert shadow.demote_by_hand().action is Action.REFUSE

    paper = ladder_at(Level.PAPER, highest=highest_level("paper"))
    for _ in range(50):
        last = paper.on_trade(won=True)
    assert last.action is Action.REFUSE and "highest level" in last.reason and paper.level is Level.PAPER
    assert paper.promote_by_hand().action is Action.REFUSE


def test_demotion_by_hand_always_goes_one_level_down():
    ladder = ladder_at(Level.FULL)
    decision = ladder.demote_by_hand()
    assert (decision.action, decision.by, ladder.level) == (Action.DEMOTE, "person", Level.CONSTRAINED)


def test_the_level_and_its_record_survive_a_snapshot():
    ladder = ladder_at(Level.GATED)
    for i in range(7):
        ladder.on_trade(won=i != 3)
    ladder.on_equity(9_700.0)
    restored = Ladder(Level.SHADOW, rule=RULE)
    restored.restore(ladder.snapshot())
    assert (restored.level, restored.trades, restored.wins, round(restored.max_drawdown, 9)) == (Level.GATED, 7, 6, 0.03)
    capped = Ladder(Level.SHADOW, highest=Level.PAPER, rule=RULE)
    capped.restore(ladder.snapshot())
    assert capped.level is Level.PAPER   # a live bot made paper comes back at most at L1


@pytest.mark.parametrize(("mode", "level", "kind"), [
    ("live", Level.SHADOW, ExecutionKind.SHADOW), ("live", Level.PAPER, ExecutionKind.PAPER),
    ("live", Level.GATED, ExecutionKind.LIVE), ("live", Level.FULL, ExecutionKind.LIVE),
    ("paper", Level.SHADOW, ExecutionKind.SHADOW), ("paper", Level.PAPER, ExecutionKind.PAPER),
    ("sim", Level.GATED, ExecutionKind.SIM),
])
def test_the_level_decides_the_execution_a_bot_really_gets(mode, level, kind):
    assert execution_kind(mode, level) is kind
