"""The garbage collector while a daemon starts: paused, then what start-up built frozen.

Start-up allocates for every bot (its config, strategy, risk rules, portfolio, warm-up candles)
and drops next to nothing in cycles: a full collection once 3,000 bots had started found 48
unreachable objects. With the collector on, each time the heap grows by a quarter it walks all
of it again, so start-up cost more than linear in bots: 3,000 bots took 4.3 s to start with it
and 0.9 s without (a loaded 2-core machine). Once the bots run, a full collection over that heap
is a pause on whatever candle close it meets (57 ms at a hundred live bots; 0.5 to 2 s at
3,000 to 10,000 sim bots).

So the daemon pauses the collector while it reads its configs and while its bots start
(`collector_paused`), then moves what start-up built out of the collector's reach
(`freeze_startup_heap`, `gc.freeze`). Objects allocated later are collected as before, but less
often: every bot waiting for its next candle holds half a dozen young objects (its wait, its
future, the `async for` step), so at ten thousand bots a young collection after every 700
allocations walked 70,000 live objects each time and promoted them into full collections: 6 s of
collector in a 60 s paced run, pauses up to 230 ms, a cost per bot-candle growing with the
number of bots. The young generation's threshold is raised in proportion to the frozen heap
(`YOUNG_PER_FROZEN`): a candle's burst of allocations across all bots, freed by the next one,
no longer triggers a collection; only lasting growth does. Process wide, so the daemon does it,
not the manager.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from loguru import logger

__all__ = ["STARTUP_PAUSE_MAX_SECS", "YOUNG_PER_FROZEN", "collector_paused", "freeze_startup_heap"]

# A bot still starting after this long (an exchange slow to answer) does not keep the collector
# off for the others: what has started so far is frozen, and collection resumes.
STARTUP_PAUSE_MAX_SECS = 60.0

# A young collection once allocations outgrow frees by this fraction of the frozen heap: 80,000
# at ten thousand bots (660,000 objects frozen), the default 700 for a small daemon.
YOUNG_PER_FROZEN = 1 / 8

_pauses = 0                     # collector_paused blocks open; the collector is off while > 0
_enabled_before = True


class _StartingBots(Protocol):
    async def wait_started(self) -> None: ...


@contextmanager
def collector_paused() -> Iterator[None]:
    """No automatic collection inside the block (explicit `gc.collect()` still works). Blocks
    may overlap (two daemons' start-ups in one test process): the collector comes back on when
    the last one ends, and only if it was on before the first."""
    global _pauses, _enabled_before
    if _pauses == 0:
        _enabled_before = gc.isenabled()
        gc.disable()
    _pauses += 1
    try:
        yield
    finally:
        _pauses -= 1
        if _pauses == 0 and _enabled_before:
            gc.enable()


async def freeze_startup_heap(manager: _StartingBots, *, max_wait_secs: float = STARTUP_PAUSE_MAX_SECS) -> None:
    """Pause the collector until every bot of `manager` has started (at most `max_wait_secs`),
    then freeze the heap start-up built (`gc.freeze`). Start it as a task before the manager
    runs, so that the pause covers the bots' start. No full collection before the freeze: it
    would find next to nothing (see the module docstring) and cost a pause as long as the one
    the freeze avoids."""
    with collector_paused():
        try:
            async with asyncio.timeout(max_wait_secs):
                await manager.wait_started()
        except TimeoutError:
            logger.info("Some bots still starting after {:g}s; freezing what has started", max_wait_secs)
        gc.freeze()
        # Counted once: get_freeze_count walks every frozen object (80 ms of CPU, up to half a
        # second on a loaded machine, at ten thousand bots), on the loop, as the first candles
        # after start-up come; the debug line below counted them a second time.
        frozen = gc.get_freeze_count()
        young, *older = gc.get_threshold()
        gc.set_threshold(max(young, int(frozen * YOUNG_PER_FROZEN)), *older)
    logger.debug("Start-up heap frozen: {} objects the collector no longer scans; young collections every {} "
                 "allocations", frozen, gc.get_threshold()[0])
