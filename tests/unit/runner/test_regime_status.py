"""The regime in `botrunner status` (JSON and table) and in `/metrics`."""

from runner.control.metrics import render_prometheus
from runner.control.status_table import format_status_table
from tests.fakes import make_status

PROBS = {"trending_up": 0.7, "trending_down": 0.05, "ranging": 0.2, "volatile": 0.05}


def test_metrics_give_one_regime_series_per_label_and_each_probability():
    text = render_prometheus([make_status("gated", "running", regime="trending_up", regime_probs=PROBS),
                              make_status("plain", "running")])
    assert 'botrunner_regime{bot="gated",regime="trending_up"} 1' in text
    assert 'botrunner_regime{bot="gated",regime="unknown"} 0' in text
    assert 'botrunner_regime_probability{bot="gated",regime="ranging"} 0.2' in text
    assert 'bot="plain",regime=' not in text          # a bot without a detector has no regime series


def test_metrics_of_a_detector_before_its_first_fit_say_unknown_without_probabilities():
    text = render_prometheus([make_status("gated", "running", regime="unknown", regime_probs={})])
    assert 'botrunner_regime{bot="gated",regime="unknown"} 1' in text
    assert 'botrunner_regime_probability{bot="gated"' not in text


def test_the_table_shows_a_regime_column_only_when_a_bot_has_a_detector():
    plain = format_status_table([make_status("plain")])
    assert "REGIME" not in plain
    table = format_status_table([make_status("gated", regime="volatile", regime_probs=PROBS), make_status("plain")])
    header, gated, other = table.splitlines()
    assert header.split()[-3:] == ["REGIME", "LAST", "CANDLE"]
    assert gated.split()[-2:] == ["volatile", "-"] and other.split()[-2:] == ["-", "-"]


def test_the_status_json_carries_the_regime_and_its_probabilities():
    dumped = make_status("gated", regime="ranging", regime_probs=PROBS).model_dump(mode="json")
    assert dumped["regime"] == "ranging" and dumped["regime_probs"] == PROBS
