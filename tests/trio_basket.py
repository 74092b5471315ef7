"""The "trio" basket the basket daemon tests run, in a process (tests/integration/test_basket_daemon.py),
under a BotManager (test_basket_start_order.py) and on cluster nodes
(tests/cluster/test_cluster_basket_daemons.py): three symbols of a seeded synthetic market, with a
stake far below the capital and a limit of every symbol, so no leg's decision depends on how fast
the others replay, only on whether every leg's share of the cash is there: the legs must end where
the basket backtest of the same file ends.
"""

from __future__ import annotations

from pathlib import Path

SYMBOLS = ("BTC/USDT", "ETH/USDT", "SOL/USDT")
LEGS = ("trio.btc-usdt", "trio.eth-usdt", "trio.sol-usdt")
CAPITAL = 10_000


def trio_basket(*, bars: int = 1500, speed: float | None = 60_000, basket_id: str = "trio",
                symbols: tuple[str, ...] = SYMBOLS, stake: str = "stake_amount: 1500") -> str:
    """The basket file's text: `bars` 1m candles a symbol, replayed `speed` times faster than
    real time (60,000: 1,000 candles a second a leg; None: as fast as they go); `stake` the
    sizing line (the basket restart tests size on the shared cash)."""
    return f"""\
id: {basket_id}
symbols: [{", ".join(symbols)}]
max_open_positions: 3
{stake}
timeframe: 1m
capital: {CAPITAL}
market: {{source: synthetic, seed: 5, bars: {bars}}}
strategy: {{name: ema_cross, params: {{fast: 5, slow: 20}}}}
risk: {{stop_loss_pct: 0.01}}
speed: {"null" if speed is None else speed}
"""


def write_trio_basket(folder: Path, **changes) -> Path:
    """`trio_basket(**changes)` written to FOLDER/<id>.yaml; its path."""
    path = folder / f"{changes.get('basket_id', 'trio')}.yaml"
    path.write_text(trio_basket(**changes))
    return path
