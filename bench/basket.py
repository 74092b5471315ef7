"""Backtest candles per second of a 10-symbol basket bot, against ten single-symbol bots over the
same candles.

    python bench/basket.py [--bars 20000] [--repeat 3]

The basket (`runner.basket`: one ema_cross per symbol, one cash balance, max_open_positions 4,
its legs stepped candle time by candle time, `runner.basket.stepping`) and the ten
bots (each its own `botrunner backtest`, one after the other, its own cash) trade the same
candles: ten 1m synthetic series, one per symbol (seeded by symbol), or, where ../shared/data
has them, its three BTC-quoted 5m files (ETH, LTC, ADA) in a three-symbol basket as well.
Loading the candles is not timed; each figure is the best of `--repeat` runs.

    synthetic: 10 symbols x 20,000 1m candles, ema_cross, best of 3
      one basket of 10 symbols        209,826 candles/s   (200,000 candles in 0.953 s, 2,177 trades)
      10 single-symbol bots           373,032 candles/s   (200,000 candles in 0.536 s, 3,527 trades)
      basket / bots                      1.78x the time
    real: ETH/BTC, LTC/BTC, ADA/BTC 5m from ../shared/data, best of 3
      one basket of 3 symbols         188,726 candles/s   (17,240 candles in 0.091 s, 389 trades)
      3 single-symbol bots            349,122 candles/s   (17,240 candles in 0.049 s, 389 trades)
      basket / bots                      1.85x the time

(2 cores, load about 1.1.) The same machine with the legs each stepped through its run() loop per
candle (before StrategyRunner.step): 155,000-171,000 candles/s, 2.45-2.55x the time of the ten
bots (the real files 2.05-2.31x). What remains is lockstep itself: a leg's candle must see the
other legs' candles of that time (the basket's equity at every mark, the shared cash at every
entry), so each leg's step is one candle, and the basket's equity is summed over the legs at
every mark.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from loguru import logger  # noqa: E402

from runner.assembly.compose import sim_runner  # noqa: E402
from runner.backtest.run import load_bot_candles  # noqa: E402
from runner.basket.backtest import run_basket_backtest  # noqa: E402
from runner.config.basket import BasketConfig, basket_config_problems  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SYMBOLS = ["BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT", "ADA/USDT", "DOGE/USDT", "DOT/USDT", "LTC/USDT",
           "LINK/USDT", "AVAX/USDT"]
REAL = {"ETH/BTC": "ETH_BTC-5m.csv", "LTC/BTC": "LTC_BTC-5m.csv", "ADA/BTC": "ADA_BTC-5m.csv"}


def basket(symbols: list[str], *, bars: int, timeframe: str = "1m", markets: dict | None = None) -> BasketConfig:
    raw = {"id": "bench-basket", "symbols": symbols, "max_open_positions": 4, "stake_fraction": 0.25,
           "timeframe": timeframe, "capital": 100_000,
           "market": {"source": "synthetic", "seed": 7, "bars": bars},
           "strategy": {"name": "ema_cross", "params": {"fast": 12, "slow": 26}},
           "risk": {"stop_loss_pct": 0.03}, "execution": {"fee_rate": 0.001}}
    if markets:
        raw["markets"] = markets
    config, problems = basket_config_problems(Path("bench-basket.yaml"), raw)
    if config is None:
        raise SystemExit("\n".join(problems))
    return config


async def time_basket(config: BasketConfig) -> tuple[float, int, int]:
    result = await run_basket_backtest(config)
    return result.result.elapsed_s, result.result.bars, len(result.result.trades)


async def time_singles(config: BasketConfig) -> tuple[float, int, int]:
    """Each leg as a bot of its own (no basket: its own cash), one backtest after the other."""
    elapsed, bars, trades = 0.0, 0, 0
    for leg in config.legs():
        alone = leg.model_copy(update={"basket": None})
        candles = load_bot_candles(alone)
        runner = sim_runner(alone, candles, record_equity=True)
        started = time.perf_counter()
        await runner.run()
        elapsed += time.perf_counter() - started
        bars, trades = bars + runner.bars, trades + runner.portfolio.trade_count
    return elapsed, bars, trades


def best(run, config: BasketConfig, repeat: int) -> tuple[float, int, int]:
    return min((asyncio.run(run(config)) for _ in range(repeat)), key=lambda r: r[0])


def compare(title: str, config: BasketConfig, repeat: int) -> None:
    together = best(time_basket, config, repeat)
    alone = best(time_singles, config, repeat)
    n = len(config.symbols())
    print(title)
    for label, (elapsed, bars, trades) in ((f"one basket of {n} symbols", together), (f"{n} single-symbol bots", alone)):
        print(f"  {label:<28} {bars / elapsed:>10,.0f} candles/s   ({bars:,} candles in {elapsed:.3f} s, {trades:,} trades)")
    print(f"  basket / bots                {together[0] / alone[0]:>10.2f}x the time")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bars", type=int, default=20_000, help="synthetic candles per symbol")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    logger.remove()
    compare(f"synthetic: 10 symbols x {args.bars:,} 1m candles, ema_cross, best of {args.repeat}",
            basket(SYMBOLS, bars=args.bars), args.repeat)
    if all((SHARED / name).exists() for name in REAL.values()):
        markets = {symbol: {"source": "csv", "path": str(SHARED / name)} for symbol, name in REAL.items()}
        config = basket(list(REAL), bars=1, timeframe="5m", markets=markets)
        compare(f"real: {', '.join(REAL)} 5m from ../shared/data, best of {args.repeat}", config, args.repeat)


if __name__ == "__main__":
    main()
