"""A bot file whose name holds a line break keeps each of its config errors on one line: the
path is quoted as Python writes it (`'bots/btc\\nema.yaml'`); other names print as they are."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from runner.config.basket import load_bot_or_basket
from runner.config.bot import ConfigError
from runner.config.daemon import load_config_dir
from runner.config.validate import validate_paths

EXAMPLE_BOT = Path(__file__).resolve().parents[3] / "configs" / "bots" / "synthetic-ema-cross.yaml"


def test_validate_quotes_a_bot_file_name_with_a_line_break(tmp_path):
    (tmp_path / "btc\nema.yaml").write_text("stake: [\n")
    (tmp_path / "fine.yaml").write_text("stake: [\n")
    _, problems = validate_paths([tmp_path])
    assert len(problems) == 2 and all("\n" not in p for p in problems)
    assert problems[0].startswith(repr(str(tmp_path / "btc\nema.yaml")) + ": invalid YAML at line 2")
    assert problems[1].startswith(f"{tmp_path / 'fine.yaml'}: invalid YAML")       # not quoted


def test_a_daemon_folders_bot_error_stays_on_one_line(tmp_path):
    (tmp_path / "bots").mkdir()
    (tmp_path / "bots" / "eth\nrsi.yaml").write_text("id: eth-rsi\nnot_a_field: 1\n")
    with pytest.raises(ConfigError) as refused:
        load_config_dir(tmp_path)
    assert refused.value.problems and all("\n" not in p for p in refused.value.problems)
    assert refused.value.problems[0].startswith(repr(str(tmp_path / "bots" / "eth\nrsi.yaml")) + ": ")


def test_a_valid_bot_file_with_a_line_break_in_its_name_still_loads(tmp_path):
    bot_file = tmp_path / "ema\ncross.yaml"
    shutil.copy(EXAMPLE_BOT, bot_file)
    assert load_bot_or_basket(bot_file).id == load_bot_or_basket(EXAMPLE_BOT).id
