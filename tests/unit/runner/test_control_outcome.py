"""The one line `botrunner kill`, `resume`, `start` and `stop` print for what was asked."""

from runner.control.status_table import format_outcome
from tests.fakes import make_status


def test_a_basket_asked_by_its_id_is_answered_by_its_id_not_its_first_legs():
    # Before: `botrunner kill majors` printed "majors.ada-usdt: killed (reason: test)": the API
    # answers with the first leg's status (the legs share one latch), and the line named the leg.
    leg = make_status("majors.ada-usdt", "killed", kill_switch=True, kill_reason="test", basket="majors")
    assert format_outcome(leg, asked="majors") == "majors: killed (reason: test)"
    assert format_outcome(leg, asked="majors.ada-usdt") == "majors.ada-usdt: killed (reason: test)"
    assert format_outcome(make_status("btc", "killed", kill_switch=True, kill_reason="x"), asked="btc") == \
        "btc: killed (reason: x)"
