"""Building bots: the composition root.

`compose.compose_runner` is the one place a `StrategyRunner` is constructed, for every mode and
every caller (backtest, the daemon, tests, benches): modes differ only in what it injects.
`daemon_bots.build_daemon_bot` opens a daemon bot's shared feed, composes the bot, and brings
it back to where it was (snapshot, journal, and for live bots the exchange).
"""
