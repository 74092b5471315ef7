"""The example package (`examples/botrunner-example`), installed by pip beside botrunner as a user
installs theirs, used by `botrunner` processes: its strategy and plugins are found through their
entry points with no edit of this repository.

pip installs it once per module into a folder of its own (`--target`), put on the processes'
PYTHONPATH: the project's venv is not touched. The build runs in pip's isolated build
environment (the venv's setuptools has no bdist_wheel without the `wheel` package).
"""

from __future__ import annotations

import asyncio
import csv
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.daemon_process import PROJECT, botrunner, connected, start_daemon, stop_daemon
from tests.fake_packages import Site

EXAMPLE = PROJECT / "examples" / "botrunner-example"

BOT = """\
id: {id}
symbol: BTC/USD
timeframe: 1m
capital: 10000
market: {{source: synthetic, seed: 7, bars: {bars}, start_price: 25000}}
strategy: {{name: donchian_breakout, params: {{entry: 20, exit: {exit}}}}}
risk: {{stake_pct: 0.9}}
"""


@pytest.fixture(scope="module")
def example_site(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("example")
    source, site = root / "botrunner-example", root / "site"
    # Built from a copy: a build writes its egg-info beside the sources.
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("*.egg-info", "build", "__pycache__"))
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site),
                                str(source)], capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, installed.stderr
    return site


@pytest.fixture
def with_example(example_site, monkeypatch) -> Path:
    """The example installed for the `botrunner` processes this test starts."""
    monkeypatch.setenv("PYTHONPATH", str(example_site))
    return example_site


def bot_file(folder: Path, bot_id: str, plugins: str = "", bars: int = 3000, exit: int = 10) -> Path:
    path = folder / f"{bot_id}.yaml"
    path.write_text(BOT.format(id=bot_id, bars=bars, exit=exit) + plugins)
    return path


def test_the_installed_example_adds_its_strategy_and_plugins_with_where_they_come_from(with_example, tmp_path):
    listed = botrunner("strategies", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {row["name"]: row for row in map(json.loads, listed.stdout.splitlines())}
    assert rows["donchian_breakout"] == {"name": "donchian_breakout", "source": "botrunner-example",
                                         "target": "botrunner_example.donchian:DonchianBreakout", "problem": ""}
    assert rows["sma_cross"]["source"] == "built-in"

    plugins = botrunner("plugins")
    assert plugins.returncode == 0, plugins.stderr
    assert [line.split()[:2] for line in plugins.stdout.splitlines()] == [
        ["range_guard", "botrunner-example"], ["trade_log", "botrunner-example"]]

    path = bot_file(tmp_path, "checked", "plugins: [{name: range_guard, params: {max_range_pct: 0}}]\n")
    refused = botrunner("validate", str(path))
    assert refused.returncode == 2
    assert refused.stderr.strip() == f"{path}: plugins[0].params.max_range_pct: must be > 0 and <= 100, got 0"


def test_a_backtest_runs_the_outside_strategy_with_its_plugins(with_example, tmp_path):
    log = tmp_path / "fills-{bot}.csv"
    plain = botrunner("backtest", str(bot_file(tmp_path, "plain")), "--json")
    logged = botrunner("backtest", str(bot_file(tmp_path, "logged", f"plugins: [{{name: trade_log, params: "
                                                                       f"{{path: '{log}'}}}}]\n")), "--json")
    guarded = botrunner("backtest", str(bot_file(tmp_path, "guarded", "plugins: [{name: range_guard, params: "
                                                                        "{max_range_pct: 0.0001}}]\n")), "--json")
    for run in (plain, logged, guarded):
        assert run.returncode == 0, run.stderr

    plain_summary, logged_summary = json.loads(plain.stdout), json.loads(logged.stdout)
    assert plain_summary["strategy"] == "donchian_breakout" and plain_summary["trades"] > 5
    assert logged_summary["trades"] == plain_summary["trades"]          # a logger changes nothing
    with open(tmp_path / "fills-logged.csv", newline="") as rows:
        fills = list(csv.DictReader(rows))
    assert {row["event"] for row in fills} == {"fill"} and {row["bot"] for row in fills} == {"logged"}
    assert [row["side"] for row in fills[:2 * plain_summary["trades"]]] == ["buy", "sell"] * plain_summary["trades"]
    assert json.loads(guarded.stdout)["trades"] == 0                    # every entry's candle is wider than that


async def test_a_kill_by_hand_in_a_running_daemon_reaches_on_kill_and_a_failing_plugin_is_disabled(with_example):
    # A short folder: a Unix socket path must fit in about 107 bytes.
    root = Path(tempfile.mkdtemp(dir="/tmp", prefix="br-plug-"))
    config_dir, state_dir, log = root / "config", root / "state", root / "trades-{bot}.csv"
    (config_dir / "bots").mkdir(parents=True)
    (config_dir / "daemon.yaml").write_text("stop_grace_secs: 5\n")
    # Paced (50 candles a second), and no exit within the run: once long, the bot holds until the kill.
    paced = {"bars": 50_000, "exit": 10_000}
    bot_file(config_dir / "bots", "logged", f"plugins: [{{name: trade_log, params: {{path: '{log}'}}}}]\n"
                                            "speed: 3000\n", **paced)
    bot_file(config_dir / "bots", "unwritable", "plugins: [{name: trade_log, params: {path: "
                                                "/nonexistent-dir/trades.csv}}]\nspeed: 3000\n", **paced)
    process = start_daemon(config_dir, state_dir)
    try:
        client = await connected(state_dir / "botrunner.sock")
        try:
            async with asyncio.timeout(60):
                while (await client.bot("logged")).position <= 0 or not (await client.bot("unwritable")).fills:
                    await asyncio.sleep(0.05)
            killed = await client.kill("logged", "operator says stop")
            async with asyncio.timeout(30):
                while (killed := await client.bot("logged")).position != 0:
                    await asyncio.sleep(0.05)
            unwritable = await client.bot("unwritable")
        finally:
            await client.aclose()
    finally:
        stop_daemon(process)

    assert killed.state == "killed" and killed.kill_reason == "operator says stop"
    with open(root / "trades-logged.csv", newline="") as rows:
        events = [(row["event"], row["side"], row["detail"]) for row in csv.DictReader(rows)]
    assert events[-2:] == [("kill", "", "operator says stop"), ("fill", "sell", "kill_switch")]

    assert unwritable.state == "running"                                 # the bot goes on without it
    assert unwritable.plugins_disabled == {
        "trade_log": "on_fill: FileNotFoundError: [Errno 2] No such file or directory: '/nonexistent-dir/trades.csv'"}
    shutil.rmtree(root, ignore_errors=True)


def test_a_package_that_cannot_be_used_is_listed_with_why_and_the_built_ins_still_run(tmp_path, monkeypatch):
    site = Site(tmp_path / "site")
    site.root.mkdir()
    site.install("broken-pkg", "raise ImportError('needs talib')",
                 {"botrunner.strategies": {"talib_cross": "MODULE:TalibCross"}, "botrunner.plugins": {"alerts": "MODULE:A"}})
    site.install("shadow-pkg", "from strategies.sma_cross import SmaCross\n\n\nclass MySmaCross(SmaCross):\n    pass\n",
                 {"botrunner.strategies": {"sma_cross": "MODULE:MySmaCross"}})
    monkeypatch.setenv("PYTHONPATH", str(site.root))

    listed = botrunner("strategies")
    plugins = botrunner("plugins")
    demo = botrunner("backtest", "--json")                     # the embedded bot trades sma_cross
    ema = tmp_path / "ema.yaml"
    ema.write_text(BOT.format(id="ema", bars=2000, exit=10).replace("donchian_breakout", "ema_cross")
                   .replace("{entry: 20, exit: 10}", "{fast: 12, slow: 26}"))
    built_in = botrunner("backtest", str(ema), "--json")

    assert listed.returncode == 2 and plugins.returncode == 2
    rows = {line.split()[0]: line for line in listed.stdout.splitlines()}
    assert "cannot be used: entry point 'talib_cross' of package broken-pkg" in rows["talib_cross"]
    assert rows["talib_cross"].endswith("(ImportError: needs talib)")
    assert "strategy 'sma_cross' is both built in (strategies.sma_cross.SmaCross) and offered by entry point " \
           "'sma_cross' of package shadow-pkg" in rows["sma_cross"]
    assert rows["ema_cross"].split()[1] == "built-in"
    assert "cannot be used: entry point 'alerts' of package broken-pkg (botrunner.plugins)" in plugins.stdout
    assert demo.returncode == 2 and demo.stderr.startswith("demo-sma-cross: strategy.name: strategy 'sma_cross' is both")
    assert built_in.returncode == 0 and json.loads(built_in.stdout)["trades"] > 0
