"""Paths that are no config or candle file: a device, a named pipe, a file of 50 MB. Each is one
line naming the path and what it is, read no further, and nothing waits on it.

Before: a named pipe hung validate, backtest and a daemon's bot (reading blocks until a writer
comes); /dev/zero or a symbolic link to it was read until memory ran out (a MemoryError
traceback); /dev/null was "the file is empty". These tests use /dev/null, never /dev/zero: should
the check ever go, a test must fail, not take the machine's memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from market.config import CsvSource, TicksSource
from market.errors import MarketDataError
from market.factory import load_market
from runner.config.basket import load_bot_or_basket, read_symbol_file
from runner.config.bot import ConfigError, load_bot_config
from runner.config.daemon import load_config_dir
from tests.named_pipes import named_pipe
from tests.unit.runner.config_files import SMALL_BOT, problems_of, write


@pytest.fixture
def fifo(tmp_path) -> Iterator[Path]:
    with named_pipe(tmp_path / "pipe.yaml") as path:
        yield path


def test_a_bot_file_that_is_a_named_pipe_is_refused_without_reading_it(fifo):
    assert problems_of(fifo) == [f"{fifo}: is a named pipe (FIFO), not a file; expected a YAML file"]


def test_a_bot_file_that_is_a_device_is_refused_without_reading_it(tmp_path):
    link = tmp_path / "bot.yaml"
    link.symlink_to("/dev/null")            # as a link to /dev/zero is, which was read until memory ran out

    assert problems_of(link, load_bot_or_basket) == [f"{link}: is a character device, not a file; expected a YAML file"]


def test_a_bot_file_in_a_daemon_folder_that_is_a_named_pipe_is_named(tmp_path, fifo):
    (tmp_path / "cfg" / "bots").mkdir(parents=True)
    (tmp_path / "cfg" / "bots" / "good.yaml").write_text(SMALL_BOT)
    (tmp_path / "cfg" / "bots" / "pipe.yaml").symlink_to(fifo)

    assert problems_of(tmp_path / "cfg", load_config_dir) == [
        f"{tmp_path / 'cfg' / 'bots' / 'pipe.yaml'}: is a named pipe (FIFO), not a file; expected a YAML file"]


def test_a_config_file_of_megabytes_is_refused_before_it_is_parsed(tmp_path):
    path = write(tmp_path, "id: " + "a" * 50_000_000 + "\n")

    assert problems_of(path) == [f"{path}: is 50.0 MB; a config file is at most 1 MB (a bot's is under 2 KB): "
                                 "is this the file you meant?"]


def test_a_control_character_in_a_config_is_one_line_with_its_place(tmp_path):
    # Before: yaml's reader error, two lines ('... in "<unicode string>", position 6').
    path = write(tmp_path, "id: b1\nsymbol: BTC\x00USD\n")

    assert problems_of(path, load_bot_config) == [
        f"{path}: invalid YAML at line 2, column 12: control character #x0000 is not allowed"]


def test_a_symbol_file_that_is_a_named_pipe_is_refused_without_reading_it(fifo):
    with pytest.raises(ConfigError) as refused:
        read_symbol_file(fifo)
    assert refused.value.problems == [f"{fifo}: is a named pipe (FIFO), not a file; "
                                      "expected one symbol a line (BTC/USDT) or a YAML list"]


@pytest.mark.parametrize("make_market", [
    lambda path: CsvSource(source="csv", path=path),
    lambda path: TicksSource(source="ticks", path=path),
])
def test_a_candle_file_that_is_a_named_pipe_or_device_is_refused_without_reading_it(tmp_path, fifo, make_market):
    csv_pipe = tmp_path / "pipe.csv"
    csv_pipe.symlink_to(fifo)
    device = tmp_path / "device.csv"
    device.symlink_to("/dev/null")

    for path, kind in ((csv_pipe, "a named pipe (FIFO)"), (device, "a character device")):
        with pytest.raises(MarketDataError) as refused:
            load_market(make_market(path), symbol="BTC/USDT", timeframe="1m")
        assert str(refused.value) == f"{path}: is {kind}, not a file; expected a candle file"


def test_a_symbol_file_of_megabytes_is_refused_unread(tmp_path):
    # Before: a 50 MB line was read and quoted whole in its problem: one line of 50 MB.
    path = tmp_path / "symbols.txt"
    path.write_text("A" * 2_000_000 + "/USDT\n")
    with pytest.raises(ConfigError) as refused:
        read_symbol_file(path)
    assert refused.value.problems == [f"{path}: is 2.0 MB; a symbol file is at most 1 MB (a thousand symbols are "
                                      "some 20 KB): is this the file you meant?"]


def test_a_long_line_that_is_no_symbol_is_shown_cut(tmp_path):
    path = tmp_path / "symbols.txt"
    path.write_text("BTC/USDT\n" + "A" * 5_000 + "/USDT\n")
    with pytest.raises(ConfigError) as refused:
        read_symbol_file(path)
    [problem] = refused.value.problems
    assert problem.startswith(f"{path}: line 2: 'AAAA") and len(problem) < len(str(path)) + 200
