"""The daemon's exit code as systemd reads it: 0 is a clean stop, anything else a failure."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]

LIVE_BOT_WITHOUT_KEYS = """\
id: btc-live
mode: live
symbol: BTC/USDT
timeframe: 1m
capital: 500
strategy: {name: sma_cross, params: {fast: 10, slow: 30}}
exchange: {id: binance, api_key_env: BR_TEST_MISSING_KEY, secret_env: BR_TEST_MISSING_SECRET,
           base_url: "http://127.0.0.1:9"}
"""


def test_a_daemon_none_of_whose_bots_could_start_exits_non_zero(tmp_path):
    (tmp_path / "cfg" / "bots").mkdir(parents=True)
    (tmp_path / "cfg" / "bots" / "btc-live.yaml").write_text(LIVE_BOT_WITHOUT_KEYS)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BR_TEST_")}
    env["I_UNDERSTAND_LIVE_TRADING"] = "true"

    result = subprocess.run([sys.executable, str(PROJECT / "main.py"), "run", "cfg", "--state-dir", "state", "--live"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)

    assert result.returncode == 1, result.stderr[-2000:]
    assert "no bot could start" in result.stderr
    assert "BR_TEST_MISSING_KEY" in result.stdout          # the summary says why
