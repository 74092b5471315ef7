"""Governance: how much a bot has earned the right to trade. Pure logic, no I/O, no clock.

- `ladder`: the maturity ladder (L0 shadow .. L4 full size), promotion by rule, demotion on drawdown;
- `health`: a score in [0, 1] from the bot's recent trades, which scales its entries;
- `drift`: how far the bot's results are from a backtest of the same config on the same candles;
- `config`: the `governance:` block of a bot's config.

The runner's side (what runs each candle, journals decisions, rebuilds the execution at a level
change) is `runner.bot.governing` and `runner.governance`.
"""
