"""The candles the benches run on: the real BTC file beside the project, or synthetic ones."""

from __future__ import annotations

from pathlib import Path

from market.files import load_candles
from market.models import Candle
from market.synthetic import generate_candles

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "BTC_USD-1m-2022-01.csv"


def btc_candles() -> tuple[list[Candle], str]:
    """(candles, what they are): ../shared/data/BTC_USD-1m-2022-01.csv where it exists (it is not
    part of the project), else 45,000 seeded synthetic 1m candles."""
    if DATA.exists():
        return load_candles(DATA).candles, DATA.name
    return generate_candles(count=45_000, seed=42, start_price=40_000.0), "45,000 synthetic candles"
