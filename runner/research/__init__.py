"""The research loop: parameter search over backtests (`botrunner optimize`), on a process pool,
with walk-forward validation.

params (what is searched) -> search (grid, random, TPE; trials kept in store) -> pool (the
backtests, `runner.backtest`'s own) -> objectives (what is maximised) -> walk_forward (in-sample
against out-of-sample) -> report. `optimize.run_optimize` ties them together.
"""
