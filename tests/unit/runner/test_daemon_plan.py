"""The daemon's plan: live mode only behind both safety gates."""

from pathlib import Path

import pytest
import yaml

from runner.config.bot import BotConfig, ConfigError
from runner.daemon.process import LiveTradingNotAllowed, check_live_gates, plan_daemon

LIVE_FILE = {
    "id": "real-money", "mode": "live", "symbol": "BTC/USDT", "capital": 100,
    "exchange": {"id": "binance", "api_key_env": "BK", "secret_env": "BS"},
    "strategy": {"name": "sma_cross"},
}
SIM_FILE = {"id": "sim", "symbol": "BTC/USDT", "capital": 100, "strategy": {"name": "sma_cross"}}
LIVE, SIM = BotConfig.model_validate(LIVE_FILE), BotConfig.model_validate(SIM_FILE)


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


def test_the_refusal_names_the_live_bots_in_a_sentence_that_reads_for_one_or_several():
    # Before: "refusing to start: real-money trade real money" for a single bot.
    other = BotConfig.model_validate({**LIVE_FILE, "id": "more-money"})
    with pytest.raises(LiveTradingNotAllowed) as one:
        check_live_gates([SIM, LIVE], live_flag=False, environ={})
    with pytest.raises(LiveTradingNotAllowed) as two:
        check_live_gates([LIVE, other], live_flag=False, environ={})
    assert str(one.value).startswith("refusing to start: bot real-money trades real money (mode: live).")
    assert str(two.value).startswith("refusing to start: bots more-money, real-money trade real money (mode: live).")


def config_folder(root: Path, *bot_files: dict) -> Path:
    (root / "bots").mkdir(parents=True)
    for bot in bot_files:
        (root / "bots" / f"{bot['id']}.yaml").write_text(yaml.safe_dump(bot))
    return root


@pytest.mark.parametrize("bot_files, flag, env", [
    pytest.param([SIM_FILE, LIVE_FILE], True, {"I_UNDERSTAND_LIVE_TRADING": "true"}, id="both-gates-open"),
    pytest.param([SIM_FILE, LIVE_FILE], True, {"I_UNDERSTAND_LIVE_TRADING": "TRUE"}, id="gate-value-any-case"),
    pytest.param([SIM_FILE], False, {}, id="no-live-bot"),
    pytest.param([SIM_FILE, {**LIVE_FILE, "enabled": False}], False, {}, id="live-bot-disabled"),
])
def test_both_gates_open_or_no_enabled_live_bot_lets_the_daemon_plan_every_bot(tmp_path, bot_files, flag, env):
    plan = plan_daemon(config_folder(tmp_path / "etc", *bot_files), tmp_path / "state", live_flag=flag, environ=env)

    assert sorted((b.id, b.mode, b.enabled) for b in plan.bots) == sorted(
        (b["id"], b.get("mode", "sim"), b.get("enabled", True)) for b in bot_files)
    assert plan.state_dir == tmp_path / "state"


def test_a_tcp_token_too_short_to_guard_the_daemon_is_refused_without_being_shown(tmp_path):
    folder = config_folder(tmp_path / "etc", SIM_FILE)
    (folder / "daemon.yaml").write_text("control: {tcp: {port: 8765}}\n")

    with pytest.raises(ConfigError) as caught:
        plan_daemon(folder, tmp_path / "state", environ={"BOTRUNNER_TOKEN": "short-s3cret"})
    with pytest.raises(ConfigError) as in_demo:
        plan_daemon(None, tmp_path / "state", environ={"BOTRUNNER_TOKEN": "short-s3cret"})

    assert str(caught.value).startswith(f"{folder / 'daemon.yaml'}: control.tcp: the token in BOTRUNNER_TOKEN "
                                        "has 12 characters; at least 16 are needed")
    assert str(in_demo.value).startswith("the demo's dashboard: the token in BOTRUNNER_TOKEN has 12 characters")
    assert "short-s3cret" not in str(caught.value) + str(in_demo.value)


@pytest.mark.parametrize("token", ["s3cret-s3cret-s3cret-\U0001f511", "s3cret-s3cret-s3cret-\u00e9", "s3cret-s3cret-s3cret "])
def test_a_tcp_token_an_http_header_cannot_carry_as_it_is_is_refused_without_being_shown(tmp_path, token):
    # Before: the daemon started, and no client could send it: the CLI raised UnicodeEncodeError
    # (a key), or sent latin-1 bytes the server read otherwise ('é': "wrong token"); the server
    # strips the header's value, so a space at the end never matched.
    folder = config_folder(tmp_path / "etc", SIM_FILE)
    (folder / "daemon.yaml").write_text("control: {tcp: {port: 8765}}\n")

    with pytest.raises(ConfigError) as caught:
        plan_daemon(folder, tmp_path / "state", environ={"BOTRUNNER_TOKEN": token})

    assert str(caught.value) == (
        f"{folder / 'daemon.yaml'}: control.tcp: the token in BOTRUNNER_TOKEN must be printable ASCII with no "
        "space at either end (an HTTP header carries it): make one with python3 -c 'import secrets; "
        "print(secrets.token_urlsafe(24))'")
    assert "s3cret" not in str(caught.value)


def test_the_demo_serves_the_dashboard_on_loopback_only_when_given_a_token(tmp_path):
    with_token = plan_daemon(None, tmp_path / "state", environ={"BOTRUNNER_TOKEN": "t0ken-of-16-chars"})
    without = plan_daemon(None, tmp_path / "state", environ={})

    assert (with_token.daemon.control.tcp.host, with_token.daemon.control.tcp.port) == ("127.0.0.1", 8765)
    assert with_token.token == "t0ken-of-16-chars"
    assert (without.daemon.control.tcp, without.token) == (None, None)
