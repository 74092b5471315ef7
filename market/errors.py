"""Errors raised where market data enters the process."""

from __future__ import annotations


class MarketDataError(Exception):
    """A data source is unusable as a whole, so the bot cannot start on it.

    Raised for an unreadable file, missing columns, a JSON document that is not a list of
    candle lists, an unknown file type, or a source with no candles left after bad rows and the
    date range are taken out. One bad row is not this error: it is dropped with a warning.

    The message starts with the source (usually the file path), then says what is wrong and
    what was expected:
    `data/x.csv: missing columns ['volume']; expected timestamp,open,high,low,close,volume`.
    """
