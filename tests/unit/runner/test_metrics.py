"""render_prometheus: text a Prometheus server accepts, built from BotStatus alone."""

from __future__ import annotations

import re

from runner.control.metrics import KNOWN_STATES, render_prometheus
from runner.control.status import LatencySummary
from tests.fakes import make_status

# name{label="value",...} number   (label values may hold escaped \\, \" and \n)
SAMPLE = re.compile(r'^([a-z_]+)\{((?:[a-z_]+="(?:[^"\\\n]|\\[\\"n])*",?)*)\} (\S+)$')


def parse(text: str) -> tuple[dict[str, str], list[tuple[str, str, float]]]:
    """The TYPE of each family and every sample, failing on any line that is not well formed."""
    types: dict[str, str] = {}
    samples = []
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            types[name] = kind
        elif not line.startswith("# HELP "):
            match = SAMPLE.match(line)
            assert match, f"not a sample line: {line!r}"
            samples.append((match[1], match[2], float(match[3])))
    return types, samples


def family(name: str) -> str:
    return re.sub(r"_(bucket|sum|count)$", "", name)


def test_every_sample_belongs_to_a_family_declared_before_it():
    text = render_prometheus([make_status("btc-ema", "running"), make_status("eth-rsi")])
    types, samples = parse(text)

    assert text.endswith("\n")
    for name, _, _ in samples:
        declared = name if name in types else family(name)
        assert declared in types, name
        assert text.index(f"# TYPE {declared} ") < text.index(f"\n{name}{{")
    assert {types[n] for n in ("botrunner_equity", "botrunner_bot_state")} == {"gauge"}
    assert types["botrunner_fills_total"] == "counter"
    assert types["botrunner_loop_latency_seconds"] == "histogram"


def test_label_values_are_escaped():
    text = render_prometheus([make_status('we"ird\\bot\nid', "running")])

    assert 'botrunner_equity{bot="we\\"ird\\\\bot\\nid"} 1000.0' in text.splitlines()
    parse(text)


def test_the_state_gauge_has_one_series_per_state_and_only_the_current_is_1():
    _, samples = parse(render_prometheus([make_status("btc-ema", "restarting")]))

    states = {labels: value for name, labels, value in samples if name == "botrunner_bot_state"}
    assert len(states) == len(KNOWN_STATES)
    assert [labels for labels, value in states.items() if value == 1] == ['bot="btc-ema",state="restarting"']


def test_histogram_buckets_are_cumulative_and_inf_equals_the_count():
    latency = LatencySummary(buckets=[("0.001", 2), ("0.01", 5), ("+Inf", 6)], sum_s=0.031, count=6)
    _, samples = parse(render_prometheus([make_status("btc-ema", latency=latency)]))

    buckets = [value for name, _, value in samples if name == "botrunner_loop_latency_seconds_bucket"]
    count = next(value for name, _, value in samples if name == "botrunner_loop_latency_seconds_count")
    assert buckets == sorted(buckets) and buckets[-1] == count == 6


def test_a_summary_without_an_inf_bucket_still_gets_one():
    latency = LatencySummary(buckets=[("0.5", 1)], sum_s=0.2, count=3)
    lines = render_prometheus([make_status("btc-ema", latency=latency)]).splitlines()

    assert 'botrunner_loop_latency_seconds_bucket{bot="btc-ema",le="+Inf"} 3' in lines


def test_no_bots_still_renders_the_declarations():
    types, samples = parse(render_prometheus([]))
    assert "botrunner_equity" in types and samples == []


def test_risk_blocks_by_rule_and_the_risk_figures_of_configured_rules_are_exported():
    with_risk = make_status("bot-r", state="running", risk={"var": 0.012, "es": 0.02, "volatility": None},
                            risk_blocks={"daily_target": 2, "risk_group:majors": 1})
    types, samples = parse(render_prometheus([with_risk, make_status("bot-plain", state="running")]))

    assert types["botrunner_risk_blocks_total"] == "counter"
    assert [(n, labels, v) for n, labels, v in samples if n == "botrunner_risk_blocks_total"] == [
        ("botrunner_risk_blocks_total", 'bot="bot-r",rule="daily_target"', 2.0),
        ("botrunner_risk_blocks_total", 'bot="bot-r",rule="risk_group:majors"', 1.0)]
    assert [(n, v) for n, labels, v in samples if n in ("botrunner_value_at_risk", "botrunner_expected_shortfall",
                                                        "botrunner_volatility")] == [
        ("botrunner_value_at_risk", 0.012), ("botrunner_expected_shortfall", 0.02)]
