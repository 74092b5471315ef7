"""Bot configs: every problem reported at once, each naming the file, the field and what is allowed."""

from pathlib import Path

import pytest

from runner.config.basket import load_bot_or_basket
from runner.config.bot import load_bot_config
from strategies.registry import strategy_names
from tests.unit.runner.config_files import problems_of, write

PROJECT = Path(__file__).resolve().parents[3]

GOOD = """\
id: btc-sma
symbol: BTC/USD
timeframe: 1m
capital: 1000
market: {source: synthetic, seed: 3, bars: 500}
strategy: {name: sma_cross, params: {fast: 5, slow: 20}}
risk: {stake_pct: 0.5}
"""


def test_a_good_file_loads_with_defaults_filled_in(tmp_path):
    config = load_bot_config(write(tmp_path, GOOD))
    assert config.id == "btc-sma" and config.mode == "sim"
    assert config.strategy.params == {"fast": 5, "slow": 20}
    assert config.execution.fee_rate == 0.001


def test_out_of_range_value_names_file_field_range_and_value(tmp_path):
    path = write(tmp_path, GOOD.replace("stake_pct: 0.5", "stake_pct: 1.5"))
    assert problems_of(path) == [f"{path}: risk.stake_pct: must be > 0 and <= 1, got 1.5"]


def test_optional_field_range_is_reported_in_full(tmp_path):
    path = write(tmp_path, GOOD.replace("stake_pct: 0.5", "stake_pct: 0.5, stop_loss_pct: 2"))
    assert problems_of(path) == [f"{path}: risk.stop_loss_pct: must be > 0 and < 1, got 2"]


def test_unknown_keys_are_rejected_with_the_allowed_ones(tmp_path):
    path = write(tmp_path, GOOD + "leverage: 10\n")
    [problem] = problems_of(path)
    assert problem.startswith(f"{path}: leverage: unknown field; allowed: capital, enabled, exchange, execution, governance, id")


def test_every_problem_is_reported_at_once(tmp_path):
    text = GOOD.replace("capital: 1000", "capital: -5").replace("timeframe: 1m", "timeframe: 2m")
    text = text.replace("fast: 5, slow: 20", "fast: 30, slow: 20, speed: 1")
    problems = problems_of(write(tmp_path, text))
    joined = "\n".join(problems)
    assert len(problems) == 4, joined
    assert "capital: must be > 0 and <= 1e+15, got -5" in joined
    assert "timeframe: must be one of" in joined and "got '2m'" in joined
    assert "strategy.params.speed: unknown field" in joined
    assert "strategy.params: fast must be smaller than slow" in joined or "fast" in joined


def test_unknown_strategy_lists_the_available_ones(tmp_path):
    [problem] = problems_of(write(tmp_path, GOOD.replace("sma_cross", "moon_shot")))
    assert problem.endswith(f"strategy.name: unknown strategy 'moon_shot'; available: {', '.join(strategy_names())}")
    assert {"bollinger_breakout", "ema_cross", "rsi_reversion", "sma_cross"} <= set(strategy_names())


def test_market_source_fields_are_named_without_pydantic_internals(tmp_path):
    path = write(tmp_path, GOOD.replace("{source: synthetic, seed: 3, bars: 500}", "{source: synthetic, bars: 0}"))
    assert problems_of(path) == [f"{path}: market.bars: must be > 0 and <= 1000000, got 0"]
    path = write(tmp_path, GOOD.replace("{source: synthetic, seed: 3, bars: 500}", "{source: ftp}"))
    [problem] = problems_of(path)
    assert problem.startswith(f"{path}: market: source must be one of") and "got 'ftp'" in problem


def test_required_fields_are_named(tmp_path):
    path = write(tmp_path, "id: x1\nsymbol: BTC/USD\n")
    assert problems_of(path) == [f"{path}: capital: required field is missing",
                                 f"{path}: strategy: required field is missing"]


def test_bad_id_and_symbol_say_what_is_allowed(tmp_path):
    text = GOOD.replace("id: btc-sma", "id: BTC SMA!").replace("symbol: BTC/USD", "symbol: btcusd")
    problems = problems_of(write(tmp_path, text))
    assert any("id: lower-case letters, digits" in p and "got 'BTC SMA!'" in p for p in problems)
    assert any("symbol: BASE/QUOTE in capitals" in p for p in problems)


@pytest.mark.parametrize("text, expected", [
    ("id: [unclosed\n", "invalid YAML at line"),
    ("", "the file is empty"),
    ("- a\n- b\n", "expected a mapping of fields at the top level, got list"),
])
def test_files_that_are_not_a_mapping_get_one_clear_line(tmp_path, text, expected):
    path = write(tmp_path, text)
    [problem] = problems_of(path)
    assert problem.startswith(f"{path}: ") and expected in problem


def test_a_missing_file_is_named(tmp_path):
    assert problems_of(tmp_path / "nope.yaml") == [f"{tmp_path / 'nope.yaml'}: no such file"]


@pytest.mark.parametrize("path", sorted((PROJECT / "configs" / "bots").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_example_configs_are_valid(path):
    load_bot_or_basket(path)          # one bot, or a basket of them (symbols: [...])


@pytest.mark.parametrize("extra, expected", [
    ("mode: paper\n", "a paper bot needs an exchange block"),
    ("mode: live\nexchange: {id: binance}\n", "a live bot needs exchange.api_key_env and exchange.secret_env"),
    ("mode: paper\nexchange: {id: binance}\nmarket: {source: synthetic}\n", "reads candles from its exchange: remove the market block"),
    ("mode: paper\nexchange: {id: nosuchx}\n", "exchange.id: unknown exchange 'nosuchx'"),
    ("mode: live\nexchange: {id: binance, api_key: abc}\n", "exchange.api_key: unknown field"),
])
def test_paper_and_live_bots_need_an_exchange_and_keys_only_by_name(tmp_path, extra, expected):
    text = GOOD.replace("market: {source: synthetic, seed: 3, bars: 500}\n", "") + extra
    problems = problems_of(write(tmp_path, text))
    assert any(expected in p for p in problems), problems
