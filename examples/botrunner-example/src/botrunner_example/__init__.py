"""An example package for botrunner: one strategy and two plugins, found through entry points.

- `donchian_breakout` (`botrunner.strategies`): enter on a close above the highest high of the
  last `entry` candles, leave on a close below the lowest low of the last `exit` candles.
- `range_guard` (`botrunner.plugins`): vetoes entries on a candle whose range is extreme.
- `trade_log` (`botrunner.plugins`): appends each fill and kill to a CSV file.
"""
