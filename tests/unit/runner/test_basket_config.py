"""Basket files (symbols: [...]): legs per symbol, and bad input named by file and field."""

import pytest

from market.config import CsvSource
from runner.basket.group import Baskets
from runner.config.basket import BasketConfig, leg_id, load_bot_or_basket, read_symbol_file
from runner.config.bot import ConfigError, load_bot_config
from runner.config.daemon import load_config_dir
from tests.unit.runner.config_files import problems_of as config_problems, write

BASKET = """\
id: trio
symbols: [BTC/USDT, ETH/USDT, SOL/USDT]
max_open_positions: 2
stake_fraction: 0.3
timeframe: 5m
capital: 9000
market: {source: synthetic, seed: 4, bars: 500}
strategy: {name: ema_cross, params: {fast: 5, slow: 20}}
"""


def problems_of(path):
    return config_problems(path, load_bot_or_basket)


def test_a_basket_is_one_leg_per_symbol_with_its_own_synthetic_series(tmp_path):
    basket = load_bot_or_basket(write(tmp_path, BASKET))
    assert isinstance(basket, BasketConfig) and basket.id == "trio"
    legs = basket.legs()
    assert [leg.id for leg in legs] == ["trio.btc-usdt", "trio.eth-usdt", "trio.sol-usdt"]
    assert [leg.symbol for leg in legs] == ["BTC/USDT", "ETH/USDT", "SOL/USDT"]
    assert len({leg.market.seed for leg in legs}) == 3              # seeded by symbol
    assert all(leg.timeframe == "5m" and leg.capital == 9000 and leg.strategy.name == "ema_cross" for leg in legs)
    assert {(leg.basket.basket, leg.basket.max_open_positions, leg.basket.stake_fraction) for leg in legs} == {
        ("trio", 2, 0.3)}
    assert load_bot_or_basket(write(tmp_path, BASKET, "again.yaml")).legs()[1].market.seed == legs[1].market.seed


def test_symbol_and_symbols_together_are_refused(tmp_path):
    path = write(tmp_path, BASKET + "symbol: BTC/USDT\n")
    assert problems_of(path) == [f"{path}: symbol and symbols: a bot trades one symbol (symbol: BTC/USDT) or a "
                                 "basket (symbols: [BTC/USDT, ETH/USDT]); set one of them"]


@pytest.mark.parametrize("change, expected", [
    (("symbols: [BTC/USDT, ETH/USDT, SOL/USDT]", "symbols: [BTC/USDT, btc]"),
     "symbols[1]: BASE/QUOTE in capitals, e.g. BTC/USDT, got 'btc'"),
    (("symbols: [BTC/USDT, ETH/USDT, SOL/USDT]", "symbols: [BTC/USDT, BTC/USDT]"),
     "symbols: each symbol once; repeated: BTC/USDT"),
    (("symbols: [BTC/USDT, ETH/USDT, SOL/USDT]", "symbols: []"), "symbols:"),
    (("stake_fraction: 0.3", "stake_fraction: 0.3\nstake_amount: 100"), "set one of them"),
    (("stake_fraction: 0.3", "stake_fraction: 1.5"), "stake_fraction: must be > 0 and <= 1, got 1.5"),
    (("max_open_positions: 2", "max_open_positions: 0"), "max_open_positions: must be >= 1"),
    (("max_open_positions: 2", "max_open_positions: 2\non_retire: sell"), "on_retire:"),
    (("max_open_positions: 2", "max_open_positions: 2\nrisk_group: majors"), "risk_group: a basket is a group of its own"),
    (("capital: 9000", "capital: -1"), "capital: must be > 0"),
])
def test_a_bad_basket_field_is_named_with_the_file(tmp_path, change, expected):
    path = write(tmp_path, BASKET.replace(*change))
    problems = problems_of(path)
    assert any(p.startswith(f"{path}: ") and expected in p for p in problems), problems


def test_a_sim_basket_on_files_needs_a_file_per_symbol(tmp_path):
    text = BASKET.replace("market: {source: synthetic, seed: 4, bars: 500}",
                          "market: {source: csv, path: a.csv}\nmarkets: {BTC/USDT: {source: csv, path: btc.csv}}")
    path = write(tmp_path, text)
    assert problems_of(path) == [f"{path}: markets: a sim basket reads a candle file per symbol; name one for "
                                 "ETH/USDT, SOL/USDT (markets: {SYMBOL: {source: csv, path: ...}}), or use "
                                 "market: {source: synthetic}"]
    text = text.replace("markets: {BTC/USDT: {source: csv, path: btc.csv}}",
                        "markets: {BTC/USDT: {source: csv, path: btc.csv}, ETH/USDT: {source: csv, path: eth.csv},"
                        " SOL/USDT: {source: csv, path: sol.csv}}")
    legs = load_bot_or_basket(write(tmp_path, text, "ok.yaml")).legs()
    assert [str(leg.market.path) for leg in legs] == ["btc.csv", "eth.csv", "sol.csv"]
    assert all(isinstance(leg.market, CsvSource) for leg in legs)


def test_a_single_bot_command_and_a_hand_written_basket_block_are_refused(tmp_path):
    path = write(tmp_path, BASKET)
    with pytest.raises(ConfigError, match="this command takes one bot"):
        load_bot_config(path)
    bot = write(tmp_path, "id: x\nsymbol: BTC/USDT\ncapital: 1\nstrategy: {name: sma_cross}\nbasket: {basket: y}\n", "b.yaml")
    assert problems_of(bot) == [f"{bot}: basket: set on each leg of a basket file, not by hand; write symbols: [...] instead"]


def test_a_symbol_file_is_read_one_a_line_or_as_a_yaml_list(tmp_path):
    lines = write(tmp_path, "# majors\nBTC/USDT\n\n- ETH/USDT   # second\nBTC/USDT\n", "symbols.txt")
    assert read_symbol_file(lines) == ["BTC/USDT", "ETH/USDT"]
    assert read_symbol_file(write(tmp_path, "[SOL/USDT, XRP/USDT]\n", "list.yaml")) == ["SOL/USDT", "XRP/USDT"]
    bad = write(tmp_path, "BTC/USDT\nbtc-usdt\n", "bad.txt")
    with pytest.raises(ConfigError) as info:
        read_symbol_file(bad)
    assert info.value.problems == [f"{bad}: line 2: 'btc-usdt' is not a symbol; expected BASE/QUOTE in capitals, "
                                   "e.g. BTC/USDT"]


def test_a_file_provider_names_its_symbols_and_a_missing_file_is_named(tmp_path):
    (tmp_path / "symbols.txt").write_text("ETH/USDT\nSOL/USDT\n")
    text = BASKET.replace("symbols: [BTC/USDT, ETH/USDT, SOL/USDT]",
                          f"symbol_provider: {{source: file, path: {tmp_path / 'symbols.txt'}, refresh_secs: 5}}")
    assert [leg.id for leg in load_bot_or_basket(write(tmp_path, text)).legs()] == ["trio.eth-usdt", "trio.sol-usdt"]
    missing = write(tmp_path, text.replace("symbols.txt", "none.txt"), "m.yaml")
    [problem] = problems_of(missing)
    assert problem == f"{missing}: symbol_provider.path: {tmp_path / 'none.txt'}: no such file"
    both = write(tmp_path, text.replace("max_open_positions", "symbols: [BTC/USDT]\nmax_open_positions"), "both.yaml")
    assert any("a basket names its symbols once" in p for p in problems_of(both))


def test_a_daemon_folder_runs_a_basket_as_its_legs(tmp_path):
    (tmp_path / "bots").mkdir()
    write(tmp_path / "bots", BASKET, "trio.yaml")
    _, bots = load_config_dir(tmp_path)
    assert [b.id for b in bots] == [leg_id("trio", s) for s in ("BTC/USDT", "ETH/USDT", "SOL/USDT")]


def test_a_file_with_neither_symbol_nor_symbols_says_both_ways(tmp_path):
    path = write(tmp_path, BASKET.replace("symbols: [BTC/USDT, ETH/USDT, SOL/USDT]\n", "").replace(
        "max_open_positions: 2\nstake_fraction: 0.3\n", ""))
    assert problems_of(path) == [f"{path}: symbol: required: one symbol (symbol: BTC/USDT), or a basket's "
                                 "(symbols: [BTC/USDT, ETH/USDT])"]


def test_a_live_basket_in_safe_mode_runs_only_the_symbols_it_allows(tmp_path):
    live = BASKET.replace("timeframe: 5m\n", "timeframe: 5m\nmode: live\nexchange: {id: binance, api_key_env: K, "
                          "secret_env: S}\nsafe_mode: {symbols: [BTC/USDT, ETH/USDT]}\n").replace(
        "market: {source: synthetic, seed: 4, bars: 500}\n", "")
    path = write(tmp_path, live)
    assert problems_of(path) == [f"{path}: safe_mode.symbols does not allow SOL/USDT"]
    fed = write(tmp_path, "BTC/USDT\nSOL/USDT\n", "symbols.txt")
    provided = live.replace("symbols: [BTC/USDT, ETH/USDT, SOL/USDT]", f"symbol_provider: {{source: file, path: {fed}}}")
    assert [leg.symbol for leg in load_bot_or_basket(write(tmp_path, provided, "fed.yaml")).legs()] == ["BTC/USDT"]


def test_a_reloaded_basket_holds_its_new_max_open_positions(tmp_path):
    baskets = Baskets()
    first = load_bot_or_basket(write(tmp_path, BASKET)).legs()[0]
    group = baskets.for_leg(first)
    assert group.limits.max_open_positions == 2
    changed = load_bot_or_basket(write(tmp_path, BASKET.replace("max_open_positions: 2", "max_open_positions: 1"),
                                       "changed.yaml")).legs()[0]
    assert baskets.for_leg(changed) is group and group.limits.max_open_positions == 1


def test_a_sim_basket_holds_at_most_five_million_synthetic_candles_in_all(tmp_path):
    # Each leg's series is kept whole, some 580 bytes a candle: six symbols of a million candles
    # each (each within market.bars' bound) were 3.5 GB, and a thousand symbols of the default
    # 45,000 some 26 GB. Five legs of a million still load.
    six = [f"S{i}/USDT" for i in range(6)]
    path = write(tmp_path, BASKET.replace("symbols: [BTC/USDT, ETH/USDT, SOL/USDT]", f"symbols: [{', '.join(six)}]")
                 .replace("bars: 500", "bars: 1000000").replace("timeframe: 5m", "timeframe: 1m"))
    assert problems_of(path) == [
        f"{path}: market.bars: 6 symbols of 1,000,000 synthetic candles are 6,000,000 candles, kept in memory at "
        "once (some 3.5 GB); a basket holds at most 5,000,000: make bars fewer, or list fewer symbols"]
    five = path.read_text().replace(", S5/USDT", "")
    assert len(load_bot_or_basket(write(tmp_path, five, "five.yaml")).legs()) == 5
