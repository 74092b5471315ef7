"""What a bad bot file is told, in the words of the YAML: the field's path as written (no
pydantic step, no union tag), what is allowed, and what it got. Then any mutation of a shipped
config is either a config or such lines, never another exception."""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.config.basket import load_bot_or_basket
from runner.config.bot import ConfigError
from tests.unit.runner.config_files import SMALL_BOT, problems_of, write

SHIPPED = sorted((Path(__file__).parents[3] / "configs" / "bots").glob("*.yaml"))


def problems(tmp_path: Path, extra: str) -> list[str]:
    path = write(tmp_path, SMALL_BOT + extra)
    return [line.removeprefix(f"{path}: ") for line in problems_of(path, load_bot_or_basket)]


@pytest.mark.parametrize("extra, expected", [
    ("enabled: maybe\n", "enabled: must be true or false, got 'maybe'"),
    ("triggers: {kind: interval, every: 1h}\n",
     "triggers: must be a list, e.g. [a, b] or one '- item' per line, got {'every': '1h', 'kind': 'interval'}"),
    ("regimes: trending_up\n", "regimes: must be a list, e.g. [a, b] or one '- item' per line, got 'trending_up'"),
    ("safe_mode: {symbols: [5]}\n", "safe_mode.symbols[0]: must be text, got 5"),
    ("1: x\n", "(top level): a key must be a field's name (text), got 1"),          # was "Keys should be strings"
    # Before: "YAML reads an unquoted 28:20 as the number 1700", a time nobody wrote.
    ("session: {time_zone: UTC, close: 1700}\n",
     'session.close: must be a time "HH:MM" in quotes, e.g. "09:30" (for 17:00 write "17:00"); got 1700'),
    ("risk: {null: 2}\n", "risk: a key must be a field's name (text), got None"),   # was "risk.None: ..."
    ("risk_group: 'Majors!'\n",
     "risk_group: a risk group's name: lower-case letters, digits, '-' and '_', up to 63 characters, got 'Majors!'"),
])
def test_a_wrong_type_is_said_in_the_words_of_the_yaml(tmp_path, extra, expected):
    assert problems(tmp_path, extra) == [expected]


def test_a_market_date_that_is_no_date_says_what_one_looks_like(tmp_path):
    path = write(tmp_path, SMALL_BOT.replace("bars: 500}", "bars: 500, start: tomorrow}"))

    assert problems_of(path, load_bot_or_basket) == [
        f"{path}: market.start: must be a date like 2024-01-01 or a time like 2024-01-01T12:00:00Z, got 'tomorrow'"]


def test_a_block_without_its_kind_lists_the_kinds_there_are(tmp_path):
    # Before: "market: needs source to say which kind it is", with no word of which.
    path = write(tmp_path, SMALL_BOT.replace("{source: synthetic, seed: 3, bars: 500}", "{path: btc.csv}")
                 + "model: {url: 'http://127.0.0.1:8780/forecast'}\ntriggers: [{every: 1h}]\n")

    assert problems_of(path, load_bot_or_basket) == [
        f"{path}: market: needs source to say which kind it is: csv, json, ticks, synthetic",
        f"{path}: triggers[0]: needs kind to say which kind it is: interval, price_move, volume_spike, volatility_spike"]


def test_a_market_path_that_is_a_list_says_it_must_be_a_file_path(tmp_path):
    path = write(tmp_path, SMALL_BOT.replace("{source: synthetic, seed: 3, bars: 500}", "{source: csv, path: [a]}"))

    assert problems_of(path, load_bot_or_basket) == [f"{path}: market.path: must be a file path, got ['a']"]


def test_a_trigger_in_a_list_is_named_by_its_index_not_its_kind(tmp_path):
    # Before: triggers[0].price_move.pct, a path nobody wrote.
    found = problems(tmp_path, "model: {url: 'http://127.0.0.1:8780/forecast'}\n"
                               "triggers: [{kind: interval, every: 1h}, {kind: price_move, pct: -1, zz: 1}]\n")

    assert found == ["triggers[1].pct: must be > 0 and <= 1, got -1",
                     "triggers[1].zz: unknown field; allowed: kind, pct"]


def test_a_basket_market_is_named_by_its_symbol_with_the_fields_it_allows(tmp_path):
    # Before: markets.BTC/USDT.csv.zz: unknown field (no list), and bars "must be > 0" alone.
    path = write(tmp_path, """\
id: pair
symbols: [BTC/USDT, ETH/USDT]
capital: 1000
strategy: {name: sma_cross, params: {fast: 5, slow: 20}}
markets:
  BTC/USDT: {source: csv, path: btc.csv, zz: 1}
  ETH/USDT: {source: synthetic, bars: -1}
""")

    assert problems_of(path, load_bot_or_basket) == [
        f"{path}: markets.BTC/USDT.zz: unknown field; allowed: end, path, source, start",
        f"{path}: markets.ETH/USDT.bars: must be > 0 and <= 1000000, got -1"]


@pytest.mark.parametrize("text, line", [("\tcapital: 5\n", 6), ("risk:\n\tstake_pct: 0.5\n", 7)])
def test_a_tab_in_the_yaml_is_named_as_one(tmp_path, text, line):
    path = write(tmp_path, SMALL_BOT + text)

    (problem,) = problems_of(path, load_bot_or_basket)
    assert problem.startswith(f"{path}: invalid YAML at line {line}, column 1: ")
    assert problem.endswith("(a tab: YAML indents with spaces only)")


# -- property: a shipped config, broken at random -------------------------------------------------

_BAD_VALUES = st.sampled_from([
    None, "", "abc", -1, 0, -0.5, math.nan, math.inf, -math.inf, 1e308, 10**30, [], {}, [1, "x"], {"x": 1},
    True, False, "1e5", "ÿ€", "BTC/USDT", "1m", "7d", 1e-7, 2**63, "2022-13-45", "2022-01-01", 1.5, 100000,
    "a" * 300])


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix] if prefix else []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    for key, child in items:
        found += _paths(child, (*prefix, key))
    return found


@st.composite
def broken_configs(draw) -> dict[str, Any]:
    config = yaml.safe_load(draw(st.sampled_from(SHIPPED)).read_text())
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from(_paths(config)))
        parent = config
        for key in where[:-1]:
            parent = parent[key]
        action = draw(st.sampled_from(["set", "set", "set", "delete", "unknown"]))
        if action == "delete" and isinstance(parent, dict):
            del parent[where[-1]]
        elif action == "unknown" and isinstance(parent, dict):
            parent["typo_field"] = 1
        else:
            parent[where[-1]] = copy.deepcopy(draw(_BAD_VALUES))   # a later step may change it in place
        if not _paths(config):
            break
    return config


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(config=broken_configs())
def test_a_broken_config_loads_or_names_the_file_and_field_of_each_problem(tmp_path, config):
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    try:
        load_bot_or_basket(path)
    except ConfigError as exc:
        assert exc.problems
        for line in exc.problems:
            assert line.startswith(f"{path}: ") and len(line) > len(f"{path}: x: ")
            assert "Input should" not in line and "<class" not in line, line     # pydantic's words, untranslated


@pytest.mark.parametrize("content", [b"", b"\n# only a comment\n", b"- a\n- b\n", b"just text\n", b"\xff\xfe\x00i\x00d",
                                     b"id: \x80\x81\n", b"{{{{", b"id: a\nid: b\n"])
def test_an_empty_list_text_binary_or_broken_file_is_one_line_naming_it(tmp_path, content):
    path = tmp_path / "odd.yaml"
    path.write_bytes(content)

    (problem,) = problems_of(path, load_bot_or_basket)
    assert problem.startswith(f"{path}: ")


# -- baskets ------------------------------------------------------------------------------------

BASKET = "id: pair\ncapital: 1000\nstrategy: {name: sma_cross, params: {fast: 5, slow: 20}}\n"


@pytest.mark.parametrize("extra, expected", [
    ("symbols: []\n", "symbols: must hold at least 1 item, got []"),                 # was pydantic's words
    ("symbols: [BTC/USDT, BTC/USDT]\n", "symbols: each symbol once; repeated: BTC/USDT"),   # was "(top level): ..."
    ("symbol_provider: {source: top_volume}\n", "symbol_provider.quote: required field is missing"),  # was .top_volume.
])
def test_a_basket_problem_names_the_field_as_written(tmp_path, extra, expected):
    path = write(tmp_path, BASKET + extra)

    assert f"{path}: {expected}" in problems_of(path, load_bot_or_basket)


@pytest.mark.parametrize("content, expected", [
    (b"\x7fELF\x02\x01\x01\x00\xd0\xff", "not UTF-8 text; expected one symbol a line (BTC/USDT) or a YAML list"),
    (b"[BTC/USDT, [1", "invalid YAML list at line 1, column 14: expected ',' or ']', but got '<stream end>'"),
])
def test_a_symbol_file_that_is_binary_or_broken_yaml_is_one_line(tmp_path, content, expected):
    # Before: a binary file raised UnicodeDecodeError (a traceback in validate), and broken YAML
    # printed yaml's several lines with a caret.
    (tmp_path / "symbols.txt").write_bytes(content)
    path = write(tmp_path, BASKET + f"symbol_provider: {{source: file, path: {tmp_path / 'symbols.txt'}}}\n")

    assert problems_of(path, load_bot_or_basket) == [f"{path}: symbol_provider.path: {tmp_path / 'symbols.txt'}: {expected}"]


def test_a_file_of_anything_but_symbols_is_named_in_a_few_lines_not_one_per_line(tmp_path):
    (tmp_path / "symbols.txt").write_text("".join(f"user{i}:x:{i}:{i}::/home:/bin/sh\n" for i in range(40)))
    path = write(tmp_path, BASKET + f"symbol_provider: {{source: file, path: {tmp_path / 'symbols.txt'}}}\n")

    found = problems_of(path, load_bot_or_basket)
    assert len(found) == 6 and found[-1].endswith("symbols.txt: and 35 more lines that are not symbols")


def test_a_backtest_of_a_basket_whose_symbol_file_is_empty_says_so(tmp_path):
    # Before: "the top-volume provider asks a live exchange", of a file provider.
    from typer.testing import CliRunner

    from main import app

    (tmp_path / "symbols.txt").write_text("# none yet\n")
    path = write(tmp_path, BASKET + f"symbol_provider: {{source: file, path: {tmp_path / 'symbols.txt'}}}\n")

    result = CliRunner().invoke(app, ["backtest", str(path)])

    assert result.exit_code == 2
    assert result.stderr.strip() == (f"{path}: symbol_provider: a backtest needs symbols to replay; "
                                     f"{tmp_path / 'symbols.txt'} lists none")


def test_a_config_that_is_a_folder_or_not_utf8_says_which(tmp_path):
    # Before: "cannot read: [Errno 21] Is a directory: '...'" and the codec's own sentence.
    (tmp_path / "folder.yaml").mkdir()
    (tmp_path / "latin1.yaml").write_bytes(b"id: caf\xe9\n")

    assert problems_of(tmp_path / "folder.yaml", load_bot_or_basket) == [
        f"{tmp_path / 'folder.yaml'}: is a folder; expected a YAML file"]
    assert problems_of(tmp_path / "latin1.yaml", load_bot_or_basket) == [
        f"{tmp_path / 'latin1.yaml'}: not UTF-8 text (byte 7); save it as UTF-8"]
