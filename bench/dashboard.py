"""The web dashboard with many bots: page weight, time to first render, and the daemon's CPU
while dashboards are open.

    python bench/dashboard.py [--bots 1000] [--viewers 10] [--window 20]

Starts a real daemon process (`main.py run`) on `--bots` paced sim bots (synthetic candles, one
1m candle a second, over 10 shared streams) with its control API on loopback TCP, and drives
Debian's headless chromium (`/usr/bin/chromium`, through Playwright, as tests/browser does):

1. one page: bytes transferred for the page and its files (Resource Timing, the endless event
   stream left out), the first `snapshot` event's size, and the time from navigation to the
   table of every bot drawn (the page's `bots-drawn` mark) and to first contentful paint;
2. the daemon's CPU (utime + stime from /proc, as % of one core) over `--window` seconds with
   no dashboard open, then with `--viewers` dashboards open (one browser context each, so each
   has its own connections), and the bytes one viewer receives a second.

Bounded: everything ends after about three windows plus start-up. The figures depend on the
machine and what else runs on it; they are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from tests.browser.conftest import CHROMIUM_ARGS, chromium_path  # noqa: E402

TOKEN = "bench-dashboard-token"
STRATEGIES = [("sma_cross", "{fast: 10, slow: 30}"), ("ema_cross", "{fast: 12, slow: 26}"),
              ("rsi_reversion", "{period: 14}"), ("bollinger_breakout", "{period: 20, dev: 2.0}")]


def write_configs(folder: Path, bots: int, port: int) -> None:
    (folder / "bots").mkdir(parents=True)
    (folder / "daemon.yaml").write_text(f"snapshot_interval_secs: 30\nlog: {{level: WARNING}}\n"
                                        f"control: {{tcp: {{port: {port}}}}}\n")
    for i in range(bots):
        name, params = STRATEGIES[i % len(STRATEGIES)]
        (folder / "bots" / f"bot-{i:04d}.yaml").write_text(
            f"id: bot-{i:04d}\nsymbol: BTC/USDT\ntimeframe: 1m\ncapital: 10000\n"
            f"market: {{source: synthetic, seed: {i % 10}, bars: 100000, start_price: 30000}}\n"
            f"strategy: {{name: {name}, params: {params}}}\nrisk: {{stake_pct: 0.5, stop_loss_pct: 0.02}}\n"
            f"speed: 60\n")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get_json(url: str) -> object:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.load(response)


def cpu_secs(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_percent(pid: int, window_secs: float) -> float:
    start_cpu, start = cpu_secs(pid), time.monotonic()
    time.sleep(window_secs)
    return 100 * (cpu_secs(pid) - start_cpu) / (time.monotonic() - start)


def first_event_bytes(url: str) -> int:
    with urllib.request.urlopen(url + "/events", timeout=30) as stream:
        size = 0
        while line := stream.readline():
            size += len(line)
            if line == b"\n":
                return size
    return size


def wait_until_running(url: str, bots: int, process: subprocess.Popen, timeout_secs: float = 300) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout_secs:
        if process.poll() is not None:
            raise SystemExit(f"the daemon exited: {process.communicate()[1][-3000:]}")
        try:
            statuses = get_json(url + "/bots")
            if len(statuses) == bots and all(s["state"] == "running" for s in statuses):
                return time.monotonic() - started
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"the bots were not all running after {timeout_secs:.0f} s")


def stage(what: str, _start=time.monotonic()) -> None:
    print(f"[{time.monotonic() - _start:6.1f} s] {what}", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bots", type=int, default=1000)
    parser.add_argument("--viewers", type=int, default=10)
    parser.add_argument("--window", type=float, default=20.0, help="seconds per CPU measurement")
    args = parser.parse_args()
    chromium = chromium_path()
    if chromium is None:
        raise SystemExit("no chromium: sudo apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(dir="/tmp", prefix="br-bench-") as tmp:
        root, port = Path(tmp), free_port()
        write_configs(root / "config", args.bots, port)
        url = f"http://127.0.0.1:{port}"
        process = subprocess.Popen([sys.executable, str(PROJECT / "main.py"), "run", str(root / "config"),
                                    "--state-dir", str(root / "state")], cwd=root,
                                   env={**os.environ, "BOTRUNNER_TOKEN": TOKEN},
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            startup = wait_until_running(url, args.bots, process)
            snapshot_bytes = first_event_bytes(url)
            stage("daemon up")
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=str(chromium), headless=True,
                                                     args=list(CHROMIUM_ARGS))
                page = browser.new_context().new_page()
                page.goto(url + "/")
                page.wait_for_selector(f"body[data-bots='{args.bots}']", timeout=60_000)
                timing = page.evaluate("""() => {
                    const nav = performance.getEntriesByType('navigation')[0];
                    const files = performance.getEntriesByType('resource').filter(r => !r.name.endsWith('/events'));
                    const paint = performance.getEntriesByName('first-contentful-paint')[0];
                    return {page_bytes: nav.transferSize + files.reduce((n, r) => n + r.transferSize, 0),
                            body_bytes: nav.decodedBodySize + files.reduce((n, r) => n + r.decodedBodySize, 0),
                            files: files.length + 1,
                            drawn_ms: performance.getEntriesByName('bots-drawn')[0].startTime,
                            fcp_ms: paint ? paint.startTime : null};
                }""")
                page.close()
                stage("first page measured")
                idle = cpu_percent(process.pid, args.window)
                stage("idle CPU measured")
                pages = []
                for _ in range(args.viewers):
                    viewer = browser.new_context().new_page()
                    viewer.goto(url + "/")
                    pages.append(viewer)
                for viewer in pages:
                    viewer.wait_for_selector(f"body[data-bots='{args.bots}']", timeout=60_000)
                    viewer.wait_for_function("document.querySelector('#connection').textContent === 'live'")
                watched = cpu_percent(process.pid, args.window)
                stage("viewers' CPU measured")
                received = _stream_rate(url, min(args.window, 10.0))
                live = sum(v.evaluate("document.querySelector('#connection').textContent") == "live" for v in pages)
                browser.close()
                stage("browser closed")
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.communicate(timeout=120)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate()

    print(f"dashboard with {args.bots} paced sim bots (1 candle/s each, 10 streams); daemon up in {startup:.1f} s")
    print(f"  page weight: {timing['page_bytes']:,} bytes transferred in {timing['files']} files "
          f"({timing['body_bytes']:,} bytes uncompressed); first snapshot event {snapshot_bytes:,} bytes")
    print(f"  time to first render: table of {args.bots} bots drawn {timing['drawn_ms']:.0f} ms after navigation"
          + (f", first contentful paint {timing['fcp_ms']:.0f} ms" if timing["fcp_ms"] is not None else ""))
    print(f"  daemon CPU, {args.window:g} s each: no dashboard open {idle:5.1f}% of a core, "
          f"{args.viewers} open {watched:5.1f}% ({live} of {args.viewers} still live)")
    print(f"  one viewer receives {received:,.0f} bytes/s of deltas")


def _stream_rate(url: str, secs: float) -> float:
    """Bytes a second on one /events stream after its snapshot."""
    with urllib.request.urlopen(url + "/events", timeout=30) as stream:
        while stream.readline() != b"\n":
            pass
        received, started = 0, time.monotonic()
        while time.monotonic() - started < secs:
            received += len(stream.readline())
        return received / (time.monotonic() - started)


if __name__ == "__main__":
    main()
