"""Parameter ranges as `--param` and a params file give them, and their values in a bot config."""

from __future__ import annotations

import random

import pytest

from runner.research.params import ParamError, apply_params, load_params_file, make_space, parse_param


def test_an_integer_range_includes_both_ends_and_keeps_ints():
    spec = parse_param("slow=20:120:5")
    assert spec.path == ("strategy", "params", "slow")
    values = spec.grid_values()
    assert values[0] == 20 and values[-1] == 120 and len(values) == 21
    assert all(type(v) is int for v in values)          # periods are strict ints


def test_an_integer_range_without_a_step_goes_one_by_one():
    assert parse_param("fast=5:8").grid_values() == [5, 6, 7, 8]


def test_a_float_range_with_a_step_gives_clean_values_at_a_dotted_path():
    spec = parse_param("risk.stop_loss_pct=0.01:0.05:0.01")
    assert spec.path == ("risk", "stop_loss_pct")
    assert spec.grid_values() == [0.01, 0.02, 0.03, 0.04, 0.05]


def test_a_continuous_range_samples_within_it_but_has_no_grid():
    spec = parse_param("risk.take_profit_pct=0.01:0.1")
    rng = random.Random(1)
    assert all(0.01 <= spec.sample(rng) <= 0.1 for _ in range(100))
    with pytest.raises(ParamError, match="needs a step"):
        spec.grid_values()


def test_a_list_of_values_is_tried_as_given():
    assert parse_param("strategy.params.period=7,14,21").grid_values() == [7, 14, 21]


@pytest.mark.parametrize("text, says", [
    ("fast", "expected NAME=LOW:HIGH"), ("fast=30:5", "below LOW"), ("fast=5:30:0", "above 0"),
    ("fast=a:b", "must be numbers"), ("market.bars=1:2", "cannot be searched"),
    ("fast=1:2:3:4", "LOW:HIGH:STEP"),
])
def test_a_bad_range_is_refused_saying_what_is_wrong(text, says):
    with pytest.raises(ParamError, match=says):
        parse_param(text)


def test_a_parameter_given_twice_is_refused():
    with pytest.raises(ParamError, match="more than once"):
        make_space([parse_param("fast=1:3"), parse_param("strategy.params.fast=4:5")])


def test_a_params_file_reads_ranges_lists_and_mappings(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text('fast: "5:7"\nslow: [20, 40]\nrisk.stop_loss_pct: {low: 0.01, high: 0.02, step: 0.01}\n')
    space = make_space(load_params_file(path))
    assert space.names == ["fast", "slow", "risk.stop_loss_pct"]
    assert space.grid_size() == 3 * 2 * 2


def test_values_are_set_at_their_paths_on_a_copy():
    raw = {"strategy": {"name": "sma_cross", "params": {"fast": 10, "slow": 30}}, "risk": {"stake_pct": 0.5}}
    space = make_space([parse_param("fast=5:6"), parse_param("risk.stop_loss_pct=0.01:0.02:0.01")])
    changed = apply_params(raw, space, {"fast": 6, "risk.stop_loss_pct": 0.02})
    assert changed["strategy"]["params"] == {"fast": 6, "slow": 30}
    assert changed["risk"] == {"stake_pct": 0.5, "stop_loss_pct": 0.02}
    assert raw["strategy"]["params"]["fast"] == 10 and "stop_loss_pct" not in raw["risk"]


def test_an_unquoted_range_in_a_params_file_is_the_range_not_a_base_60_number(tmp_path):
    # Before: YAML 1.1 read `fast: 5:30` as 330, and the search tried that single value.
    path = tmp_path / "params.yaml"
    path.write_text("fast: 5:30\nslow: 20:40:5\ntrend: 30\n")

    assert make_space(load_params_file(path)).describe() == ["fast=5:30:1", "slow=20:40:5", "trend=30"]


@pytest.mark.parametrize("content, says", [
    (b"fast: [5", "invalid YAML at line 1, column 9: expected ',' or ']', but got '<stream end>'"),
    (b"\xff\xfefast: 5:30", 'not UTF-8 text; expected YAML such as fast: "5:30"'),
])
def test_a_params_file_that_cannot_be_read_is_one_line(tmp_path, content, says):
    # Before: yaml's lines with a caret, and a UnicodeDecodeError as a traceback.
    path = tmp_path / "params.yaml"
    path.write_bytes(content)

    with pytest.raises(ParamError) as caught:
        load_params_file(path)
    assert str(caught.value) == f"{path}: {says}"
