"""Config numbers are numbers: finite, within bounds, never a boolean; daemon settings agree."""

import pytest

from runner.config.bot import ConfigError, load_bot_config
from runner.config.daemon import load_config_dir
from tests.unit.runner.config_files import SMALL_BOT

GOOD = SMALL_BOT


def bot_problems(tmp_path, extra):
    path = tmp_path / "bot.yaml"
    base = GOOD.replace("capital: 1000\n", "")
    if "market:" in extra:
        base = base.replace("market: {source: synthetic, seed: 3, bars: 500}\n", "")
    path.write_text(base + extra)
    with pytest.raises(ConfigError) as info:
        load_bot_config(path)
    return [line.removeprefix(f"{path}: ") for line in info.value.problems]


@pytest.mark.parametrize("extra, expected", [
    ("capital: true\n", "capital: must be a number, got True"),
    ("capital: 1000\nspeed: true\n", "speed: must be a number, got True"),
    ("capital: 1000\nrisk: {stake_pct: true}\n", "risk.stake_pct: must be a number, got True"),
    ("capital: 1000\nrisk: {max_position_pct: true}\n", "risk.max_position_pct: must be a number, got True"),
    ("capital: 1000\nrisk: {take_profit_pct: true}\n", "risk.take_profit_pct: must be a number, got True"),
    ("capital: 1000\nexecution: {slippage_bps: true}\n", "execution.slippage_bps: must be a number, got True"),
])
def test_true_is_not_taken_for_one(tmp_path, extra, expected):
    assert bot_problems(tmp_path, extra) == [expected]


@pytest.mark.parametrize("capital, expected", [
    (".inf", "capital: must be a finite number, got inf"),
    ("1.0e+309", "capital: must be a finite number, got inf"),
    ("'1e400'", "capital: must be a number, got '1e400'"),
    (".nan", "capital: must be a finite number, got nan"),
    ("1.0e+308", "capital: must be > 0 and <= 1e+15, got 1e+308"),
])
def test_capital_must_be_finite_and_bounded(tmp_path, capital, expected):
    assert bot_problems(tmp_path, f"capital: {capital}\n") == [expected]


@pytest.mark.parametrize("market, expected", [
    ("{source: synthetic, start_price: 1.0e-320}", "market.start_price: must be >= 1e-12 and <= 1e+12, got 1e-320"),
    ("{source: synthetic, seed: -1}", "market.seed: must be >= 0 and <= 9223372036854775807, got -1"),
    ("{source: synthetic, bars: true}", "market.bars: must be a whole number, got True"),
    # About 580 bytes a candle in a backtest: 10 million (the bound before) was some 6 GB.
    ("{source: synthetic, bars: 1000001}", "market.bars: must be > 0 and <= 1000000, got 1000001"),
    ("{source: synthetic, bars: 10000000}", "market.bars: must be > 0 and <= 1000000, got 10000000"),
    # Before: taken, and the backtest traded in 1900 and in the year 9999, past the candle files' bounds.
    ("{source: synthetic, start: 1900-01-01}",
     "market.start: the series must start from 1970-01-01 and before 2200-01-01, got 1900-01-01T00:00:00Z"),
    ("{source: synthetic, start: 9999-12-31}",
     "market.start: the series must start from 1970-01-01 and before 2200-01-01, got 9999-12-31T00:00:00Z"),
    ("{source: synthetic, start: 2199-12-01, bars: 1000000}\ntimeframe: 1w",
     "market: 1000000 1w candles from 2199-12-01T00:00:00Z run past the year 9999, where a date can no longer be "
     "written; start earlier or make bars fewer"),
])
def test_synthetic_market_numbers_are_bounded(tmp_path, market, expected):
    assert bot_problems(tmp_path, f"capital: 1000\nmarket: {market}\n") == [expected]


@pytest.mark.parametrize("market", ["{source: csv, path: ''}", "{source: ticks, path: '  '}", "{source: json, path: ''}"])
def test_an_empty_market_path_is_refused_as_naming_no_file(tmp_path, market):
    # Before: Path('') is '.', and validate said "<cwd>: the market source is 'csv', so expected a .csv file".
    assert bot_problems(tmp_path, f"capital: 1000\nmarket: {market}\n") == [
        "market.path: must name a candle file, e.g. data/BTC_USDT-1m.csv"]


def daemon_problems(tmp_path, daemon_yaml):
    (tmp_path / "daemon.yaml").write_text(daemon_yaml)
    (tmp_path / "bots").mkdir(exist_ok=True)
    (tmp_path / "bots" / "bot.yaml").write_text(GOOD)
    with pytest.raises(ConfigError) as info:
        load_config_dir(tmp_path)
    return [line.removeprefix(f"{tmp_path / 'daemon.yaml'}: ") for line in info.value.problems]


@pytest.mark.parametrize("daemon_yaml, expected", [
    ("supervisor: {backoff_initial_secs: 60, backoff_max_secs: 1}\n",
     "supervisor: backoff_initial_secs (60) must not be above backoff_max_secs (1)"),
    ("supervisor: {backoff_max_secs: .inf}\n", "supervisor.backoff_max_secs: must be a finite number, got inf"),
    ("snapshot_interval_secs: 1.0e-9\n", "snapshot_interval_secs: must be >= 0.1 and <= 3600, got 1e-09"),
    ("state_dir: ''\n", "state_dir: must name a folder, e.g. state or /var/lib/botrunner"),
    # Before: Path('') is '.', validate said ok, and run: '. exists and is not a socket; refusing to replace it'.
    ("control: {socket: ''}\n", "control.socket: must name a socket file, e.g. /run/botrunner/botrunner.sock"),
    ("supervisor: {max_restarts: true}\n", "supervisor.max_restarts: must be a whole number, got True"),
])
def test_daemon_settings_that_cannot_work_are_refused(tmp_path, daemon_yaml, expected):
    assert daemon_problems(tmp_path, daemon_yaml) == [expected]


@pytest.mark.parametrize("extra, expected", [
    # Before: lax ints and floats took text and booleans ('20000' a window, true a 1).
    ("capital: 1000\nregime: {window: '20000'}\n", "regime.window: must be a whole number, got '20000'"),
    ("capital: 1000\nregime: {states: true}\n", "regime.states: must be a whole number, got True"),
    ("capital: 1000\nregimes: [ranging]\nregime: {states: 4.0}\n", "regime.states: must be a whole number, got 4.0"),
    ("capital: 1000\nmodel: {url: 'http://127.0.0.1:8780/forecast'}\n"
     "triggers: [{kind: volume_spike, factor: '3', window: 20}]\n", "triggers[0].factor: must be a number, got '3'"),
    ("capital: 1000\nmodel: {url: 'http://127.0.0.1:8780/forecast'}\n"
     "triggers: [{kind: price_move, pct: true}]\n", "triggers[0].pct: must be a number, got True"),
])
def test_regime_and_trigger_numbers_are_numbers(tmp_path, extra, expected):
    assert expected in bot_problems(tmp_path, extra)


@pytest.mark.parametrize("daemon_yaml, expected", [
    # Before: "risk_groups.Majörs.[key]: must match ^[a-z0-9][a-z0-9_-]{0,62}$, got 'Majörs'".
    ("risk_groups: {Majörs: {max_open_positions: 2}}\n",
     "risk_groups: 'Majörs' is not a valid name: lower-case letters, digits, - and _"),
    ("account_limits: {'binance/x y': {max_open_positions: 1}}\n",
     "account_limits: 'binance/x y' is not a valid name: "),
])
def test_a_bad_key_of_a_mapping_is_named_in_words(tmp_path, daemon_yaml, expected):
    [problem] = daemon_problems(tmp_path, daemon_yaml)
    assert problem.startswith(expected) and "[key]" not in problem and "^" not in problem, problem
