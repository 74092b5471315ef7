"""A live daemon, as a real process, on a host whose clock runs 2 s ahead of the exchange's.

Binance refuses a SIGNED request whose `timestamp` is 1 s or more ahead of its server time (-1021,
"Timestamp for this request was 1000ms ahead of the server's time."). The stand-in here follows
the wall clock with its server clock 2 s behind it, `GET /api/v3/time` included. Before, every
signed request of the daemon was refused: its live bot could not reconcile at its start, was
restarted until it failed, and never traded.
"""

from __future__ import annotations

import signal

from tests.integration.test_live_daemon_process import bot_trades, start_daemon, until, wait_exit, write_config
from tests.wall_clock_standin import wall_clock_standin

HOST_AHEAD_MS = 2_000


async def test_a_live_daemon_whose_host_clock_runs_2s_ahead_of_the_exchange_trades(tmp_path):
    log = tmp_path / "daemon.log"
    async with wall_clock_standin(600) as standin:
        standin.drift_clock(-HOST_AHEAD_MS)
        config_dir, state_dir = write_config(tmp_path, standin.base_url), tmp_path / "state"
        daemon = start_daemon(config_dir, state_dir, standin, log)
        try:
            await until(lambda: len(bot_trades(standin)) >= 2, "two fills", log)
        finally:
            daemon.send_signal(signal.SIGTERM)
        assert await wait_exit(daemon) == 0, log.read_text()[-4000:]
        submissions = dict(standin.order_submissions)

    text = log.read_text()
    assert "ERROR" not in text and "Traceback" not in text, text[-4000:]
    assert text.count("requests are signed on the exchange's clock from now on") == 1, text[-4000:]
    assert max(submissions.values()) == 1                   # no client order id sent twice
