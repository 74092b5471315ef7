"""A real daemon process operated over its real control socket, by the client and by the CLI."""

from __future__ import annotations

import asyncio
import os
import signal
import stat

import pytest

from runner.control.client import ControlClient, ControlRequestFailed
from tests.daemon_process import botrunner, connected, start_daemon, stop_daemon, write_config_folder


BOT = """\
id: {id}
symbol: BTC/USD
timeframe: 1m
capital: 10000
market: {{source: synthetic, seed: {seed}, bars: 20000, start_price: 25000}}
strategy: {{name: sma_cross, params: {{fast: 5, slow: 20}}}}
risk: {{stake_pct: 0.9}}
speed: 12000
"""


@pytest.fixture
def daemon(sock_dir):
    config_dir, state_dir = sock_dir / "config", sock_dir / "state"      # short: the socket is in state_dir
    write_config_folder(config_dir, "stop_grace_secs: 5\n",
                        {name: BOT.format(id=name, seed=i) for i, name in enumerate(["alpha", "beta", "gamma"])})
    process = start_daemon(config_dir, state_dir)
    yield config_dir, state_dir, process
    stop_daemon(process)


async def until(client: ControlClient, bot_id: str, condition) -> object:
    async with asyncio.timeout(20):
        while not condition(status := await client.bot(bot_id)):
            await asyncio.sleep(0.02)
    return status


async def test_operating_a_running_daemon_over_its_socket(daemon):
    config_dir, state_dir, process = daemon
    client = await connected(state_dir / "botrunner.sock")
    try:
        assert stat.S_IMODE(os.stat(state_dir / "botrunner.sock").st_mode) == 0o600
        assert [b.id for b in await client.bots()] == ["alpha", "beta", "gamma"]
        await until(client, "alpha", lambda s: s.state == "running" and s.bars > 50)

        stopped = await client.stop("alpha")
        assert stopped.state == "stopped"
        with pytest.raises(ControlRequestFailed) as refused:
            await client.stop("alpha")
        assert refused.value.status == 409
        await client.start("alpha")
        await until(client, "alpha", lambda s: s.state == "running" and s.bars > stopped.bars)

        await client.kill("beta", "spread looks wrong")
        beta = await until(client, "beta", lambda s: s.state == "killed")
        assert beta.kill_switch and beta.kill_reason == "spread looks wrong" and beta.position == 0.0
        with pytest.raises(ControlRequestFailed) as latched:
            await client.start("beta")
        assert latched.value.status == 409 and "resume" in latched.value.message
        await client.resume("beta")
        await until(client, "beta", lambda s: s.state == "running" and not s.kill_switch)
        assert (await client.bot("gamma")).state == "running"      # untouched throughout

        metrics = await client.metrics()
        assert 'botrunner_bot_up{bot="gamma"} 1' in metrics
        assert 'botrunner_candles_total{bot="alpha"}' in metrics

        (config_dir / "bots" / "gamma.yaml").unlink()
        (config_dir / "bots" / "delta.yaml").write_text(BOT.format(id="delta", seed=9))
        result = await client.reload()
        assert (result.added, result.removed, sorted(result.unchanged)) == (["delta"], ["gamma"], ["alpha", "beta"])
        await until(client, "delta", lambda s: s.state == "running")

        (config_dir / "bots" / "broken.yaml").write_text("id: broken\ncapital: -1\n")
        with pytest.raises(ControlRequestFailed) as invalid:
            await client.reload()
        assert invalid.value.status == 422
        assert any("broken.yaml: capital: must be > 0" in p for p in invalid.value.problems)
        assert [b.id for b in await client.bots()] == ["alpha", "beta", "delta"]   # nothing changed
    finally:
        await client.aclose()


async def test_cli_commands_talk_to_the_daemon(daemon):
    _, state_dir, process = daemon
    client = await connected(state_dir / "botrunner.sock")
    await until(client, "alpha", lambda s: s.state == "running")
    await client.aclose()
    status = await asyncio.to_thread(botrunner, "status", "--state-dir", str(state_dir))
    assert status.returncode == 0, status.stderr
    assert "alpha" in status.stdout and "running" in status.stdout
    killed = await asyncio.to_thread(botrunner, "kill", "--all", "--reason", "end of test", "--state-dir", str(state_dir))
    assert killed.returncode == 0, killed.stderr
    journal = await asyncio.to_thread(botrunner, "journal", "alpha", "--kind", "kill", "--state-dir", str(state_dir))
    assert "end of test" in journal.stdout
    assert process.poll() is None                              # killed bots wait for resume

    process.send_signal(signal.SIGTERM)
    out, err = await asyncio.to_thread(process.communicate, timeout=20)
    assert process.returncode == 0, err
    assert "killed" in out                                     # the exit summary
    gone = await asyncio.to_thread(botrunner, "status", "--state-dir", str(state_dir))
    assert gone.returncode == 1 and "no botrunner daemon is running" in gone.stderr
