"""The exits held while their entry's market exit is out (`execution.live_exits_in_flight`), and
the ids of the exits armed again after it never reached the exchange (`execution.order_ids`)."""

from __future__ import annotations

import pytest

from execution.live_exits_in_flight import ExitsInFlight, unsold
from execution.models import Order, OrderType, Side
from execution.order_ids import (
    exchange_stop_id, exit_generation, is_exchange_stop, managed_exit_entry, protected_entry, protective_id,
    protective_kind,
)


def exit_of(order_id: str, reason: str = "stop_loss") -> Order:
    return Order(order_id, "BTC/USDT", Side.SELL, OrderType.STOP, quantity=1.0, stop_price=95.0, oco_group="br1-4",
                 reason=reason)


def test_an_exit_armed_again_has_a_new_id_that_still_names_its_entry_and_kind():
    assert [protective_id("br1-4", "sl"), protective_id("br1-4", "ts", 2), protective_id("br1-4", "tp", 12)] == [
        "br1-4-sl", "br1-4-ts2", "br1-4-tp12"]
    assert [exit_generation(i) for i in ("br1-4-sl", "br1-4-ts2", "br1-4-tp12", "br1-4")] == [1, 2, 12, 1]
    assert [managed_exit_entry(i) for i in ("br1-4-sl3", "br1-4-xs", "br1-4", "br1-4-slx")] == [
        "br1-4", None, None, None]
    assert protective_kind("br1-4-ts2", "br1-4") == "ts" and protective_kind("br1-4-ts2", "br1-5") is None
    assert protected_entry("br1-4-xs") == "br1-4"


def test_a_stop_put_back_on_the_exchange_has_a_new_id_that_still_names_its_entry():
    assert [exchange_stop_id("br1-4"), exchange_stop_id("br1-4", 2)] == ["br1-4-xs", "br1-4-xs2"]
    assert [is_exchange_stop(i) for i in ("br1-4-xs", "br1-4-xs2", "br1-4-xsx", "br1-4-sl2", "br1-4")] == [
        True, True, False, False, False]
    assert [protected_entry(i) for i in ("br1-4-xs2", "br1-4-xs13", "br1-4-xsx")] == ["br1-4", "br1-4", None]
    assert [exit_generation(i) for i in ("br1-4-xs", "br1-4-xs2")] == [1, 2]
    assert managed_exit_entry("br1-4-xs2") is None           # the engine sends no market exit for it

def test_held_exits_come_back_under_the_generation_after_their_exit_when_it_never_landed():
    held = ExitsInFlight()
    held.hold("br1-4-sl", [exit_of("br1-4-sl"), exit_of("br1-4-tp", reason="take_profit")])

    assert [o.client_order_id for o in held.orders()] == ["br1-4-sl2", "br1-4-tp2"]
    assert held.exit_out("br1-4") == "br1-4-sl"
    assert [o.client_order_id for o in held.release("br1-4-sl")] == ["br1-4-sl2", "br1-4-tp2"]
    assert not held and held.release("br1-4-sl") == []


def test_a_later_exit_of_the_entry_takes_the_held_exits_over_from_the_first():
    # After a restart both are followed: the first (never landed) and the one sent after it.
    held = ExitsInFlight()
    held.hold("br1-4-sl", [exit_of("br1-4-sl")])
    held.hold("br1-4-sl2", [])

    assert held.release("br1-4-sl") == []                          # the first's outcome arms nothing
    assert [o.client_order_id for o in held.release("br1-4-sl2")] == ["br1-4-sl3"]


def test_naming_a_held_exit_drops_its_entrys_held_exits_and_only_those():
    held = ExitsInFlight()
    held.hold("br1-4-sl", [exit_of("br1-4-sl"), exit_of("br1-4-tp", reason="take_profit")])
    held.hold("br1-5-ts", [Order("br1-5-ts", "BTC/USDT", Side.SELL, OrderType.STOP, quantity=1.0, stop_price=90.0,
                                 oco_group="br1-5", reason="trailing_stop", trailing_stop_pct=0.05)])

    assert [o.client_order_id for o in held.disarm(["br1-4-tp2"])] == ["br1-4-sl2", "br1-4-tp2"]
    assert [o.client_order_id for o in held.clear()] == ["br1-5-ts2"]


def test_only_a_market_exit_of_a_protective_exit_holds_exits():
    with pytest.raises(ValueError, match="br1-4-xs is no market exit"):
        ExitsInFlight().hold("br1-4-xs", [])


def test_exits_dropped_while_their_exit_is_out_are_handed_over_once_and_release_arms_nothing():
    held = ExitsInFlight()
    held.hold("br1-4-sl", [exit_of("br1-4-sl")])
    held.hold("br1-5-sl", [Order("br1-5-sl", "BTC/USDT", Side.SELL, OrderType.STOP, quantity=1.0, stop_price=90.0,
                                 oco_group="br1-5", reason="stop_loss")])
    held.disarm(["br1-5-sl2"])                          # a `cancel` naming them
    held.clear()                                        # a kill, or the runner's exit

    assert held.release("br1-4-sl") == [] and held.release("br1-5-sl") == []
    assert [held.handed_over(i) for i in ("br1-4-sl", "br1-4-sl", "br1-5-sl", "br1-6-sl")] == [True, False, True, False]


def test_what_an_exit_left_unsold_is_exact_to_the_lot_step():
    assert unsold(0.3, 0.1) == 0.2 and unsold(0.5, 0.1 + 0.2) == 0.2 and unsold(0.001, 0.002) == 0.0
