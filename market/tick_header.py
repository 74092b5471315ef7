"""Whether a CSV file holds trades (ticks) rather than candles, told by its header line alone.

Apart from `market.ticks_read` so that telling costs no numpy: a backtest given a candle file
(`--data`) asks this of every file, and a candle file is then read without numpy
(`market.plain_csv`).
"""

from __future__ import annotations

import csv
from pathlib import Path

TICK_COLUMNS = ("datetime", "symbol", "price", "volume")
ALIASES = {"timestamp": "datetime"}    # a header's name for a tick column -> the column


def is_tick_file(path: Path) -> bool:
    """True when `path` is a CSV whose header names the tick columns (price and symbol rather
    than a candle's open/high/low/close). False for anything else, unreadable files included:
    the candle reader then says what is wrong with it."""
    if path.suffix.lower() not in (".csv", ".gz"):
        return False
    try:
        with open(path, "rb") as file:
            head = file.read(4096)
        if head[:2] == b"\x1f\x8b":
            import gzip
            with gzip.open(path, "rb") as file:
                head = file.read(4096)
    except OSError:
        return False
    first = head.replace(b"\r", b"\n").split(b"\n", 1)[0].decode("utf-8-sig", errors="replace")
    try:
        names = {ALIASES.get(n.strip().lower(), n.strip().lower()) for n in next(csv.reader([first]), [])}
    except csv.Error:
        return False
    return set(TICK_COLUMNS) <= names and "open" not in names
