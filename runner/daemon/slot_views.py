"""What the manager's periodic watches look at, without reading every bot every second.

At ten thousand bots a pass over every slot is not the few microseconds it looks like: each
slot, its config and its runner sit in memory the last candle did not touch, and one check of
three attributes cost 2.5-3.5 us a slot, 25-35 ms a pass (measured in the daemon, after
start-up). The stale-data watch and the retired legs' watch each made such a pass every second,
on the loop, whichever candle it met; and `wait_started` one every poll while the bots start.

`SlotsWhere` keeps the few slots a watch is about (a config with `kill_on_stale_data`, a basket
leg retiring), made again only when the slots change; `wait_started` reads one slot per poll.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

from runner.config.bot import BotConfig
from runner.daemon.slots import BotSlot, BotState

__all__ = ["SlotsWhere", "wait_started"]

_STARTING = (BotState.CREATED, BotState.STARTING)


class SlotsWhere:
    """The slots of `slots` whose config `wanted` accepts, in their order. Listed again only when
    a slot was added, removed or given another config since the last call (`BotSlot.changes`)."""

    def __init__(self, slots: Mapping[str, BotSlot], wanted: Callable[[BotConfig], bool]) -> None:
        self._slots = slots
        self._wanted = wanted
        self._seen: tuple[int, int] | None = None
        self._chosen: list[BotSlot] = []

    def __call__(self) -> list[BotSlot]:
        # A removal changes the count; an addition, or a config replaced, makes a slot change.
        seen = (BotSlot.changes, len(self._slots))
        if seen != self._seen:
            self._chosen = [slot for slot in self._slots.values() if self._wanted(slot.config)]
            self._seen = seen
        return list(self._chosen)


async def wait_started(slots: Mapping[str, BotSlot], poll_secs: float) -> None:
    """Return once no slot of `slots` is created or starting (each is running, done or failed),
    polling every `poll_secs`.

    Bots start about in the order they were launched, so each poll reads only the first bot still
    starting, not every bot up to it (the scan grew with the bots started, a full pass per poll by
    the end). A last full pass confirms: a bot rebuilt meanwhile, or added, is waited for too."""
    while True:
        starting = [slot for slot in slots.values() if slot.state in _STARTING]
        if not starting:
            return
        for slot in starting:
            while slot.state in _STARTING and slots.get(slot.id) is slot:   # a slot removed is not waited for
                await asyncio.sleep(poll_secs)
