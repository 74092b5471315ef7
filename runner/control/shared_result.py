"""An answer that costs much to make, made at most once per interval and shared meanwhile.

`/metrics` of ten thousand bots is 17 MB of text and a quarter of a second of the event loop's
time; two Prometheus servers (or one with a short scrape interval) must not multiply that.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

__all__ = ["SharedResult"]

T = TypeVar("T")


class SharedResult(Generic[T]):
    """The result of `make()`, made again only once it is `max_age_secs` old (counted from when
    it was made); a caller that comes while it is being made waits for that making rather than
    starting another. A making that fails is not kept: the next caller tries again.

        metrics = SharedResult(render_metrics, max_age_secs=1.0)
        text = await metrics.get()
        ...
        await metrics.aclose()          # cancels a making in flight
    """

    def __init__(self, make: Callable[[], Awaitable[T]], *, max_age_secs: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._make = make
        self.max_age_secs = max_age_secs
        self._clock = clock
        self._task: asyncio.Task[T] | None = None
        self._made_at = 0.0
        self.makings = 0

    async def get(self) -> T:
        task = self._task
        if task is None or (task.done() and (task.cancelled() or task.exception() is not None
                                             or self._clock() - self._made_at >= self.max_age_secs)):
            task = self._task = asyncio.create_task(self._made(), name="control:shared-result")
            # Retrieved even when every caller has gone, so a failure is not reported as unseen.
            task.add_done_callback(lambda t: t.cancelled() or t.exception())
        # Shielded: a caller that disconnects must not cancel the making the others wait for.
        return await asyncio.shield(task)

    async def aclose(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _made(self) -> T:
        self.makings += 1
        result = await self._make()
        self._made_at = self._clock()
        return result
