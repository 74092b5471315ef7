"""Golden runs: representative backtests give the same trades and equity, to the bit, as recorded.

Each shipped config in configs/bots/ (on its seeded synthetic candles, cut to a few thousand)
and the portfolio folder beside this file have a record in `records/` (`runner.backtest.digest`:
headline figures, sha256 of the trades and of the equity curve, the trades, sampled equity). Any
change fails with what changed: the headline figures, the first differing trade, where the
equity curve first parts. A change meant to alter results rewrites them:

    .venv/bin/python -m pytest tests/golden --update-golden

and the records' diff goes into the same commit, for a reviewer to read.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import pytest

from runner.backtest.digest import backtest_record, dumps_record, record_changes
from runner.backtest.portfolio import load_portfolio, run_portfolio
from runner.backtest.run import run_backtest
from runner.config.bot import BotConfig, load_bot_config
from runner.basket.backtest import run_basket_backtest
from runner.config.basket import BasketConfig, load_bot_or_basket

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parents[1]
RECORDS = HERE / "records"
SHIPPED = sorted((PROJECT / "configs" / "bots").glob("*.yaml"))
PORTFOLIO = HERE / "portfolio"
GOLDEN_BARS = 3_000
REGIME_BARS = 8_000         # a regime detector first fits after 5,600 candles (configs/bots/synthetic-regime-gated.yaml)


def golden_config(path: Path) -> BotConfig:
    """The shipped config on at most a few thousand of its synthetic candles, without its
    prediction model: a golden run asks nothing over the network (whether a model answers
    on 127.0.0.1:8780 must not change the record)."""
    config = load_bot_config(path)
    bars = REGIME_BARS if config.regimes is not None or config.regime is not None else GOLDEN_BARS
    raw = config.model_dump()
    raw["market"] = {**raw["market"], "bars": min(config.market.bars, bars)}
    if config.model is not None:
        raw.update(model=None, triggers=[])
    return BotConfig.model_validate(raw)


def basket_record(path: Path) -> dict[str, Any]:
    """A shipped basket (symbols: [...]) on a few thousand candles per symbol, as one bot."""
    basket = load_bot_or_basket(path)
    market = basket.template.market
    template = basket.template.model_copy(update={"market": market.model_copy(update={"bars": min(market.bars, GOLDEN_BARS)})})
    result = asyncio.run(run_basket_backtest(dataclasses.replace(basket, template=template)))
    return {"config": f"configs/bots/{path.name}", **backtest_record(result.result)}


def bot_record(path: Path) -> dict[str, Any]:
    if isinstance(load_bot_or_basket(path), BasketConfig):
        return basket_record(path)
    result = asyncio.run(run_backtest(golden_config(path)))
    return {"config": f"configs/bots/{path.name}", **backtest_record(result)}


def portfolio_record() -> dict[str, Any]:
    result = asyncio.run(run_portfolio(*load_portfolio(PORTFOLIO)))
    total = {k: v for k, v in result.total().items() if k not in ("elapsed_s", "bars_per_sec")}
    return {"period": [result.first_ts_ms, result.end_ts_ms], "total": total,
            "group_refusals": result.group_refusals,
            "bots": {bot_id: backtest_record(r) for bot_id, r in result.bots.items()}}


def check_against_record(name: str, actual: dict[str, Any], update: bool) -> None:
    path = RECORDS / f"{name}.json"
    if update:
        RECORDS.mkdir(exist_ok=True)
        path.write_text(dumps_record(actual))
        return
    if not path.exists():
        pytest.fail(f"{path} is missing: record it with `pytest tests/golden --update-golden`", pytrace=False)
    import json

    changes = record_changes(json.loads(path.read_text()), actual, name=name)
    if changes:
        pytest.fail(f"{name} no longer matches its golden record {path.relative_to(PROJECT)}:\n  "
                    + "\n  ".join(changes)
                    + "\nIf the change is meant, rewrite the records: pytest tests/golden --update-golden",
                    pytrace=False)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_a_shipped_config_backtests_as_recorded(path, update_golden):
    check_against_record(path.stem, bot_record(path), update_golden)


def test_the_portfolio_folder_backtests_as_recorded(update_golden):
    check_against_record("portfolio", portfolio_record(), update_golden)


def test_a_backtest_run_twice_gives_the_same_bits():
    path = PROJECT / "configs" / "bots" / "synthetic-ema-cross.yaml"
    assert bot_record(path) == bot_record(path)


def test_a_portfolio_backtest_run_twice_gives_the_same_bits():
    assert portfolio_record() == portfolio_record()


def test_every_shipped_config_has_a_record_and_every_record_a_run():
    recorded = {p.stem for p in RECORDS.glob("*.json")}
    assert recorded == {p.stem for p in SHIPPED} | {"portfolio"}
