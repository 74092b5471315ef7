"""Every state one bot's status shows from the start of a BotManager's run, read as an operator's
script reads it (over the real control socket, as fast as it answers) and in the test's process
at every turn of the event loop: the socket's answers are some turns apart, and a state shown
for one turn (a bot shown running while its last snapshot waits its turn) falls between them.

    run = ManagerRun([config], services)
    async with states_shown(run.manager, config.id, sock_dir / "botrunner.sock") as shown:
        async with run:
            await shown.until("stopped")
            ...
            seen = shown.halt()

The watch starts before the run does, so the first answer is there; `halt()` ends it before a
test changes the bot itself (a `start` by hand).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import NamedTuple

from runner.control.client import ControlClient
from runner.control.server import serve_control
from runner.control.status import BotStatus
from runner.daemon.manager import BotManager
from tests.fakes import eventually


class Shown(NamedTuple):
    """The bot's status at the loop turn its state changed, and its governance pause then."""

    status: BotStatus
    paused: str | None


class StatesShown:
    """The states `bot_id`'s status showed: `over_socket`, each answer in order; `in_process`,
    each change seen at a loop turn (`Shown`)."""

    def __init__(self, manager: BotManager, bot_id: str, client: ControlClient) -> None:
        self.over_socket: list[str] = []
        self.in_process: list[Shown] = []
        self._manager, self._bot_id, self._client = manager, bot_id, client
        self._watches = [asyncio.create_task(self._every_turn(), name="test:states-every-turn"),
                         asyncio.create_task(self._over_socket(), name="test:states-over-socket")]

    async def until(self, state: str, *, over_socket: bool = True) -> None:
        """Wait until the control socket has answered `state`; or, with `over_socket=False`,
        return at the first loop turn the bot is shown in it (20 s at most)."""
        if over_socket:
            await eventually(lambda: state in self.over_socket, 20.0, poll_secs=0.01)
        else:
            await eventually(lambda: self._manager.status(self._bot_id).state == state, 20.0)

    def halt(self) -> list[str]:
        """End the watch; the states seen in process, in order, each change once."""
        for watch in self._watches:
            watch.cancel()
        return [shown.status.state for shown in self.in_process]

    def first(self, state: str) -> Shown:
        """The status at the first loop turn it showed `state`."""
        return next(shown for shown in self.in_process if shown.status.state == state)

    async def aclose(self) -> None:
        self.halt()
        await asyncio.gather(*self._watches, return_exceptions=True)

    async def _every_turn(self) -> None:
        manager, bot_id = self._manager, self._bot_id
        while True:
            status = manager.status(bot_id)
            if not self.in_process or self.in_process[-1].status.state != status.state:
                governance = manager.governance(bot_id)[0].figures if status.governance is not None else None
                self.in_process.append(Shown(status, governance["paused"] if governance is not None else None))
            await asyncio.sleep(0)

    async def _over_socket(self) -> None:
        while True:
            self.over_socket.append((await self._client.bot(self._bot_id)).state)


@asynccontextmanager
async def states_shown(manager: BotManager, bot_id: str, socket_path: Path) -> AsyncIterator[StatesShown]:
    """`manager`'s control API served on `socket_path`, and `bot_id`'s states watched through it
    (and in process) until the block ends or `halt()`; see the module's docstring."""
    async with await serve_control(manager, socket_path=socket_path):
        async with ControlClient(socket_path) as client:
            shown = StatesShown(manager, bot_id, client)
            try:
                yield shown
            finally:
                await shown.aclose()
