"""More counts of one that read as one (after 27ca1e2): the HTML report's hidden trades, the
promotion rule's shortfall, download-data's summary, a basket's status and a node's
`resume --all` log line."""

from __future__ import annotations

from pathlib import Path

from portfolio.trades import Trade
from market.download import DownloadSummary
from risk.governance.ladder import Ladder, Level, PromotionRule
from runner.backtest.html_report import MAX_TRADE_ROWS, trades_table
from runner.basket.status import BasketLegStatus, BasketStatus, format_basket_status
from runner.control.client import ControlClient
from runner.control.server import serve_control
from tests.fakes import FakeManager, make_status


def test_one_trade_past_the_html_reports_rows_says_one_more_trade():
    trades = [Trade(i, i + 1, 1.0, 100.0, 101.0, 1.0, 0.0, "signal") for i in range(MAX_TRADE_ROWS + 1)]
    assert "... 1 more trade; --trades-out writes them all" in trades_table(trades)


def test_a_promotion_rule_of_one_trade_says_of_1_closed_trade():
    ladder = Ladder(Level.SHADOW, rule=PromotionRule(min_trades=1))
    assert ladder.shortfall().startswith("0 of 1 closed trade at L0")


def test_a_download_of_one_candle_says_wrote_1_candle():
    summary = DownloadSummary(Path("BTC_USDT-1d.csv"), 1, None, 1_700_000_000_000, 1_700_000_000_000)
    assert summary.describe().startswith("BTC_USDT-1d.csv: wrote 1 candle, ")


def test_a_basket_of_one_symbol_says_1_symbol():
    leg = BasketLegStatus(id="solo-btc", symbol="BTC/USDT", state="running", position=0.0, pnl=0.0,
                          realized_pnl=0.0, unrealized_pnl=0.0, retiring=False)
    status = BasketStatus(id="solo", state="running", capital=1000.0, cash=1000.0, equity=1000.0, pnl=0.0,
                          open_positions=0, max_open_positions=None, kill_switch=False, kill_reason="", legs=[leg])
    assert format_basket_status(status).splitlines()[0] == "basket solo: running, 1 symbol"


class _OneBotNode(FakeManager):
    """A cluster node (it has `move`) holding one bot, as `resume --all` sees it."""

    async def move(self, bot_id: str, node: str):
        raise NotImplementedError

    async def resume_all(self):
        return self.statuses()


async def test_resume_all_on_a_node_of_one_bot_logs_1_bot_here(sock_dir, log_records):
    manager = _OneBotNode([make_status("btc-ema", "running")])
    async with await serve_control(manager, socket_path=sock_dir / "botrunner.sock"):
        async with ControlClient(sock_dir / "botrunner.sock") as client:
            await client.resume_all()
    assert "Control resume all: global kill switch released; 1 bot here" in [r["message"] for r in log_records]
