"""render_prometheus_rows: the API's status rows, rendered a chunk of bots at a time, give the
text of the statuses rendered at once."""

from __future__ import annotations

from runner.control.metrics import render_prometheus, render_prometheus_rows
from runner.control.status import ModelStatus
from runner.notify.sender import SenderStats
from tests.fakes import make_status


async def test_rows_rendered_a_bot_at_a_time_give_the_text_of_the_statuses_rendered_at_once():
    model = ModelStatus(name="ref", available=True, breaker="closed", calls=4, failures=1, malformed=0,
                        forecasts=3, scored=2, hit_rate=None, mean_abs_pct_error=0.01, mean_confidence=0.6)
    statuses = [make_status("btc-ema", "running", risk_blocks={"var_limit": 2, "daily_target": 1},
                            risk={"var": 0.01, "es": None, "volatility": 0.002}, regime="trending_up",
                            regime_probs={"trending_up": 0.75, "ranging": 0.25}, model=model,
                            governance={"level": 2, "execution": "paper", "health": None, "size_multiplier": 0.5,
                                        "drift_divergence": 0.1}),
                make_status("eth-rsi", "paused-by-hand"), make_status("sol-macd", "killed", kill_switch=True)]
    notifications = [SenderStats(target="SLACK_URL", sent=3, failed=1, dropped=0, retries=2, queued=0)]

    rows = [status.model_dump(mode="json") for status in statuses]
    text = await render_prometheus_rows(rows, notifications, chunk_bots=1)

    assert text == render_prometheus(statuses, notifications)
    assert 'botrunner_model_calls_total{bot="btc-ema",model="ref"} 4' in text
    assert text.index('botrunner_equity{bot="sol-macd"}') < text.index("# HELP botrunner_bot_state")
