"""The dashboard in a real headless chromium against a real daemon process: it lists the bots,
draws a bot's equity chart, and a kill from the page kills the bot."""

from __future__ import annotations

import json
import socket
import time
import urllib.request

import pytest

from tests.daemon_process import start_daemon, stop_daemon, write_config_folder

TOKEN = "browser-test-token"
BOT = """\
id: {id}
symbol: BTC/USD
timeframe: 1m
capital: 10000
market: {{source: synthetic, seed: {seed}, bars: 50000, start_price: 25000}}
strategy: {{name: sma_cross, params: {{fast: 3, slow: 8}}}}
risk: {{stake_pct: 0.9}}
speed: 3000
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get_json(url: str) -> object:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


def wait_for(condition, what: str, timeout_secs: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_secs
    while True:
        try:
            if condition():
                return
        except OSError:
            pass                                  # not listening yet
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.fixture
def daemon_url(sock_dir):
    """A daemon with three paced sim bots, its control API on loopback TCP; yields its URL."""
    config_dir, state_dir, port = sock_dir / "config", sock_dir / "state", free_port()
    write_config_folder(config_dir, f"stop_grace_secs: 5\ncontrol: {{tcp: {{port: {port}}}}}\n",
                        {name: BOT.format(id=name, seed=i) for i, name in enumerate(["alpha", "beta", "gamma"])})
    process = start_daemon(config_dir, state_dir, env={"BOTRUNNER_TOKEN": TOKEN})
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: process.poll() is not None or get_json(url + "/health")["bots"] == 3, "the daemon")
        assert process.poll() is None, process.communicate()[1][-3000:]
        yield url
    finally:
        err = stop_daemon(process, timeout_secs=30)
    assert TOKEN not in err                        # the dashboard URL is logged without the token
    assert f"Dashboard: {url}/" in err


def painted_pixels(page, selector: str) -> int:
    return page.evaluate("""selector => {
        const canvas = document.querySelector(selector);
        const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        let painted = 0;
        for (let i = 3; i < data.length; i += 4) if (data[i] > 0) painted++;
        return painted;
    }""", selector)


def test_the_dashboard_lists_the_bots_draws_the_chart_and_kills_a_bot(daemon_url, page):
    page.goto(f"{daemon_url}/#token={TOKEN}")

    page.wait_for_selector("body[data-bots='3']")
    assert "token" not in page.url                               # taken out of the address bar
    assert page.locator("#bots-body .bot-row").all_inner_texts()[0].startswith("alpha")
    assert page.locator("#bots-body .bot-row").count() == 3
    page.wait_for_function("document.querySelector('#connection').textContent === 'live'")

    page.click("#bots-body [data-bot='alpha']")
    page.wait_for_function("Number(document.querySelector('#equity-chart').dataset.points || 0) >= 3",
                           timeout=30_000)
    assert painted_pixels(page, "#equity-chart canvas") > 100
    assert painted_pixels(page, "#drawdown-chart canvas") > 100

    page.on("dialog", lambda dialog: dialog.accept())           # "Kill alpha?"
    page.fill("#kill-reason", "pulled from the browser")
    page.click("#detail [data-action='kill']")
    page.wait_for_function("document.querySelector('#message').textContent.includes('now killed')")
    page.wait_for_selector("#bots-body [data-bot='alpha'] .state-killed")

    alpha = get_json(f"{daemon_url}/bots/alpha")
    assert (alpha["state"], alpha["kill_switch"], alpha["kill_reason"]) == ("killed", True, "pulled from the browser")
    kills = get_json(f"{daemon_url}/bots/alpha/journal?kinds=kill")
    assert [k["data"].get("reason") for k in kills] == ["pulled from the browser"]
    assert get_json(f"{daemon_url}/bots/beta")["state"] == "running"
