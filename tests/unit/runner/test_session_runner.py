"""A bot with a trading session, on crafted candles around New York's 2026 spring-forward weekend:
entries only in the session's hours (the refused ones journalled with the rule `session`), exits
at any hour, `flatten_at_close` filling before the close in sim, a session crossing midnight,
and the session's state in the daemon's status."""

from datetime import datetime
from zoneinfo import ZoneInfo

from market.models import Candle, timeframe_ms
from runner.assembly.compose import sim_runner
from runner.bot.session_flow import SESSION_CLOSE
from runner.config.bot import BotConfig
from runner.daemon.slots import BotSlot
from runner.state.journal import BotJournal, MemoryJournal, SqliteJournal
from strategies.base import Strategy
from strategies.signal import GO_FLAT, GO_LONG

NY = ZoneInfo("America/New_York")
EQUITIES = {"time_zone": "America/New_York", "open": "09:30", "close": "16:00", "days": ["mon", "tue", "wed", "thu", "fri"]}


def ny(*parts) -> int:
    """A New York wall-clock time as UTC milliseconds."""
    return int(datetime(*parts, tzinfo=NY).timestamp() * 1000)


def candles(first_ms: int, last_ms: int, timeframe: str = "5m") -> list[Candle]:
    """Candles opening from `first_ms` to before `last_ms`; each opens a cent above the last, so a
    fill's price names the candle it filled on."""
    bar = timeframe_ms(timeframe)
    out = []
    for i, ts in enumerate(range(first_ms, last_ms, bar)):
        price = 100.0 + i * 0.01
        out.append(Candle(ts, price, price + 0.005, price - 0.005, price + 0.005, 1.0))
    return out


class AtTimes(Strategy):
    """Gives the signal scheduled for the close time (UTC ms) of the candle it sees."""

    name = "at_times"

    def __init__(self, schedule: dict[int, object], timeframe: str = "5m") -> None:
        super().__init__(Strategy.Params())
        self.schedule, self.bar = schedule, timeframe_ms(timeframe)

    def generate_signal(self, market_data):
        return self.schedule.get(market_data.candle.ts_ms + self.bar)


def config(session: dict | None, timeframe: str = "5m", **changes) -> BotConfig:
    return BotConfig.model_validate({"id": "equities", "symbol": "BTC/USD", "capital": 10_000, "timeframe": timeframe,
                                     "strategy": {"name": "sma_cross"}, "risk": {"stake_pct": 0.5},
                                     "execution": {"fee_rate": 0.0}, "session": session, **changes})


async def run(bot: BotConfig, data: list[Candle], schedule: dict[int, object]):
    journal = MemoryJournal()
    runner = sim_runner(bot, data, strategy=AtTimes(schedule, bot.timeframe), journal=journal, warmup_bars=0)
    await runner.run()
    return runner, journal


def orders(journal, side: str) -> list[int]:
    return [e.ts_ms for e in journal.of_kind("order") if e.data["side"] == side]


async def test_entries_outside_the_session_are_refused_and_journalled_and_exits_go_at_any_hour():
    schedule = {
        ny(2026, 3, 6, 8, 0): GO_LONG,      # Friday before the open: refused
        ny(2026, 3, 6, 10, 0): GO_LONG,     # in the session: entered
        ny(2026, 3, 6, 17, 0): GO_FLAT,     # after the close: an exit goes
        ny(2026, 3, 7, 12, 0): GO_LONG,     # Saturday: refused
        ny(2026, 3, 9, 9, 25): GO_LONG,     # Monday, now EDT, before the open: refused
        ny(2026, 3, 9, 9, 30): GO_LONG,     # the candle closing at the open decides inside: entered
    }
    runner, journal = await run(config(EQUITIES), candles(ny(2026, 3, 6, 6), ny(2026, 3, 9, 11)), schedule)

    assert orders(journal, "buy") == [ny(2026, 3, 6, 10), ny(2026, 3, 9, 9, 30)]
    assert orders(journal, "sell") == [ny(2026, 3, 6, 17)]
    refused = [e for e in journal.of_kind("risk") if e.data["rule"] == "session"]
    assert [e.ts_ms for e in refused] == [ny(2026, 3, 6, 8), ny(2026, 3, 7, 12), ny(2026, 3, 9, 9, 25)]
    assert all(e.data["verdict"] == "reject" for e in refused)
    assert refused[0].data["inputs"] == {"session": "09:30-16:00 America/New_York mon,tue,wed,thu,fri",
                                         "local_time": "2026-03-06T08:00:00-05:00"}
    assert "it next opens Fri 2026-03-06 09:30 EST" in refused[0].data["reason"]
    assert "it next opens Mon 2026-03-09 09:30 EDT" in refused[1].data["reason"]
    assert refused[2].data["inputs"]["local_time"] == "2026-03-09T09:25:00-04:00"
    assert runner.risk_blocks == {"session": 3} and runner.signals == 6


async def test_without_a_session_the_same_bot_enters_at_every_hour():
    schedule = {ny(2026, 3, 6, 8, 0): GO_LONG, ny(2026, 3, 6, 9, 0): GO_FLAT, ny(2026, 3, 7, 12, 0): GO_LONG}
    runner, journal = await run(config(None), candles(ny(2026, 3, 6, 6), ny(2026, 3, 7, 13)), schedule)
    assert orders(journal, "buy") == [ny(2026, 3, 6, 8), ny(2026, 3, 7, 12)]
    assert not journal.of_kind("risk") and runner.session is None


async def test_flatten_at_close_fills_before_the_close_and_no_entry_follows_it():
    bot = config({**EQUITIES, "flatten_at_close": True})
    schedule = {
        ny(2026, 3, 9, 10, 0): GO_LONG,     # Monday: in, and out by the strategy
        ny(2026, 3, 9, 15, 0): GO_FLAT,
        ny(2026, 3, 9, 15, 55): GO_LONG,    # the flatten point: no entry any more today
        ny(2026, 3, 10, 10, 0): GO_LONG,    # Tuesday: in, and held until the session closes it
    }
    data = candles(ny(2026, 3, 9, 9), ny(2026, 3, 10, 18))
    runner, journal = await run(bot, data, schedule)

    closes = [e for e in journal.of_kind("order") if e.data["reason"] == SESSION_CLOSE]
    assert [e.ts_ms for e in closes] == [ny(2026, 3, 10, 15, 55)]      # decided a candle before the close
    fill = next(e.data for e in journal.of_kind("fill") if e.data["order_id"] == closes[0].key)
    last_candle = next(c for c in data if c.ts_ms == ny(2026, 3, 10, 15, 55))
    assert fill["fill_ts_ms"] == last_candle.ts_ms < ny(2026, 3, 10, 16)   # at the open of the session's last candle
    assert fill["price"] == last_candle.open and fill["side"] == "sell"
    assert runner.portfolio.quantity == 0.0
    refused = [e for e in journal.of_kind("risk") if e.data["rule"] == "session"]
    assert [e.ts_ms for e in refused] == [ny(2026, 3, 9, 15, 55)]
    assert refused[0].data["reason"].startswith("no entry after the session's flatten point")
    assert orders(journal, "buy") == [ny(2026, 3, 9, 10), ny(2026, 3, 10, 10)]


async def test_a_session_crossing_midnight_holds_through_midnight_and_flattens_before_its_morning_close():
    overnight = {"time_zone": "America/New_York", "open": "18:00", "close": "06:00",
                 "days": ["sun", "mon", "tue", "wed", "thu"], "flatten_at_close": True}
    bot = config(overnight, "15m", risk={"stake_pct": 0.5, "daily_max_loss_pct": 0.5})
    schedule = {
        ny(2026, 3, 8, 20, 0): GO_LONG,     # Sunday evening (EDT since 02:00): in
        ny(2026, 3, 9, 7, 0): GO_LONG,      # Monday morning, after the close: refused
        ny(2026, 3, 9, 18, 0): GO_LONG,     # Monday evening's session: in
    }
    runner, journal = await run(bot, candles(ny(2026, 3, 8, 17), ny(2026, 3, 9, 19), "15m"), schedule)

    assert orders(journal, "buy") == [ny(2026, 3, 8, 20), ny(2026, 3, 9, 18)]
    closes = [e for e in journal.of_kind("order") if e.data["reason"] == SESSION_CLOSE]
    assert [e.ts_ms for e in closes] == [ny(2026, 3, 9, 5, 45)]        # not at midnight: the session goes on
    assert [e.ts_ms for e in journal.of_kind("risk") if e.data["rule"] == "session"] == [ny(2026, 3, 9, 7)]
    # Its days run open to open: Monday 17:45 is still Sunday's trading day.
    assert runner.risk.daily_max_loss.day_of(ny(2026, 3, 9, 17, 45)) == runner.risk.daily_max_loss.day_of(
        ny(2026, 3, 8, 18)) == runner.risk.daily_max_loss.day_of(ny(2026, 3, 9, 18)) - 1


async def test_the_daemons_status_says_whether_a_sim_bots_session_was_open_at_its_last_candle(tmp_path):
    journal = SqliteJournal(tmp_path / "journal.sqlite3")
    try:
        statuses = []
        for end in (ny(2026, 3, 9, 12), ny(2026, 3, 9, 17)):
            runner, _ = await run(config(EQUITIES), candles(ny(2026, 3, 9, 9), end), {})
            slot = BotSlot(config(EQUITIES), BotJournal(journal, "equities"))
            slot.runner = runner
            statuses.append(slot.status())
        plain = BotSlot(config(None), BotJournal(journal, "equities"))
        plain.runner, _ = await run(config(None), candles(ny(2026, 3, 9, 9), ny(2026, 3, 9, 12)), {})
        statuses.append(plain.status())
    finally:
        journal.close()
    assert [s.session_open for s in statuses] == [True, False, None]


async def test_a_resting_limit_entry_is_cancelled_when_the_session_closes():
    from strategies.signal import Direction, LimitSignal

    schedule = {ny(2026, 3, 9, 15, 0): LimitSignal(Direction.LONG, "dip", price=50.0)}   # far below: never fills
    runner, journal = await run(config(EQUITIES), candles(ny(2026, 3, 9, 14), ny(2026, 3, 9, 17)), schedule)

    [order] = journal.of_kind("order")
    assert (order.ts_ms, order.data["type"], order.data["price"]) == (ny(2026, 3, 9, 15), "limit", 50.0)
    [cancel] = journal.of_kind("cancel")
    assert cancel.ts_ms == ny(2026, 3, 9, 16) and cancel.data["why"] == "no entry outside the session"
    assert cancel.data["order_id"] == order.key and not runner.execution.open_orders()
    assert not journal.of_kind("fill")


def test_the_status_table_has_a_session_column_only_when_some_bot_has_a_session():
    from runner.control.status_table import format_status_table
    from tests.fakes import make_status

    table = format_status_table([make_status("nyse", "running", session_open=False), make_status("crypto", "running")])
    header, nyse, crypto = table.splitlines()
    column = header.index("SESSION")                     # before the last candle's time, as REGIME
    assert column < header.index("LAST CANDLE")
    assert nyse[column:].split()[0] == "closed" and crypto[column:].split()[0] == "-"
    assert "SESSION" not in format_status_table([make_status("crypto", "running")])


def _events(journal) -> list[tuple]:
    """What a run did, comparable across runs: kind, time and the fields that do not name a run."""
    keep = ("side", "reason", "price", "quantity", "fill_ts_ms", "rule", "why", "type")
    return [(e.kind, e.ts_ms, tuple((k, e.data.get(k)) for k in keep if k in e.data))
            for e in journal.events if e.kind in ("order", "fill", "cancel", "risk", "kill")]


async def test_a_bot_restarted_anywhere_in_its_sessions_does_what_an_uninterrupted_one_does():
    """Restarted from its snapshot just before the flatten point (with a position to close, and
    with a limit entry resting), just after the close, and before New York's midnight with the
    daily loss day half gone: the same orders, fills, cancels and refusals, and the same day."""
    from market.replay import ReplayProvider
    from runner.assembly.compose import compose_runner
    from strategies.signal import Direction, LimitSignal

    bot = config({**EQUITIES, "flatten_at_close": True}, risk={"stake_pct": 0.5, "daily_max_loss_pct": 0.5})
    schedule = {
        ny(2026, 3, 9, 10, 0): GO_LONG, ny(2026, 3, 9, 12, 0): GO_LONG,     # in; the second is "already long"
        ny(2026, 3, 9, 17, 0): GO_LONG,                                      # refused
        ny(2026, 3, 10, 15, 0): LimitSignal(Direction.LONG, "dip", price=50.0),   # rests; cancelled at 15:55
        ny(2026, 3, 11, 10, 0): GO_LONG,
    }
    data = candles(ny(2026, 3, 9, 9), ny(2026, 3, 11, 17))
    whole, whole_journal = await run(bot, data, schedule)
    assert any(e[0] == "cancel" for e in _events(whole_journal))
    assert sum(1 for e in whole_journal.of_kind("order") if e.data["reason"] == SESSION_CLOSE) == 2

    index = {c.ts_ms: i for i, c in enumerate(data)}
    for cut_at in (ny(2026, 3, 9, 15, 50), ny(2026, 3, 9, 16, 0), ny(2026, 3, 10, 15, 50), ny(2026, 3, 10, 23, 30)):
        cut = index[cut_at]
        first_journal, second_journal = MemoryJournal(), MemoryJournal()
        first = sim_runner(bot, data[:cut], strategy=AtTimes(schedule), journal=first_journal, warmup_bars=0)
        await first.run()
        second = compose_runner(bot, ReplayProvider(bot.symbol, bot.timeframe, data, warmup=cut),
                                strategy=AtTimes(schedule), journal=second_journal, warmup_bars=0)
        second.restore(first.snapshot())
        await second.run()
        assert _events(first_journal) + _events(second_journal) == _events(whole_journal), cut_at
        assert second.snapshot()["portfolio"] == whole.snapshot()["portfolio"]
        assert second.snapshot()["risk"] == whole.snapshot()["risk"]
