"""The control API over a real Unix socket (and loopback TCP), driven through ControlClient."""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import aiohttp
import pytest

from runner.control.server import ControlSocketInUse, serve_control
from runner.control.client import ControlClient, ControlClientError, ControlRequestFailed, DaemonNotRunning
from runner.control.status import LatencySummary, ReloadResult
from tests.fakes import FakeManager, make_status

LATENCY = LatencySummary(buckets=[("0.001", 3), ("0.01", 7), ("0.1", 7), ("+Inf", 8)], sum_s=0.0425, count=8)


@pytest.fixture
def manager():
    return FakeManager([
        make_status("eth-rsi", "stopped"),
        make_status("btc-ema", "running", equity=1050.5, pnl=50.5, position=0.012, bars=1200, orders=4,
                    fills=4, latency=LATENCY),
        make_status("sol-macd", "killed", kill_switch=True, kill_reason="drawdown limit"),
    ])


@pytest.fixture
async def server(manager, sock_dir):
    async with await serve_control(manager, socket_path=sock_dir / "botrunner.sock") as server:
        yield server


@pytest.fixture
async def client(server):
    async with ControlClient(server.socket_path) as client:
        yield client


@pytest.fixture
async def raw(server):
    """A plain aiohttp session on the socket, for requests ControlClient would never send."""
    async with aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=str(server.socket_path))) as session:
        yield session


async def test_lists_every_bot_sorted_by_id(client):
    bots = await client.bots()
    assert [(b.id, b.state) for b in bots] == [("btc-ema", "running"), ("eth-rsi", "stopped"),
                                              ("sol-macd", "killed")]


async def test_one_bot_comes_back_as_the_manager_reported_it(client, manager):
    assert await client.bot("btc-ema") == manager.status("btc-ema")


async def test_health_counts_the_bots(client):
    assert await client.health() == {"ok": True, "bots": 3}


async def test_an_unknown_bot_is_404_with_the_managers_message(client):
    with pytest.raises(ControlRequestFailed) as failed:
        await client.bot("doge-yolo")
    assert failed.value.status == 404
    assert failed.value.message == "no bot has the id 'doge-yolo'; known: btc-ema, eth-rsi, sol-macd"


async def test_starting_a_running_bot_is_409(client):
    with pytest.raises(ControlRequestFailed) as failed:
        await client.start("btc-ema")
    assert (failed.value.status, failed.value.message) == (409, "bot btc-ema is already running")


async def test_a_killed_bot_cannot_be_started_until_resumed(client):
    with pytest.raises(ControlRequestFailed) as failed:
        await client.start("sol-macd")
    assert failed.value.status == 409 and "resume it first" in failed.value.message

    assert (await client.resume("sol-macd")).state == "running"


async def test_resuming_a_bot_that_is_not_killed_is_409(client):
    with pytest.raises(ControlRequestFailed) as failed:
        await client.resume("eth-rsi")
    assert failed.value.status == 409


async def test_start_and_stop_change_the_state_and_log_one_line_each(client, log_records):
    assert (await client.start("eth-rsi")).state == "running"
    assert (await client.stop("eth-rsi")).state == "stopped"

    control = [r for r in log_records if r["message"].startswith("Control ")]
    assert [(r["level"].name, r["extra"]["bot"], r["message"]) for r in control] == [
        ("INFO", "eth-rsi", "Control start: now running"),
        ("INFO", "eth-rsi", "Control stop: now stopped"),
    ]


async def test_a_refused_action_is_logged_with_its_reason(client, log_records):
    with pytest.raises(ControlRequestFailed):
        await client.stop("eth-rsi")
    line = next(r for r in log_records if r["message"].startswith("Control "))
    assert line["extra"]["bot"] == "eth-rsi"
    assert line["message"] == "Control stop: refused, bot eth-rsi is not running (it is stopped)"


async def test_kill_latches_the_bot_with_the_reason(client, manager):
    killed = await client.kill("btc-ema", "exchange outage")

    assert (killed.state, killed.kill_switch, killed.kill_reason) == ("killed", True, "exchange outage")
    assert manager.calls[-1] == ("kill", "btc-ema", "exchange outage")


@pytest.mark.parametrize(("body", "complaint"), [
    (None, "reason: Field required"),
    ({"reason": ""}, "reason: String should have at least 1 character"),
    ({"reason": "   "}, "reason: String should have at least 1 character"),
    ({"reason": "x", "force": True}, "force: Extra inputs are not permitted"),
])
async def test_kill_without_a_proper_reason_is_400_and_kills_nothing(raw, manager, body, complaint):
    async with raw.post("http://botrunner/bots/btc-ema/kill", json=body) as response:
        assert response.status == 400
        assert complaint in (await response.json())["error"]
    assert manager.status("btc-ema").state == "running" and manager.calls == []


async def test_a_body_that_is_not_json_is_400(raw):
    async with raw.post("http://botrunner/kill", data=b"{reason: oops",
                        headers={"Content-Type": "application/json"}) as response:
        assert response.status == 400
        assert (await response.json())["error"].startswith("the request body is not valid JSON")


async def test_kill_all_latches_every_bot(client, manager):
    killed = await client.kill_all("maintenance")

    assert {(b.id, b.state, b.kill_reason) for b in killed} == {
        ("btc-ema", "killed", "maintenance"), ("eth-rsi", "killed", "maintenance"),
        ("sol-macd", "killed", "maintenance")}
    assert manager.calls == [("kill_all", "maintenance")]


async def test_resume_all_on_a_daemon_alone_is_409_saying_to_resume_each_bot(client, manager):
    # Its kill --all latched each bot: there is no global latch to release (cluster mode's).
    with pytest.raises(ControlRequestFailed) as failed:
        await client.resume_all()
    assert failed.value.status == 409 and failed.value.message == (
        "resume --all needs cluster mode (a cluster: block in daemon.yaml); this daemon runs alone: "
        "resume each bot (botrunner resume BOT)")
    assert manager.calls == []


async def test_reload_returns_what_changed(client, manager):
    manager.reload_result = ReloadResult(added=["ada-bb"], removed=["eth-rsi"], unchanged=["btc-ema", "sol-macd"])

    assert await client.reload() == manager.reload_result


async def test_reload_of_a_bad_config_folder_is_422_with_every_problem(client, manager):
    manager.reload_problems = ["configs/a.yaml: timeframe: must be one of 1m, 5m", "configs/b.yaml: capital: must be > 0"]

    with pytest.raises(ControlRequestFailed) as failed:
        await client.reload()

    assert failed.value.status == 422
    assert failed.value.message == "the config folder has 2 problem(s); nothing was changed"
    assert failed.value.problems == manager.reload_problems


async def test_unknown_endpoints_and_methods_answer_in_json(raw):
    async with raw.get("http://botrunner/nope") as response:
        assert (response.status, await response.json()) == (404, {"error": "no such endpoint: /nope"})
    async with raw.get("http://botrunner/reload") as response:
        assert (response.status, await response.json()) == (405, {"error": "GET is not allowed on /reload"})


async def test_metrics_are_prometheus_text_with_the_bots_numbers(raw):
    async with raw.get("http://botrunner/metrics") as response:
        assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        lines = (await response.text()).splitlines()

    assert '# TYPE botrunner_equity gauge' in lines
    assert 'botrunner_equity{bot="btc-ema"} 1050.5' in lines
    assert 'botrunner_bot_up{bot="btc-ema"} 1' in lines
    assert 'botrunner_bot_up{bot="eth-rsi"} 0' in lines
    assert 'botrunner_kill_switch{bot="sol-macd"} 1' in lines
    assert 'botrunner_bot_state{bot="sol-macd",state="killed"} 1' in lines
    assert '# TYPE botrunner_candles_total counter' in lines
    assert 'botrunner_candles_total{bot="btc-ema"} 1200' in lines
    assert '# TYPE botrunner_loop_latency_seconds histogram' in lines
    buckets = [line for line in lines if line.startswith('botrunner_loop_latency_seconds_bucket{bot="btc-ema"')]
    assert buckets == [
        'botrunner_loop_latency_seconds_bucket{bot="btc-ema",le="0.001"} 3',
        'botrunner_loop_latency_seconds_bucket{bot="btc-ema",le="0.01"} 7',
        'botrunner_loop_latency_seconds_bucket{bot="btc-ema",le="0.1"} 7',
        'botrunner_loop_latency_seconds_bucket{bot="btc-ema",le="+Inf"} 8',
    ]
    assert 'botrunner_loop_latency_seconds_sum{bot="btc-ema"} 0.0425' in lines
    assert 'botrunner_loop_latency_seconds_count{bot="btc-ema"} 8' in lines


async def test_the_socket_file_is_private_to_the_daemons_user(server):
    assert stat.S_IMODE(os.stat(server.socket_path).st_mode) == 0o600


async def test_closing_the_server_removes_its_socket_file(manager, sock_dir):
    server = await serve_control(manager, socket_path=sock_dir / "botrunner.sock")
    await server.aclose()
    assert not (sock_dir / "botrunner.sock").exists()


async def test_a_stale_socket_file_is_replaced(manager, sock_dir):
    _leave_stale_socket(sock_dir / "botrunner.sock")

    async with await serve_control(manager, socket_path=sock_dir / "botrunner.sock") as server:
        async with ControlClient(server.socket_path) as client:
            assert (await client.health())["ok"] is True


async def test_a_second_daemon_on_the_same_socket_is_refused(server, manager):
    with pytest.raises(ControlSocketInUse, match="another botrunner daemon is already listening"):
        await serve_control(manager, socket_path=server.socket_path)
    async with ControlClient(server.socket_path) as client:         # the first one is untouched
        assert (await client.health())["bots"] == 3


async def test_tcp_on_loopback_reads_without_the_token_but_acts_only_with_it(manager, sock_dir):
    tcp = ("127.0.0.1", 0)
    async with await serve_control(manager, socket_path=None, tcp=tcp, token="s3cret") as server:
        async with ControlClient(url=server.url) as client:
            assert len(await client.bots()) == 3
            for action in (client.stop("btc-ema"), client.kill("btc-ema", "x"), client.kill_all("x")):
                with pytest.raises(ControlRequestFailed) as failed:
                    await action
                assert failed.value.status == 401 and "token" in failed.value.message
        async with ControlClient(url=server.url, token="wrong") as client:
            with pytest.raises(ControlRequestFailed) as failed:
                await client.bots()                     # a wrong token is refused even where none is needed
            assert failed.value.status == 401
        async with ControlClient(url=server.url, token="s3cret") as client:
            assert (await client.stop("btc-ema")).state == "stopped"
    assert manager.calls == [("stop", "btc-ema")]


async def test_the_unix_socket_needs_no_token_to_act_while_tcp_does(manager, sock_dir):
    async with await serve_control(manager, socket_path=sock_dir / "botrunner.sock", tcp=("localhost", 0),
                                   token="s3cret") as server:
        async with ControlClient(server.socket_path) as client:
            assert (await client.stop("btc-ema")).state == "stopped"
        async with ControlClient(url=server.url) as client:
            with pytest.raises(ControlRequestFailed, match="token"):
                await client.start("btc-ema")


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::", "example.com"])
async def test_tcp_off_loopback_is_refused(manager, host):
    with pytest.raises(ValueError, match="loopback only"):
        await serve_control(manager, socket_path=None, tcp=(host, 0), token="s3cret")


async def test_tcp_without_a_token_is_refused(manager):
    with pytest.raises(ValueError, match="needs a token"):
        await serve_control(manager, socket_path=None, tcp=("127.0.0.1", 0))


async def test_no_socket_file_means_no_daemon(sock_dir):
    async with ControlClient(sock_dir / "botrunner.sock") as client:
        with pytest.raises(DaemonNotRunning) as failed:
            await client.bots()
    assert str(failed.value) == (f"no botrunner daemon is running (no control socket at "
                                 f"{sock_dir / 'botrunner.sock'}); start one with: botrunner run")


async def test_a_stale_socket_file_means_no_daemon(sock_dir):
    _leave_stale_socket(sock_dir / "botrunner.sock")

    async with ControlClient(sock_dir / "botrunner.sock") as client:
        with pytest.raises(DaemonNotRunning, match="no botrunner daemon is running"):
            await client.health()


async def test_nothing_on_the_tcp_port_means_no_daemon():
    with socket.socket() as probe:           # a port that was free a moment ago
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with ControlClient(url=f"http://127.0.0.1:{port}", token="t") as client:
        with pytest.raises(DaemonNotRunning, match=f"nothing answers at http://127.0.0.1:{port}"):
            await client.health()


async def test_a_socket_path_too_long_for_af_unix_names_the_fix(manager, sock_dir):
    too_long = sock_dir / ("d" * 100) / "botrunner.sock"

    with pytest.raises(ValueError, match="use a shorter --state-dir"):
        await serve_control(manager, socket_path=too_long)
    async with ControlClient(too_long) as client:
        with pytest.raises(ControlClientError, match="use a shorter --state-dir"):
            await client.health()


def _leave_stale_socket(path: Path) -> None:
    """A socket file whose process is gone, as a crashed daemon leaves it."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(str(path))
    assert stat.S_ISSOCK(os.stat(path).st_mode)
