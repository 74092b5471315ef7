"""Reading tick files: how long a million trades take to become candles.

    python bench/tick_files.py [--ticks 1000000] [--timeframe 1m] [--repeat 3]

Writes a tick file of `--ticks` trades (four per synthetic 1m candle, one symbol) twice, with
epoch-millisecond and with ISO 8601 datetimes, into a temporary folder, then times
`market.ticks.load_tick_candles` on each (best of `--repeat`; the file is in the page cache
after the first read) and prints trades a second. Also times `market.files.load_candles` on
the candle file of the same candles, for scale. The figures depend on the machine and what
else runs on it; they are printed, never asserted.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from loguru import logger  # noqa: E402

from market.files import load_candles  # noqa: E402
from market.models import iso_utc  # noqa: E402
from market.synthetic import generate_candles  # noqa: E402
from market.ticks import load_tick_candles  # noqa: E402

T0_MS = 1_704_067_200_000


def write_files(folder: Path, ticks: int) -> tuple[Path, Path, Path]:
    candles = generate_candles(count=ticks // 4, seed=1, start_ms=T0_MS, start_price=30_000)
    epoch, iso, plain = folder / "ticks-ms.csv", folder / "ticks-iso.csv", folder / "candles.csv"
    with open(epoch, "w") as ms_file, open(iso, "w") as iso_file:
        ms_file.write("datetime,symbol,price,volume\n")
        iso_file.write("datetime,symbol,price,volume\n")
        for c in candles:
            first, second = (c.high, c.low) if c.close < c.open else (c.low, c.high)
            for k, (price, volume) in enumerate(((c.open, c.volume / 2), (first, c.volume / 2), (second, 0.0),
                                                 (c.close, 0.0))):
                ts = c.ts_ms + k * 15_000
                ms_file.write(f"{ts},BTC/USDT,{price!r},{volume!r}\n")
                iso_file.write(f"{iso_utc(ts)[:-1]}.000Z,BTC/USDT,{price!r},{volume!r}\n")
    plain.write_text("timestamp,open,high,low,close,volume\n" + "".join(
        f"{c.ts_ms},{c.open!r},{c.high!r},{c.low!r},{c.close!r},{c.volume!r}\n" for c in candles))
    return epoch, iso, plain


def best_of(repeat: int, load) -> tuple[float, float, int]:
    """(best wall seconds, best CPU seconds, what `load` returned): on a shared machine the CPU
    time says what the code costs, the wall time what it cost this time."""
    walls, cpus, made = [], [], 0
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        made = load()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus), made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=1_000_000)
    parser.add_argument("--timeframe", default="1m")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    logger.remove()
    with tempfile.TemporaryDirectory() as folder:
        epoch, iso, plain = write_files(Path(folder), args.ticks)
        for name, path in (("epoch ms", epoch), ("ISO 8601", iso)):
            wall, cpu, made = best_of(args.repeat, lambda p=path: len(load_tick_candles(
                p, symbol="BTC/USDT", timeframe=args.timeframe).candles))
            size_mb = path.stat().st_size / 1e6
            print(f"ticks, {name:8}: {args.ticks:,} trades ({size_mb:.0f} MB) -> {made:,} {args.timeframe} candles "
                  f"in {wall:.2f} s wall, {cpu:.2f} s CPU: {args.ticks / cpu:,.0f} trades per CPU second")
        wall, cpu, made = best_of(args.repeat, lambda: len(load_candles(plain, timeframe="1m").candles))
        print(f"candles, epoch ms: {made:,} 1m candles (the same, as a candle file) in {wall:.2f} s wall, "
              f"{cpu:.2f} s CPU")


if __name__ == "__main__":
    main()
