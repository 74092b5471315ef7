"""A bot's `session:` block: what it accepts, and bad values named by file and field with what is allowed."""

import pytest

from runner.config.bot import ConfigError, load_bot_config

BOT = """\
id: equities
symbol: BTC/USD
timeframe: {timeframe}
capital: 1000
strategy: {{name: sma_cross, params: {{fast: 5, slow: 20}}}}
session: {session}
"""


def load(tmp_path, session, timeframe="5m"):
    path = tmp_path / "bot.yaml"
    path.write_text(BOT.format(session=session, timeframe=timeframe))
    return path, load_bot_config(path)


def problems(tmp_path, session, timeframe="5m"):
    with pytest.raises(ConfigError) as info:
        load(tmp_path, session, timeframe)
    return info.value.problems


def test_a_full_session_loads_as_a_new_york_weekday_session(tmp_path):
    _, config = load(tmp_path, '{time_zone: America/New_York, open: "09:30", close: "16:00", '
                               'days: [mon, tue, wed, thu, fri], flatten_at_close: true}')
    session = config.session.session()
    assert (session.zone.key, session.open_minute, session.close_minute) == ("America/New_York", 570, 960)
    assert session.days == frozenset(range(5)) and session.flatten_at_close and not session.crosses_midnight


def test_only_the_zone_is_required_the_default_is_the_whole_day_every_day(tmp_path):
    _, config = load(tmp_path, "{time_zone: Asia/Tokyo}")
    session = config.session.session()
    assert (session.open_minute, session.close_minute, session.days) == (0, 1440, frozenset(range(7)))
    assert not session.flatten_at_close


def test_without_a_session_the_bot_has_none(tmp_path):
    path = tmp_path / "bot.yaml"
    path.write_text(BOT.format(session="null", timeframe="1m"))
    assert load_bot_config(path).session is None


def test_an_unknown_time_zone_is_named_with_close_matches(tmp_path):
    found = problems(tmp_path, '{time_zone: America/New_Yrok, open: "09:30", close: "16:00"}')
    assert len(found) == 1
    assert found[0].startswith(f"{tmp_path / 'bot.yaml'}: session.time_zone: unknown time zone 'America/New_Yrok'")
    assert "did you mean America/New_York" in found[0]


def test_an_unquoted_time_is_the_time_it_looks_like(tmp_path):
    # Before: YAML 1.1 read 16:00 as the number 960 (base 60), refused with a hint to quote it;
    # the config loader reads it as YAML 1.2 does, as text (runner.config.yaml_loader).
    _, config = load(tmp_path, "{time_zone: UTC, open: 09:30, close: 16:00}")
    session = config.session.session()
    assert (session.open_minute, session.close_minute) == (570, 960)


@pytest.mark.parametrize("value, expected", [
    ('"25:00"', 'session.close: must be a time "HH:MM" from "00:00" to "24:00", e.g. "09:30"; got \'25:00\''),
    ('"4pm"', 'session.close: must be a time "HH:MM" from "00:00" to "24:00", e.g. "09:30"; got \'4pm\''),
    ('"16:60"', 'session.close: must be a time "HH:MM" from "00:00" to "24:00", e.g. "09:30"; got \'16:60\''),
])
def test_bad_times_are_refused_saying_what_is_allowed(tmp_path, value, expected):
    found = problems(tmp_path, f'{{time_zone: UTC, open: "09:30", close: {value}}}')
    assert found == [f"{tmp_path / 'bot.yaml'}: {expected}"]


def test_open_equal_to_close_is_refused(tmp_path):
    found = problems(tmp_path, '{time_zone: UTC, open: "09:30", close: "09:30"}')
    assert found == [f"{tmp_path / 'bot.yaml'}: session: open and close are both 09:30: a session needs hours "
                     "(remove session to trade around the clock)"]


def test_unknown_day_names_are_listed_with_the_allowed_ones(tmp_path):
    found = problems(tmp_path, '{time_zone: UTC, days: [mon, tues, Fri]}')
    assert found == [f"{tmp_path / 'bot.yaml'}: session.days: unknown day name(s) 'tues', 'Fri'; "
                     "allowed: mon, tue, wed, thu, fri, sat, sun"]


def test_unknown_keys_in_the_session_are_named(tmp_path):
    found = problems(tmp_path, '{time_zone: UTC, flatten: true}')
    assert len(found) == 1 and found[0].startswith(f"{tmp_path / 'bot.yaml'}: session.flatten: unknown field")


def test_a_session_not_longer_than_a_candle_cannot_flatten_before_its_close(tmp_path):
    found = problems(tmp_path, '{time_zone: UTC, open: "09:00", close: "10:00", flatten_at_close: true}', "1h")
    assert len(found) == 1 and "session 09:00-10:00 is not longer than one candle" in found[0]
    assert "(1h)" in found[0]
    _, config = load(tmp_path, '{time_zone: UTC, open: "09:00", close: "10:00"}', "1h")   # no flatten: fine
    assert config.session.length_minutes == 60


def test_a_session_crossing_midnight_loads_and_its_length_wraps(tmp_path):
    _, config = load(tmp_path, '{time_zone: America/Chicago, open: "17:00", close: "16:00", '
                               'days: [sun, mon, tue, wed, thu]}')
    assert config.session.length_minutes == 23 * 60
    assert config.session.session().crosses_midnight


def test_without_any_time_zone_database_the_error_says_how_to_install_one(tmp_path, monkeypatch):
    import sys
    import zoneinfo

    for name in ["tzdata", *(m for m in sys.modules if m.startswith("tzdata."))]:
        monkeypatch.setitem(sys.modules, name, None)        # no tzdata package...
    zoneinfo.reset_tzpath(to=[])                            # ...and no system database
    zoneinfo.ZoneInfo.clear_cache()
    try:
        found = problems(tmp_path, "{time_zone: America/New_York}")
    finally:
        zoneinfo.reset_tzpath()
        zoneinfo.ZoneInfo.clear_cache()
    assert found == [f"{tmp_path / 'bot.yaml'}: session.time_zone: cannot look up 'America/New_York': this system "
                     "has no time zone database; install it (apt-get install tzdata, or pip install -e "
                     "\".[sessions]\" for the tzdata package)"]


def test_the_tzdata_package_answers_where_the_system_has_no_database(tmp_path, monkeypatch):
    import zoneinfo

    zoneinfo.reset_tzpath(to=[])                            # the package only (the `sessions` extra)
    zoneinfo.ZoneInfo.clear_cache()
    try:
        _, config = load(tmp_path, '{time_zone: America/New_York, open: "09:30", close: "16:00"}')
        assert config.session.session().window(1_773_149_400_000)[0] == 1_773_149_400_000   # 09:30 EDT
    finally:
        zoneinfo.reset_tzpath()
        zoneinfo.ZoneInfo.clear_cache()
