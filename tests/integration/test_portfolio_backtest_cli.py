"""`botrunner backtest DIR` as a user runs it: a real process, its output and exit code."""

from __future__ import annotations

import json
from pathlib import Path
from tests.daemon_process import botrunner


BOT = """\
id: {id}
symbol: BTC/USD
timeframe: 1m
capital: 1000
market: {{source: synthetic, seed: {seed}, bars: 1500}}
strategy: {{name: sma_cross, params: {{fast: 3, slow: 8}}}}
risk: {{stake_pct: 0.5}}
risk_group: pair
"""


def folder(tmp_path: Path) -> Path:
    (tmp_path / "bots").mkdir()
    (tmp_path / "daemon.yaml").write_text("risk_groups:\n  pair: {max_open_positions: 1}\n")
    for bot_id, seed in (("bot-a", 5), ("bot-b", 9)):
        (tmp_path / "bots" / f"{bot_id}.yaml").write_text(BOT.format(id=bot_id, seed=seed))
    return tmp_path


def test_backtest_of_a_folder_prints_one_json_object_with_each_bot_and_the_total(tmp_path):
    result = botrunner("backtest", str(folder(tmp_path)), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)

    assert set(report) == {"period", "bots", "risk_groups", "total"}
    assert set(report["bots"]) == {"bot-a", "bot-b"}
    for summary in report["bots"].values():
        assert {"trades", "final_equity", "return_pct", "max_drawdown_pct", "sharpe", "fees",
                "group_refusals"} <= set(summary)
    assert report["total"]["trades"] == sum(b["trades"] for b in report["bots"].values())
    assert report["total"]["group_refusals"] == report["risk_groups"]["pair"]["refusals"] > 0
    assert report["risk_groups"]["pair"]["bots"] == ["bot-a", "bot-b"]


def test_backtest_of_a_folder_prints_a_table_with_a_row_per_bot_and_the_total(tmp_path):
    result = botrunner("backtest", str(folder(tmp_path)))
    assert result.returncode == 0, result.stderr
    rows = [line.split()[0] for line in result.stdout.splitlines()[2:5]]
    assert rows == ["bot-a", "bot-b", "total"]


def test_backtest_of_a_bad_folder_exits_2_naming_the_file_and_field(tmp_path):
    root = folder(tmp_path)
    bad = root / "bots" / "bot-b.yaml"
    bad.write_text(bad.read_text().replace("timeframe: 1m", "timeframe: 7m"))
    result = botrunner("backtest", str(root))
    assert result.returncode == 2
    assert f"{bad}: timeframe" in result.stderr, result.stderr


def test_backtest_of_a_folder_writes_an_html_report_of_the_whole(tmp_path):
    (tmp_path / "cfg").mkdir()
    root = folder(tmp_path / "cfg")
    page = tmp_path / "report.html"
    result = botrunner("backtest", str(root), "--json", "--report", str(page))
    assert result.returncode == 0, result.stderr
    total = json.loads(result.stdout)["total"]
    html = page.read_text()
    for key in ("final_equity", "trades", "fees"):
        assert f'data-key="{key}" data-value="{json.dumps(total[key])}"' in html
    assert "portfolio of 2 bots" in html


def test_backtest_of_a_folder_refuses_trades_out_pointing_to_the_report_that_has_every_bots_trades(tmp_path):
    (tmp_path / "cfg").mkdir()
    root = folder(tmp_path / "cfg")
    for option in ("--trades-out", "--equity-out"):
        result = botrunner("backtest", str(root), option, str(tmp_path / "out.csv"))
        assert result.returncode == 2
        # Not "each bot reads its own market", which is --data's reason: what the user wanted
        # (the trades, the equity) is in the folder's --report.
        assert f"{option}: writes one bot's" in result.stderr, result.stderr
        assert "--report" in result.stderr and "own market" not in result.stderr
        assert not (tmp_path / "out.csv").exists()


def test_a_period_a_bots_candles_do_not_reach_names_that_bot(tmp_path):
    # Before: "<folder>: synthetic market: no candles from 2030-01-01 ...", whichever bot it was.
    (tmp_path / "cfg").mkdir()
    root = folder(tmp_path / "cfg")
    result = botrunner("backtest", str(root), "--from", "2030-01-01")
    assert result.returncode == 2
    assert f"{root}: bot bot-a: synthetic market: no candles from 2030-01-01" in result.stderr, result.stderr
