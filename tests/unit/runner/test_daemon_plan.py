"""The daemon's plan: live mode only behind both safety gates."""

import pytest

from runner.config import BotConfig
from runner.daemon import LiveTradingNotAllowed, check_live_gates

LIVE = BotConfig.model_validate({
    "id": "real-money", "mode": "live", "symbol": "BTC/USDT", "capital": 100,
    "exchange": {"id": "binance", "api_key_env": "BK", "secret_env": "BS"},
    "strategy": {"name": "sma_cross"},
})
SIM = BotConfig.model_validate({"id": "sim", "symbol": "BTC/USDT", "capital": 100, "strategy": {"name": "sma_cross"}})


@pytest.mark.parametrize("flag, env, missing", [
    (False, {}, "--live on the command line and I_UNDERSTAND_LIVE_TRADING=true"),
    (True, {}, "missing: I_UNDERSTAND_LIVE_TRADING=true in the environment"),
    (False, {"I_UNDERSTAND_LIVE_TRADING": "true"}, "missing: --live on the command line."),
    (True, {"I_UNDERSTAND_LIVE_TRADING": "yes"}, "missing: I_UNDERSTAND_LIVE_TRADING=true"),
])
def test_live_bots_need_both_gates_and_the_message_names_what_is_missing(flag, env, missing):
    with pytest.raises(LiveTradingNotAllowed) as refused:
        check_live_gates([SIM, LIVE], live_flag=flag, environ=env)
    assert "real-money" in str(refused.value) and missing in str(refused.value)


def test_both_gates_open_or_no_live_bot_lets_the_daemon_start():
    check_live_gates([SIM, LIVE], live_flag=True, environ={"I_UNDERSTAND_LIVE_TRADING": "true"})
    check_live_gates([SIM], live_flag=False, environ={})
