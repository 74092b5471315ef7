"""A bot whose kill switch is latched comes back killed after a restart, and is shown killed with
its reason from its first status answer on, over the control socket and at every loop turn:
never running while it warms up and looks at its position, nor while its last snapshot waits
its turn. A live bot under the BotManager, on the Binance stand-in through real ccxt.

Helpers, the stand-in's tape and its clock are test_exchange_bots.py's.
"""

from __future__ import annotations

from execution.order_ids import order_id_prefix
from execution.standin import FastForwardClock
from tests.integration.manager_runs import ManagerRun
from tests.integration.states_shown import states_shown
from tests.integration.test_exchange_bots import bot, services_for, standin, until

__all__ = ["standin"]        # the stand-in fixture, imported for pytest


async def test_a_bot_restored_killed_is_shown_killed_from_its_first_answer_and_sells_nothing_more(
        tmp_path, sock_dir, standin):
    config = bot("live-kr", "live", standin.base_url, on_restart="resume", strategy={"name": "test_buys_once_and_holds"})
    async with ManagerRun([config], services_for(tmp_path, FastForwardClock(standin))) as run:
        await until(lambda: run.manager.status(config.id).position > 0)
        killed = await run.manager.kill(config.id, "by hand: looks wrong")
        assert killed.state == "killed" and killed.position < 0.00001      # flat (dust under one lot step)

    restarted = ManagerRun([config], services_for(tmp_path, FastForwardClock(standin)))
    async with states_shown(restarted.manager, config.id, sock_dir / "botrunner.sock") as shown:
        async with restarted:
            await shown.until("killed")
            assert shown.halt() == ["created", "starting", "killed"] and "running" not in shown.over_socket
            assert {reason for state, reason, _ in shown.in_process if state == "killed"} == {"by hand: looks wrong"}

    prefix = order_id_prefix(config.id)
    assert [o.side for o in standin.orders if o.client_order_id.startswith(prefix)] == ["BUY", "SELL"]   # not sold again
    assert restarted.manager.status(config.id).state == "killed"
