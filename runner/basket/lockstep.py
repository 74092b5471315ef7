"""The daemon's clock for a sim basket's legs: every leg's candles of one time, stepped in one task.

In a backtest the legs step in one task, each leg's candle of a time after the others' of the
time before (`runner.basket.stepping`). In the daemon each leg is a `StrategyRunner` with its
own feed and task, and the legs replayed their candles each at its own pace: the basket's equity
(summed over the legs' marks) mixed different moments, and the basket decided on a state that
never existed (synthetic-basket.yaml tripped its 30% drawdown kill at 2024-06-19 with the SOL
leg's last candle at 2024-05-24; its backtest ends at 28.69%).

So a sim basket leg hands each batch of candles its feed gives to this clock (`hand_over`) and
waits. One task, the clock's driver, steps them through each leg's pipeline (`StrategyRunner.step`)
in the backtest's order: open time, then the leg's place in the basket's list of symbols, then its
id. A leg whose candles are used up gets its turn back to read its feed's next; meanwhile the
others' candles up to the open time of its last still go (a leg's candles open one after another,
so its next opens later), and the later ones wait for its next batch. A leg that has handed over
nothing yet holds every other. Before, each leg waited for its turn candle by candle, a task
wake-up per leg per candle: 6.2x the time of the legs each at its own pace at full speed; and on
a paced replay every leg but the first of a time waited for the first one's next candle, a whole
candle of wall time late.

What stays each leg's own, though another task steps its candles:

- its failure: a step that raises raises in the leg's task (its run fails, alone);
- stop and kill: `release` (from `request_stop`, `request_kill`) gives the leg back the candles
  not stepped yet, at once, or after the candle the driver is inside for it; the leg acts on the
  request in its own task, then hands the rest over again;
- its log lines: each step runs in the leg's task's context (loguru's `bot` tag);
- its snapshots: the leg holds its turn while its candles are handed over, so none is taken
  mid-candle; and a leg cancelled while the driver is inside its candle waits for the candle's end.

Legs whose candles open over different spans each step over their own here: a leg steps alone
before the others' first candle and after their last, on the basket's cash, as a live basket's
leg trades while its symbol has candles. The backtest runs every leg over the span all have
instead, so the two end differently. Cutting the daemon's legs to that span would not do: a leg's
snapshot holds its place in its own candles, and the span moves with the basket's symbols (a
reload, a provider), which would leave every running leg's snapshot pointing into other candles.
So the spans are noted (`note_span`), a leg whose span differs is logged, and `botrunner status`
says it (`span_note`); `botrunner validate`, which reads no candles, notes a sim basket whose
symbols replay candles of different sources.

A leg leaves the clock when its run ends (data ended, stopped, killed, failed, retired, removed):
it holds nobody then. While the basket's legs re-run their journalled candles after a restart
(`runner.basket.reruns`) the clock holds nobody (`holds_nobody`): each leg re-runs to its
journal's end at its own pace by design, and hands over once none re-runs (the legs ahead wait
at the re-run barrier for those behind). Paper and live legs are driven by the exchange's clock
and never join.
"""

from __future__ import annotations

import asyncio
import contextvars
import heapq
from heapq import heapreplace
from typing import Any, Callable, Coroutine, Iterable, Sequence

from loguru import logger

from market.models import Candle, iso_utc
from runner.basket.reruns import RerunBarrier

__all__ = ["LegLockstep", "StepFunction"]

YIELD_EVERY = 4096            # candles the driver steps between two turns of the event loop
_UNBOUNDED = 1 << 62          # a limit past every candle's open time (epoch ms)

# A leg's pipeline for a batch of candles (`StrategyRunner._steps`): True when the leg must stop.
StepFunction = Callable[[Sequence[Candle]], Coroutine[Any, Any, bool]]


class _Leg:
    """One leg on the clock, and the candles it handed over: `candles[index:]` not stepped yet."""

    __slots__ = ("bot_id", "place", "step", "candles", "index", "done", "context", "release_after", "floor_ms")

    def __init__(self, bot_id: str, place: int) -> None:
        self.bot_id = bot_id
        self.place = place
        self.step: StepFunction | None = None
        self.candles: Sequence[Candle] | None = None      # None: none handed over (it holds the others)
        self.index = 0
        self.done: asyncio.Future[tuple[bool, int]] | None = None
        self.context: contextvars.Context | None = None
        self.release_after = False      # a stop or kill asked for while the driver was inside its candle
        # Open time of a candle it stepped (its last, or one before): its next opens later, so
        # while it has nothing handed over, the others' candles up to this time may still go.
        # None: it has stepped none here yet, and holds every other leg.
        self.floor_ms: int | None = None


def _order(leg: _Leg) -> tuple[int, str]:
    return leg.place, leg.bot_id


class LegLockstep:
    """One sim basket's legs stepping in candle order; see the module docstring."""

    def __init__(self, reruns: RerunBarrier, name: str = "basket") -> None:
        self._reruns = reruns           # while legs re-run their journals, the clock holds nobody
        self._name = name
        self._legs: dict[str, _Leg] = {}
        self._changes = 0               # counts hand-overs and give-backs: the driver's order is stale
        self._driver: asyncio.Task[None] | None = None
        self._stepping: _Leg | None = None          # the leg whose candle the driver is inside
        self._candle_ended: asyncio.Future[None] | None = None   # for a leg cancelled meanwhile
        self._spans: dict[str, tuple[int, tuple[int, int]]] = {}   # symbol -> (place, (first, last) open time)

    @property
    def legs(self) -> frozenset[str]:
        """The legs on the clock."""
        return frozenset(self._legs)

    def note_span(self, symbol: str, place: int, span_ms: tuple[int, int]) -> None:
        """`symbol`'s leg (at `place` in the basket's list) replays candles opening from
        `span_ms[0]` to `span_ms[1]` (epoch ms). Logged when that is not the span of the legs
        noted before it (see the module docstring)."""
        other = next(((s, span) for s, (_, span) in self._spans.items() if s != symbol and span != span_ms), None)
        self._spans[symbol] = (place, span_ms)
        if other is not None:
            logger.warning("Basket {}: the candles of {} open from {} to {}, those of {} from {} to {}: the daemon "
                           "steps each leg over its own candles, `botrunner backtest` every leg over the span all "
                           "have, so the two end differently (`botrunner status {}` lists every leg's)", self._name,
                           symbol, *map(iso_utc, span_ms), other[0], *map(iso_utc, other[1]), self._name)

    def keep_spans(self, symbols: Iterable[str]) -> None:
        """Only the spans of `symbols`' legs (the basket's list changed)."""
        kept = set(symbols)
        self._spans = {symbol: span for symbol, span in self._spans.items() if symbol in kept}

    def span_note(self) -> str:
        """What differs from the backtest when the legs' candles open over different spans, else ''."""
        spans = {symbol: span for symbol, (_, span) in sorted(self._spans.items(), key=lambda item: item[1][0])}
        if len(set(spans.values())) < 2:
            return ""
        first_ms, last_ms = max(first for first, _ in spans.values()), min(last for _, last in spans.values())
        listed = "; ".join(f"{symbol} {iso_utc(first)} to {iso_utc(last)}" for symbol, (first, last) in spans.items())
        common = f"{iso_utc(first_ms)} to {iso_utc(last_ms)}" if first_ms <= last_ms else "none: it refuses them"
        return (f"the legs' candles open over different spans ({listed}); the daemon steps each leg over its own, "
                f"the backtest every leg over the span all have ({common}), so the two end differently")

    @property
    def holds_nobody(self) -> bool:
        """While legs re-run their journal: each steps its candles itself, at its own pace."""
        return bool(self._reruns.pending)

    def on_clock(self, bot_id: str) -> bool:
        """Whether `bot_id`'s leg steps on this clock (`hand_over` is for those only)."""
        return bot_id in self._legs

    def join(self, bot_id: str, place: int) -> None:
        """`bot_id`'s leg steps on this clock, `place` its index in the basket's symbols (the
        order on a tie). Until it hands candles over it holds the others."""
        self.leave(bot_id)                  # a leg rebuilt after a crash joins afresh
        self._legs[bot_id] = _Leg(bot_id, place)
        self._changes += 1

    def leave(self, bot_id: str) -> None:
        """`bot_id`'s leg no longer steps here (its run ended, or it never started): nobody waits
        for it. Candles it had handed over go back to it, to step itself."""
        leg = self._legs.pop(bot_id, None)
        if leg is None:
            return
        self._give_back(leg, False)
        self._changes += 1
        self._kick()

    def release(self, bot_id: str) -> None:
        """A stop or kill was asked for `bot_id`'s leg: give it back the candles it handed over
        (now, or after the candle the driver is inside for it), for it to act on the request."""
        leg = self._legs.get(bot_id)
        if leg is None or leg.candles is None:
            return
        if leg is self._stepping:
            leg.release_after = True
        else:
            self._give_back(leg, False)

    async def hand_over(self, bot_id: str, step: StepFunction, candles: Sequence[Candle], start: int) -> tuple[bool, int]:
        """Have the driver step `candles[start:]` of `bot_id`'s leg through `step`, each when its
        turn comes; in the leg's task. Returns (stop, index): `stop` when a step said the leg must
        stop, `index` the first candle not stepped. A leg given back its candles early (`release`,
        `leave`) gets (False, index < len(candles)). A step's exception is raised here."""
        if start >= len(candles):
            return False, start
        leg = self._legs[bot_id]
        leg.step, leg.candles, leg.index, leg.release_after = step, candles, start, False
        leg.context = contextvars.copy_context()
        leg.done = done = asyncio.get_running_loop().create_future()
        self._changes += 1
        self._kick()
        try:
            return await done
        except asyncio.CancelledError:
            try:
                if self._stepping is leg:   # the driver is inside its candle: half a candle is no state
                    leg.release_after = True    # and no candle after it
                    if self._candle_ended is None:
                        self._candle_ended = asyncio.get_running_loop().create_future()
                    await asyncio.shield(self._candle_ended)
            finally:
                self._give_back(leg, False)
            raise

    # -- the driver ----------------------------------------------------------------------------

    def _limit_ms(self) -> int | None:
        """The latest open time the driver may step now: the earliest of the floors of the legs
        with nothing handed over (`_UNBOUNDED` if none); None while one of them has no floor."""
        limit = _UNBOUNDED
        for leg in self._legs.values():
            if leg.candles is None:
                if leg.floor_ms is None:
                    return None
                limit = min(limit, leg.floor_ms)
        return limit

    def _kick(self) -> None:
        if self._driver is not None:
            return
        limit = self._limit_ms()
        if limit is not None and any(leg.candles is not None and leg.candles[leg.index].ts_ms <= limit
                                     for leg in self._legs.values()):
            # A context of its own: none of the legs' (each step runs in its leg's, see `_drive`).
            self._driver = asyncio.create_task(self._drive(), name=f"lockstep:{self._name}",
                                               context=contextvars.Context())

    def _give_back(self, leg: _Leg, stop: bool) -> None:
        if leg.candles is None:
            return
        if leg.index:                   # stepped, here or by the leg itself before it handed the rest over
            leg.floor_ms = leg.candles[leg.index - 1].ts_ms
        leg.candles = None
        self._changes += 1
        if not leg.done.done():
            leg.done.set_result((stop, leg.index))

    def _fail(self, leg: _Leg, exc: BaseException) -> None:
        if leg.candles is None:
            return
        leg.candles = None
        self._changes += 1
        if leg.done.done():             # cancelled while its candle ended: nobody else will tell it
            logger.opt(exception=exc).error("Basket {}: the step of {} failed after it was cancelled",
                                            self._name, leg.bot_id)
        else:
            leg.done.set_exception(exc)

    async def _drive(self) -> None:
        """Step the handed-over candles in the clock's order, each once no leg with nothing
        handed over can have an earlier one (up to `_limit_ms`); return when none is left so."""
        count = 0
        try:
            while True:
                seen = self._changes
                limit_ms = self._limit_ms()
                ranked = sorted((leg for leg in self._legs.values() if leg.candles is not None), key=_order)
                if limit_ms is None or not ranked:
                    return
                # Keys are ints, open time then rank (the basket's order, then id) in the low bits:
                # a heap of ints costs a third of one of tuples, and legs on one time tie often.
                bits = len(ranked).bit_length()
                mask = (1 << bits) - 1
                limit = limit_ms << bits | mask
                heap = [leg.candles[leg.index].ts_ms << bits | rank for rank, leg in enumerate(ranked)]
                heapq.heapify(heap)
                while self._changes == seen:
                    key = heap[0]
                    if key > limit:
                        return                      # a leg with nothing handed over may come before it
                    rank = key & mask
                    leg = ranked[rank]
                    candles, index = leg.candles, leg.index
                    index += 1
                    leg.index = index
                    self._stepping = leg
                    coro = leg.step((candles[index - 1],))
                    try:
                        try:
                            yielded = leg.context.run(coro.send, None)
                        except StopIteration as ended:
                            stop = ended.value
                        else:                       # it awaits something real (a regime fit in a thread)
                            stop = await self._step_on(coro, yielded, leg.context)
                    except Exception as exc:       # the leg's own failure, raised in its task
                        self._stepping = None
                        self._fail(leg, exc)
                        continue
                    self._stepping = None
                    if stop or leg.release_after or leg.candles is None or index == len(candles):
                        self._give_back(leg, stop)     # used up (it reads its feed's next), stopping or released
                    else:
                        heapreplace(heap, candles[index].ts_ms << bits | rank)
                    count += 1
                    if not count % YIELD_EVERY:
                        await asyncio.sleep(0)      # the control API, the other bots
        except BaseException as exc:
            # The driver cancelled (the loop closing) or a bug here: no leg may wait for it. A
            # cancelled leg's half candle is not its state: cancelled too, the rest go back.
            stepping, self._stepping = self._stepping, None
            if stepping is not None and stepping.candles is not None:
                stepping.done.cancel()
                self._give_back(stepping, False)
            for leg in list(self._legs.values()):
                if isinstance(exc, asyncio.CancelledError):
                    self._give_back(leg, False)
                else:
                    self._fail(leg, exc)
            raise
        finally:
            self._driver = None

    async def _step_on(self, coro: Coroutine[Any, Any, bool], yielded: Any, context: contextvars.Context) -> bool:
        """Carry a step that awaits something on to its end, as a task would: what it awaits is
        waited for here, and a cancellation of the driver goes into the step (`asyncio.timeout`
        in it reads the current task: the driver's)."""
        try:
            while True:
                resume: Callable[..., Any] = coro.send
                value: Any = None
                try:
                    if yielded is None:             # a bare yield (asyncio.sleep(0)): a turn of the loop
                        await asyncio.sleep(0)
                    else:                           # an asyncio Future: wait for it, then go on
                        yielded._asyncio_future_blocking = False
                        await asyncio.wait((yielded,))
                except asyncio.CancelledError as exc:
                    if yielded is not None:
                        yielded.cancel()
                    resume, value = coro.throw, exc
                try:
                    yielded = context.run(resume, value)
                except StopIteration as ended:
                    return ended.value
        finally:
            ended, self._candle_ended = self._candle_ended, None
            if ended is not None and not ended.done():
                ended.set_result(None)

