"""A bot whose kill switch is latched comes back killed after a restart, and is shown killed with
its reason from its first status answer on, over the control socket and at every loop turn:
never running while it warms up and closes the position it still holds (shown owed meanwhile),
nor while its last snapshot waits its turn. A live bot under the BotManager, on the Binance
stand-in through real ccxt.

Helpers, the stand-in's tape and its clock are test_exchange_bots.py's.
"""

from __future__ import annotations

from execution.order_ids import order_id_prefix
from execution.standin import FastForwardClock
from tests.integration.manager_runs import ManagerRun
from tests.integration.states_shown import states_shown
from tests.integration.test_exchange_bots import MIN, bot, services_for, standin, until

__all__ = ["standin"]        # the stand-in fixture, imported for pytest

REASON = "by hand: looks wrong"


async def test_a_bot_restored_killed_with_its_position_open_is_shown_killed_from_its_first_answer_and_sells_once(
        tmp_path, sock_dir, standin):
    config = bot("live-kr", "live", standin.base_url, on_restart="resume", strategy={"name": "test_buys_once_and_holds"})
    clock = FastForwardClock(standin)
    clock.hold_at(standin.now_ms + 4 * MIN)    # its first three candles, the entry's the last: none to retry the flatten on
    # stop_grace_secs: `kill` waits that long for a bot still at work on its flatten.
    async with ManagerRun([config], services_for(tmp_path, clock), stop_grace_secs=0.2) as run:
        await until(lambda: run.manager.status(config.id).position > 0)
        standin.fail_next("POST /api/v3/order", status=400, code=-2010,
                          msg="Account has insufficient balance for requested action.")
        killed = await run.manager.kill(config.id, REASON)
        assert (killed.state, killed.flatten_pending) == ("killed", True)      # stopped so: latched, still long
    clock.release()

    restarted = ManagerRun([config], services_for(tmp_path, FastForwardClock(standin)))
    async with states_shown(restarted.manager, config.id, sock_dir / "botrunner.sock") as shown:
        async with restarted:
            await shown.until("killed")
            await until(lambda: not restarted.manager.status(config.id).flatten_pending)
            assert shown.halt() == ["created", "starting", "killed"] and "running" not in shown.over_socket
    first = shown.first("killed").status
    assert (first.kill_reason, first.flatten_pending) == (REASON, True) and first.position > 0   # owed, not done

    status = restarted.manager.status(config.id)
    assert (status.state, status.kill_reason) == ("killed", REASON) and status.position < 0.00001   # dust at most
    prefix = order_id_prefix(config.id)
    assert [o.side for o in standin.orders if o.client_order_id.startswith(prefix)] == ["BUY", "SELL"]   # sold once
