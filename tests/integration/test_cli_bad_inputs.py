"""Bad input as a user meets it: a one-line message naming the file and field (or path), exit 2,
never a traceback, never NaN in the output."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from tests.daemon_process import botrunner

T0 = 1_640_995_200_000

BOT = """\
id: cli-bot
symbol: BTC/USD
timeframe: 1m
capital: 1000
market: {source: synthetic, seed: 5, bars: 300}
strategy: {name: sma_cross, params: {fast: 5, slow: 20}}
"""


def assert_one_clear_line(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr and "─" not in result.stderr, result.stderr[-2000:]
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr[-2000:]


def strict_json(text: str) -> object:
    def refuse(constant: str) -> None:
        raise AssertionError(f"non-standard JSON constant {constant}")
    return json.loads(text, parse_constant=refuse)


def csv_rows(count: int, price: float = 100.0, step_ms: int = 60_000) -> list[str]:
    return [f"{T0 + i * step_ms},{price},{price * 1.01},{price * 0.99},{price},5" for i in range(count)]


def test_prices_too_small_to_size_an_order_are_refused_not_traded(tmp_path):
    data = tmp_path / "tiny.csv"
    data.write_text("timestamp,open,high,low,close,volume\n" + "\n".join(csv_rows(300, price=1e-318)) + "\n")
    (tmp_path / "bot.yaml").write_text(BOT)
    result = botrunner("backtest", str(tmp_path / "bot.yaml"), "--data", str(data), "--json")
    assert_one_clear_line(result, str(data), "price_out_of_range 300")
    assert "nan" not in result.stdout.lower() and "infinity" not in result.stdout.lower()


def test_backtest_json_is_standard_json(tmp_path):
    (tmp_path / "bot.yaml").write_text(BOT)
    result = botrunner("backtest", str(tmp_path / "bot.yaml"), "--json")
    assert result.returncode == 0, result.stderr
    assert strict_json(result.stdout)["bars"] == 300


def bot_with_data(tmp_path: Path, name: str, content: str | bytes) -> tuple[Path, Path]:
    data = tmp_path / name
    data.write_bytes(content if isinstance(content, bytes) else content.encode())
    (tmp_path / "bot.yaml").write_text(BOT)
    return tmp_path / "bot.yaml", data


def test_an_impossible_start_date_names_the_field(tmp_path):
    (tmp_path / "bot.yaml").write_text(BOT.replace("seed: 5, bars: 300", "seed: 5, bars: 300, start: 2022-13-45"))
    result = botrunner("validate", str(tmp_path / "bot.yaml"))
    assert_one_clear_line(result, f"{tmp_path / 'bot.yaml'}: market.start:", "'2022-13-45'")


def test_a_negative_synthetic_seed_fails_validate_not_backtest(tmp_path):
    (tmp_path / "bot.yaml").write_text(BOT.replace("seed: 5", "seed: -1"))
    assert_one_clear_line(botrunner("validate", str(tmp_path / "bot.yaml")), "market.seed: must be >= 0")


def test_a_csv_with_cr_only_line_ends_is_read(tmp_path):
    header = "timestamp,open,high,low,close,volume"
    bot, data = bot_with_data(tmp_path, "cr.csv", "\r".join([header, *csv_rows(300)]) + "\r")
    result = botrunner("backtest", str(bot), "--data", str(data), "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    assert strict_json(result.stdout)["bars"] == 300


def test_timestamps_in_year_9998_are_bad_rows(tmp_path):
    rows = [f"9998-01-01T00:{i:02d}:00Z,1,1,1,1,1" for i in range(50)]
    bot, data = bot_with_data(tmp_path, "far.csv", "\n".join(["timestamp,open,high,low,close,volume", *rows]))
    assert_one_clear_line(botrunner("backtest", str(bot), "--data", str(data)), str(data), "bad_timestamp 50")


def test_a_missing_candle_file_of_the_configs_market_names_the_config_and_field(tmp_path):
    # Before: only the candle file ("/abs/nowhere.csv: no such file"), not where it was asked for.
    bot = tmp_path / "bot.yaml"
    bot.write_text(BOT.replace("{source: synthetic, seed: 5, bars: 300}", "{source: csv, path: nowhere.csv}"))
    assert_one_clear_line(botrunner("backtest", str(bot)), f"{bot}: market: ", "nowhere.csv: no such file")


def test_a_json_timestamp_of_1e30_is_a_clear_error(tmp_path):
    bot, data = bot_with_data(tmp_path, "big.json", "[[1e30,1,1,1,1,1],[1e30,1,1,1,1,1]]")
    assert_one_clear_line(botrunner("backtest", str(bot), "--data", str(data)), str(data))


def test_json_nested_100000_deep_is_a_clear_error(tmp_path):
    bot, data = bot_with_data(tmp_path, "deep.json", "[" * 100_000 + "]" * 100_000)
    assert_one_clear_line(botrunner("backtest", str(bot), "--data", str(data)), str(data), "nested too deeply")


def test_a_backtest_window_that_ends_before_it_starts_names_the_options(tmp_path):
    # Before: '<file>: market: synthetic market: end 2024-01-01 00:00:00+00:00 is not after start ...',
    # of options the config does not hold.
    (tmp_path / "bot.yaml").write_text(BOT)
    result = botrunner("backtest", str(tmp_path / "bot.yaml"), "--from", "2024-01-02", "--to", "2024-01-01")
    assert_one_clear_line(result)
    assert result.stderr.strip().splitlines()[-1] == "--to: 2024-01-01T00:00:00Z is not after --from 2024-01-02T00:00:00Z"
