"""Config files are read by a loader that refuses alias bombs and keys set twice."""

import time

import pytest

from runner.config.bot import load_bot_config
from runner.config.errors import _show
from runner.config.daemon import load_config_dir
from tests.unit.runner.config_files import SMALL_BOT, problems_of

GOOD = SMALL_BOT

# The "billion laughs": nine levels of ten aliases each expand to 10^9 strings.
BILLION_LAUGHS = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{name}: &{name} [{','.join(['*' + prev] * 9)}]\n"
    for prev, name in zip("abcdefgh", "bcdefghi")) + "capital: *i\n"


def test_nested_aliases_are_refused_quickly_without_expanding(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(BILLION_LAUGHS)
    assert len(BILLION_LAUGHS) < 1000
    started = time.perf_counter()
    problems = problems_of(path)
    assert time.perf_counter() - started < 1.0
    assert len(problems) == 1
    assert problems[0].startswith(f"{path}: invalid YAML at line")
    assert "aliases expand to more than" in problems[0]


def test_a_few_aliases_are_still_fine(tmp_path):
    path = tmp_path / "bot.yaml"
    path.write_text(GOOD + "risk: {stake_pct: &half 0.5, max_position_pct: *half}\n")
    assert load_bot_config(path).risk.max_position_pct == 0.5


def test_an_alias_that_contains_itself_is_refused(tmp_path):
    path = tmp_path / "loop.yaml"
    path.write_text(GOOD + "extra: &x [*x]\n")
    assert "refers to the value that contains it" in problems_of(path)[0]


def test_the_got_text_of_an_error_is_built_from_a_bounded_view():
    laughs = ["lol"] * 10
    for _ in range(8):                  # shared lists, as yaml builds aliases: 10^9 strings
        laughs = [laughs] * 10
    started = time.perf_counter()
    assert len(_show(laughs)) <= 60
    assert time.perf_counter() - started < 0.1


def test_a_key_set_twice_is_refused_naming_the_key_and_line(tmp_path):
    path = tmp_path / "bot.yaml"
    path.write_text(GOOD + "capital: 5000\n")
    problems = problems_of(path)
    assert problems == [f"{path}: invalid YAML at line 6, column 1: duplicate key 'capital' (each field may be set once)"]


def test_a_nested_key_set_twice_is_refused(tmp_path):
    path = tmp_path / "bot.yaml"
    path.write_text(GOOD + "risk: {stake_pct: 0.5, stake_pct: 0.9}\n")
    assert "duplicate key 'stake_pct'" in problems_of(path)[0]


def test_keys_brought_in_by_a_merge_may_be_overridden(tmp_path):
    path = tmp_path / "bot.yaml"
    path.write_text(GOOD + "risk:\n  <<: {stake_pct: 0.5, max_position_pct: 0.5}\n  stake_pct: 0.25\n")
    assert load_bot_config(path).risk.stake_pct == 0.25


def test_an_empty_daemon_file_means_every_default(tmp_path):
    (tmp_path / "daemon.yaml").write_text("")
    (tmp_path / "bots").mkdir()
    (tmp_path / "bots" / "bot.yaml").write_text(GOOD)
    daemon, bots = load_config_dir(tmp_path)
    assert daemon.snapshot_interval_secs == 5.0 and [b.id for b in bots] == ["btc-sma"]


def test_exponent_notation_without_a_point_is_a_number_and_quoted_it_stays_text(tmp_path):
    # Before: yaml 1.1 read `capital: 1e5` as the text '1e5': "capital: must be a number, got '1e5'".
    path = tmp_path / "bot.yaml"
    path.write_text(GOOD.replace("capital: 1000\n", "capital: 1e5\n") + "risk: {stop_loss_pct: 2.5e-2}\n")
    bot = load_bot_config(path)
    assert (bot.capital, bot.risk.stop_loss_pct) == (100_000.0, 0.025)
    path.write_text(GOOD.replace("capital: 1000\n", "capital: 1E16\n"))
    assert problems_of(path) == [f"{path}: capital: must be > 0 and <= 1e+15, got 1e+16"]
    path.write_text(GOOD.replace("capital: 1000\n", "capital: '1e5'\n"))
    assert problems_of(path) == [f"{path}: capital: must be a number, got '1e5'"]


@pytest.mark.parametrize("line, expected", [
    # YAML 1.1 reads these as numbers no one wrote: 1:30 is 90 (base 60), 010000 is 4096 (octal),
    # 0b11 is 3. They were taken silently; as YAML 1.2 reads them they are text, and refused.
    ("market: {source: synthetic, bars: 1:30}\n", "market.bars: must be a whole number, got '1:30'"),
    ("capital: 010000\n", "capital: must be a number, got '010000'"),
    ("market: {source: synthetic, seed: 0b11}\n", "market.seed: must be a whole number, got '0b11'"),
    ("capital: 1:30.5\n", "capital: must be a number, got '1:30.5'"),
])
def test_yaml_1_1_base_60_octal_and_binary_numbers_are_text(tmp_path, line, expected):
    text = SMALL_BOT.replace("capital: 1000\n", "") if line.startswith("capital") else SMALL_BOT
    if line.startswith("market"):
        text = text.replace("market: {source: synthetic, seed: 3, bars: 500}\n", "")
    path = tmp_path / "bot.yaml"
    path.write_text(text + line)
    assert problems_of(path) == [f"{path}: {expected}"]


def test_decimal_hex_and_underscored_numbers_are_still_numbers(tmp_path):
    path = tmp_path / "bot.yaml"
    path.write_text(SMALL_BOT.replace("seed: 3, bars: 500", "seed: 0x10, bars: 1_000").replace("capital: 1000",
                                                                                              "capital: 1_000.5"))
    config = load_bot_config(path)
    assert (config.market.seed, config.market.bars, config.capital) == (16, 1000, 1000.5)
