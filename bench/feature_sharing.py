"""The feature engine's cost: one FeatureSet's throughput, and features for many bots computed
once per stream (SharedFeatures) against each bot computing its own.

    python bench/feature_sharing.py [--candles 300] [--bots 1000] [--streams 10] [--repeat 5]

1. `FeatureSet.update` over 100,000 synthetic candles with a hybrid bot's specs (ema:12, ema:26,
   rsi:14, bb:20:2, vwap:day), and the same through `SharedFeatures.values_for` for a lone bot
   (the store's overhead): candles per second, median of `--repeat` runs.
2. `--bots` bots spread over `--streams` synthetic streams of `--candles` candles, each stream
   with those five specs, stepped the way the daemon steps them (candle by candle, every bot of
   the stream in turn). Each way runs in a fresh child process, so its RSS is its own: CPU time
   per stream candle (all the stream's bots) and per bot candle, RSS growth over the candles and
   the bots' features, and the process's RSS.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from market.synthetic import generate_candles  # noqa: E402
from strategies.features import FeatureHub, FeatureSet, SharedFeatures  # noqa: E402

HYBRID = ("ema:12", "ema:26", "rsi:14", "bb:20:2", "vwap:day")


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def throughput(candles, repeat: int) -> tuple[float, float]:
    """Median candles/s of FeatureSet.update and of a lone reader's SharedFeatures.values_for."""
    def run_set() -> float:
        update = FeatureSet(HYBRID).update
        started = time.perf_counter()
        for candle in candles:
            update(candle)
        return time.perf_counter() - started

    def run_shared() -> float:
        values_for = SharedFeatures(HYBRID).values_for
        started = time.perf_counter()
        for candle in candles:
            values_for(candle)
        return time.perf_counter() - started

    n = len(candles)
    return (n / statistics.median(run_set() for _ in range(repeat)),
            n / statistics.median(run_shared() for _ in range(repeat)))


def many_bots(mode: str, bots: int, streams: int, count: int) -> dict:
    """One run of the bots over the streams, in this process: `mode` "shared" or "own"."""
    stream_candles = [generate_candles(count=count, seed=s, start_price=30_000.0) for s in range(streams)]
    rss_before = rss_mb()
    hub = FeatureHub()
    readers: list[list] = [[] for _ in range(streams)]
    for bot in range(bots):
        stream = bot % streams
        if mode == "shared":
            readers[stream].append(hub.shared(("BTC/USDT", "1m", stream), HYBRID).values_for)
        else:
            readers[stream].append(FeatureSet(HYBRID).update)
    started = time.process_time()
    latest = None
    for i in range(count):
        for stream, candles in enumerate(stream_candles):
            candle = candles[i]
            for read in readers[stream]:
                latest = read(candle)  # what the runner puts in the bot's MarketView.features
    cpu = time.process_time() - started
    assert latest is not None and len(latest) == 7
    return {"cpu_s": cpu, "rss_growth_mb": rss_mb() - rss_before, "rss_mb": rss_mb(),
            "computations": len(hub) if mode == "shared" else bots}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--candles", type=int, default=300)
    parser.add_argument("--bots", type=int, default=1000)
    parser.add_argument("--streams", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--child", choices=["shared", "own"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(many_bots(args.child, args.bots, args.streams, args.candles)))
        return

    candles = generate_candles(count=100_000, seed=42, start_price=30_000.0)
    per_set, per_shared = throughput(candles, args.repeat)
    print(f"specs {', '.join(HYBRID)}; 100,000 synthetic candles, median of {args.repeat} runs")
    print(f"  FeatureSet.update                     {per_set:>10,.0f} candles/s   ({1e6 / per_set:.2f} us/candle)")
    print(f"  SharedFeatures.values_for, lone bot   {per_shared:>10,.0f} candles/s   ({1e6 / per_shared:.2f} us/candle)")

    print(f"{args.bots:,} bots on {args.streams} streams, {args.candles} candles each, the same 5 specs per stream")
    results = {}
    for mode in ("shared", "own"):
        child = [sys.executable, __file__, "--child", mode, "--bots", str(args.bots),
                 "--streams", str(args.streams), "--candles", str(args.candles)]
        out = subprocess.run(child, check=True, capture_output=True, text=True, timeout=600).stdout
        results[mode] = result = json.loads(out)
        stream_candles = args.candles * args.streams
        label = "SharedFeatures (one per stream)" if mode == "shared" else "own FeatureSet per bot"
        print(f"  {label:<32} {result['computations']:>5} computations: "
              f"{result['cpu_s'] / stream_candles * 1e6:>8.1f} us CPU per stream candle "
              f"({result['cpu_s'] / (stream_candles * args.bots / args.streams) * 1e9:,.0f} ns per bot candle), "
              f"RSS +{result['rss_growth_mb']:.1f} MB (process {result['rss_mb']:.0f} MB)")
    print(f"  CPU ratio own/shared: {results['own']['cpu_s'] / results['shared']['cpu_s']:.1f}x")


if __name__ == "__main__":
    main()
