"""A sim backtest process loads only what a sim bot uses: no exchange client, no HTTP stack,
no pandas; and for a bot on a candle file, no numpy and no basket package either.

ccxt and aiohttp cost about half a second to import, and nothing in a sim bot calls them; they
come in only with paper and live engines, a model client, the daemon's control API or a
download. pandas (0.15 s) is not needed to read a candle file either (`market.files`), nor is
numpy (0.07 s and up) for a file whose lines are all good candles (`market.plain_csv`) or for
the report's Sharpe ratio (`runner.backtest.sharpe`); the synthetic candles of the embedded
demo bot are numpy's. Checked in a real process, since any module imported on the way (a config
model, a composition helper) would pull them in for everyone.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from market.synthetic import generate_candles
from tests.imported_modules import command_modules

NOT_FOR_A_SIM_BACKTEST = {"ccxt", "aiohttp", "pandas"}
NOT_FOR_A_BACKTEST_OF_A_CANDLE_FILE = {"numpy", "runner.basket", "runner.regime", "strategies.regime",
                                       "runner.backtest.html_report"}

BOT = """\
id: file-bot
symbol: BTC/USD
timeframe: 1m
capital: 1000
market: {{source: csv, path: {path}}}
strategy: {{name: sma_cross, params: {{fast: 5, slow: 20}}}}
risk: {{stake_pct: 0.5, stop_loss_pct: 0.01}}
"""


def backtest_modules(*args: str) -> tuple[dict, set[str]]:
    """The `--json` summary of `botrunner backtest ARGS` and the modules its process imported."""
    output, modules = command_modules("backtest", *args, "--json")
    return json.loads(output.splitlines()[-1]), modules


def write_candles(path: Path) -> None:
    with path.open("w") as out:
        out.write("timestamp,open,high,low,close,volume\n")
        for c in generate_candles(count=2_000, seed=3, timeframe="1m"):
            out.write(f"{c.ts_ms},{c.open},{c.high},{c.low},{c.close},{c.volume}\n")


def test_the_embedded_demo_backtest_imports_no_exchange_client_http_stack_or_pandas():
    summary, modules = backtest_modules()
    assert summary["bars"] > 0
    assert not modules & NOT_FOR_A_SIM_BACKTEST


@pytest.mark.parametrize("how", ["config", "--data"])
def test_a_backtest_of_a_candle_file_imports_no_exchange_client_http_stack_pandas_or_numpy(tmp_path, how):
    candles = tmp_path / "candles.csv"
    write_candles(candles)
    bot = tmp_path / "bot.yaml"
    bot.write_text(BOT.format(path=candles))
    summary, modules = backtest_modules(str(bot), *(["--data", str(candles)] if how == "--data" else []))
    assert summary["bars"] == 2_000 and summary["trades"] > 0
    assert not modules & NOT_FOR_A_SIM_BACKTEST
    assert not modules & NOT_FOR_A_BACKTEST_OF_A_CANDLE_FILE
