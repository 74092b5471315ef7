"""A kill or a resume the daemon has answered survives the daemon's death at once after the answer:
`botrunner run --live` as a real process with a sim, a paper and a live bot (the last two on the
Binance stand-in through real ccxt), asked over its control socket, SIGKILLed as soon as each
answer is read, and started again on the same state folder. Each bot comes back as the answer
said: killed and latched with its reason after `kill BOT`, running and trading after `resume`;
and the live bot sent no client order id twice.

That the answer waits for the journal commit is checked exactly, without a process, in
test_kill_answer_durable.py, for `kill --all` too (a kill of each bot: a third pair of daemon
starts here cost 10-15 s of the suite for the same path).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from execution.standin import BinanceStandIn
from runner.control.client import ControlClient
from tests.daemon_process import PROJECT, connected
from tests.wall_clock_standin import wall_clock_standin

BOTS = ("sim-k", "paper-k", "live-k")

EXCHANGE = """\
exchange:
  id: binance
  base_url: {base_url}
  poll_delay_secs: 0.1
  options: {{fetchMarkets: {{types: [spot]}}, fetchCurrencies: false, fetchMargins: false}}
"""
SIM = """\
id: sim-k
mode: sim
symbol: BTC/USDT
timeframe: 1m
capital: 10000
market: {source: synthetic, seed: 3, bars: 100000}
speed: 120
strategy: {name: ema_cross, params: {fast: 3, slow: 8}}
risk: {stake_pct: 0.5}
"""
EXCHANGE_BOT = """\
id: {bot_id}
mode: {mode}
symbol: BTC/USDT
timeframe: 1s
capital: 4000
strategy: {{name: sma_cross, params: {{fast: 2, slow: 4}}}}
risk: {{stake_pct: 0.5}}
on_restart: resume
"""


@pytest.fixture
def root():
    """A short folder: a Unix socket path must fit in about 107 bytes."""
    folder = Path(tempfile.mkdtemp(dir="/tmp", prefix="br-kd-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def write_config(root: Path, base_url: str) -> Path:
    folder = root / "config"
    (folder / "bots").mkdir(parents=True)
    (folder / "daemon.yaml").write_text("stop_grace_secs: 10\n")
    (folder / "bots" / "sim-k.yaml").write_text(SIM)
    for bot_id, mode in (("paper-k", "paper"), ("live-k", "live")):
        text = EXCHANGE_BOT.format(bot_id=bot_id, mode=mode) + EXCHANGE.format(base_url=base_url)
        if mode == "live":
            text += "  api_key_env: BR_KD_KEY\n  secret_env: BR_KD_SECRET\n"
        else:
            text += "  account: prices\n"        # an account of its own: no keys
        (folder / "bots" / f"{bot_id}.yaml").write_text(text)
    return folder


class Daemon:
    """`botrunner run CONFIG --live` on a state folder, its log kept; SIGKILLed or stopped."""

    def __init__(self, root: Path, standin: BinanceStandIn) -> None:
        self.config, self.state_dir, self.log = write_config(root, standin.base_url), root / "state", root / "daemon.log"
        self.env = {**os.environ, "I_UNDERSTAND_LIVE_TRADING": "true",
                    "BR_KD_KEY": standin.api_key, "BR_KD_SECRET": standin.secret}
        self.process: subprocess.Popen | None = None
        self.client: ControlClient | None = None

    async def start(self) -> ControlClient:
        """Started, once every bot has left `starting` (each restored and running, or killed)."""
        with open(self.log, "a") as out:
            self.process = subprocess.Popen(
                [sys.executable, str(PROJECT / "main.py"), "run", str(self.config), "--state-dir", str(self.state_dir),
                 "--live"], cwd=PROJECT, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        self.client = await connected(self.state_dir / "botrunner.sock")
        await self.until(self.client, lambda s: s.state not in ("created", "starting"))
        return self.client

    async def until(self, client: ControlClient, condition, timeout_secs: float = 90.0) -> dict:
        """Each bot's status once `condition` holds for every bot."""
        statuses: dict = {}
        try:
            async with asyncio.timeout(timeout_secs):
                while True:
                    statuses = {s.id: s for s in await client.bots()}
                    if all(condition(s) for s in statuses.values()):
                        break
                    await asyncio.sleep(0.05)
        except TimeoutError:
            raise AssertionError(f"not within {timeout_secs}s: {statuses}\n{self.log.read_text()[-4000:]}") from None
        return statuses

    async def sigkill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        await self.client.aclose()

    async def stop(self) -> None:
        if self.client is not None:
            await self.client.aclose()
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


async def test_kills_and_resumes_answered_survive_a_sigkill_right_after_the_answer(root):
    async with wall_clock_standin(900) as standin:
        daemon = Daemon(root, standin)
        try:
            # 1. `kill BOT` on each: answered, then the process dies at once.
            client = await daemon.start()
            await daemon.until(client, lambda s: s.state == "running" and s.bars >= 3)
            answers = await asyncio.gather(*(client.kill(bot_id, f"by hand: {bot_id}") for bot_id in BOTS))
            await daemon.sigkill()
            assert [(a.id, a.kill_switch) for a in answers] == [(bot_id, True) for bot_id in BOTS]

            client = await daemon.start()
            back = await daemon.until(client, lambda s: s.state == "killed" and not s.flatten_pending)
            assert {b: (s.kill_switch, s.kill_reason) for b, s in back.items()} == {
                b: (True, f"by hand: {b}") for b in BOTS}

            # 2. `resume` on each: answered, then the process dies at once.
            await asyncio.gather(*(client.resume(bot_id) for bot_id in BOTS))
            await daemon.sigkill()

            client = await daemon.start()
            back = await daemon.until(client, lambda s: s.state == "running")
            assert not any(s.kill_switch for s in back.values())
            await daemon.until(client, lambda s: s.bars > back[s.id].bars)       # trading again
        finally:
            await daemon.stop()
        assert max(standin.order_submissions.values(), default=1) == 1      # no client order id sent twice
