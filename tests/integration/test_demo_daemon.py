"""`botrunner run` with no folder: demo bots that keep running until stopped, so a new user can
try `status`, `kill` and `resume` on them, and a restart goes on from where they were."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from tests.daemon_process import botrunner

PROJECT = Path(__file__).resolve().parents[2]


def wait_for(condition, what: str, timeout_secs: float = 30.0, poll_secs: float = 0.1) -> None:
    deadline = time.monotonic() + timeout_secs
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(poll_secs)


def test_the_demo_daemon_runs_until_stopped_and_its_bots_can_be_killed_and_resumed(tmp_path):
    daemon = subprocess.Popen([sys.executable, str(PROJECT / "main.py"), "run"], cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # The socket file first (a look at the folder), then `status`: each `status` is a new
        # Python process, and polling with it while the daemon started took CPU from the start.
        wait_for(lambda: (tmp_path / "state" / "botrunner.sock").exists() or daemon.poll() is not None,
                 "the control socket", poll_secs=0.02)
        wait_for(lambda: botrunner("status", cwd=tmp_path).returncode == 0, "the control socket")
        wait_for(lambda: "demo-hybrid" in botrunner("status", cwd=tmp_path).stdout, "the demo bots")
        assert daemon.poll() is None                                   # still running: it is paced
        killed = botrunner("kill", "demo-hybrid", "--reason", "trying it", cwd=tmp_path)
        assert killed.returncode == 0 and "killed" in killed.stdout
        resumed = botrunner("resume", "demo-hybrid", cwd=tmp_path)
        assert resumed.returncode == 0, resumed.stderr
        status = botrunner("status", cwd=tmp_path).stdout
        assert all(f"demo-{name}" in status for name in ("sma-cross", "rsi-reversion", "hybrid"))
    finally:
        daemon.send_signal(signal.SIGTERM)
        out, err = daemon.communicate(timeout=30)
    assert daemon.returncode == 0, err[-2000:]
    assert out.count("stopped") == 3                                   # the summary: stopped, not finished
