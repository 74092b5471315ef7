"""A config's yes/no fields take true or false only, and every number field is strict.

pydantic's lax bool reads `enabled: 1`, `0`, 'yes' (quoted), 'on' and 'f' as booleans, and its lax
float reads 'true' and '3'; in a YAML file these are slips (a 1 meant for another field, a quoted
word), so the loader refuses them and names the file, the field and what it takes.
"""

from __future__ import annotations

import types
import typing

import pytest
from pydantic import BaseModel, Strict
from pydantic.fields import FieldInfo

from runner.config.basket import BasketFields, FileSymbols, TopVolumeSymbols
from runner.config.bot import BotConfig
from runner.config.daemon import DaemonConfig, load_config_dir
from strategies.registry import builtin_names, strategy_class
from tests.unit.runner.config_files import SMALL_BOT, problems_of, write


@pytest.mark.parametrize("extra, expected", [
    ("enabled: 1\n", "enabled: must be true or false, got 1"),
    ("enabled: 0\n", "enabled: must be true or false, got 0"),
    ("enabled: 'yes'\n", "enabled: must be true or false, got 'yes'"),
    ("enabled: 'false'\n", "enabled: must be true or false, got 'false'"),
    ("risk: {kill_on_stale_data: 1}\n", "risk.kill_on_stale_data: must be true or false, got 1"),
    ("execution: {stop_on_exchange: 'on'}\n", "execution.stop_on_exchange: must be true or false, got 'on'"),
    ("exchange: {id: binance, websocket: 0}\n", "exchange.websocket: must be true or false, got 0"),
])
def test_a_bot_yes_no_field_takes_only_true_or_false(tmp_path, extra, expected):
    path = write(tmp_path, SMALL_BOT + extra)
    assert problems_of(path) == [f"{path}: {expected}"]


def test_yaml_yes_and_no_are_booleans_and_taken(tmp_path):
    # PyYAML (YAML 1.1) reads unquoted yes/no/on/off as booleans: they are true and false as written.
    path = write(tmp_path, SMALL_BOT + "enabled: no\nrisk: {kill_on_stale_data: yes}\n")
    from runner.config.bot import load_bot_config
    config = load_bot_config(path)
    assert (config.enabled, config.risk.kill_on_stale_data) == (False, True)


def test_the_daemon_log_json_flag_takes_only_true_or_false(tmp_path):
    (tmp_path / "daemon.yaml").write_text("log: {json: 1}\n")
    (tmp_path / "bots").mkdir()
    (tmp_path / "bots" / "bot.yaml").write_text(SMALL_BOT)
    assert problems_of(tmp_path, load_config_dir) == [f"{tmp_path / 'daemon.yaml'}: log.json: must be true or false, got 1"]


@pytest.mark.parametrize("params, expected", [
    ("{ema_weight: true}", "strategy.params.ema_weight: must be a number, got True"),
    ("{bb_dev: '2'}", "strategy.params.bb_dev: must be a number, got '2'"),
    ("{score_threshold: '1.5'}", "strategy.params.score_threshold: must be a number, got '1.5'"),
    ("{rsi_oversold: true}", "strategy.params.rsi_oversold: must be a number, got True"),
])
def test_hybrid_strategy_numbers_are_numbers(tmp_path, params, expected):
    bot = SMALL_BOT.replace("strategy: {name: sma_cross, params: {fast: 5, slow: 20}}",
                            f"strategy: {{name: hybrid, params: {params}}}")
    path = write(tmp_path, bot)
    assert problems_of(path) == [f"{path}: {expected}"]


def _scalar_leaves(annotation: typing.Any, metadata: list[typing.Any]) -> typing.Iterator[tuple[type, list[typing.Any]]]:
    """The bool/int/float types inside an annotation, each with the metadata around it."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            yield from _scalar_leaves(arg, metadata)
    elif origin is typing.Annotated:
        inner, *extras = typing.get_args(annotation)
        more = [m for extra in extras for m in ([extra, *extra.metadata] if isinstance(extra, FieldInfo) else [extra])]
        yield from _scalar_leaves(inner, metadata + more)
    elif origin in (list, tuple, set, frozenset, dict):
        for arg in typing.get_args(annotation):
            yield from _scalar_leaves(arg, [])
    elif annotation in (bool, int, float):
        yield annotation, metadata


def _models_under(model: type[BaseModel], seen: set[type[BaseModel]]) -> None:
    if model in seen:
        return
    seen.add(model)
    for field in model.model_fields.values():
        stack = [field.annotation]
        while stack:
            annotation = stack.pop()
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                _models_under(annotation, seen)
            stack.extend(typing.get_args(annotation))


def test_every_config_scalar_is_strict():
    """A guard: a new bool, int or float field must be written Flag, WholeNumber or Number (or
    carry Strict()), or YAML's 1, 'yes' and '10' slip through it."""
    models: set[type[BaseModel]] = set()
    roots = [BotConfig, DaemonConfig, BasketFields, FileSymbols, TopVolumeSymbols,
             *(cls.Params for cls in map(strategy_class, builtin_names())
               if cls.__module__.startswith("strategies."))]      # not the ones tests register
    for root in roots:
        _models_under(root, models)
    lax = sorted(f"{model.__module__}.{model.__name__}.{name}"
                 for model in models for name, field in model.model_fields.items()
                 for _, metadata in _scalar_leaves(field.annotation, list(field.metadata))
                 if not any(isinstance(m, Strict) and m.strict for m in metadata)
                 and not model.model_config.get("strict"))
    assert lax == []


PAPER_BOT = SMALL_BOT.replace("market: {source: synthetic, seed: 3, bars: 500}\n", "mode: paper\n")


@pytest.mark.parametrize("extra, expected", [
    # Before: validate said ok, and the bot crashed at its first request ('Port out of range 0-65535'),
    # restarted max_restarts times.
    ("exchange: {id: binance, base_url: 'http://127.0.0.1:99999'}\n",
     "exchange.base_url: the port must be a number from 1 to 65535, got 99999"),
    ("exchange: {id: binance, base_url: 'http://127.0.0.1:0'}\n",
     "exchange.base_url: the port must be a number from 1 to 65535, got 0"),
    ("exchange: {id: binance, base_url: 'https://:443/api'}\n",
     "exchange.base_url: the URL names no host, e.g. https://127.0.0.1:8080"),
    ("exchange: {id: binance, ws_url: 'wss://stream.example.com:70000'}\n",
     "exchange.ws_url: the port must be a number from 1 to 65535, got 70000"),
    ("exchange: {id: binance, ws_url: 'ws://127.0.0.1:port'}\n",
     "exchange.ws_url: the port must be a number from 1 to 65535, got 'port'"),
])
def test_an_exchange_url_names_a_host_and_a_port_that_can_be_reached(tmp_path, extra, expected):
    path = write(tmp_path, PAPER_BOT + extra)
    assert problems_of(path) == [f"{path}: {expected}"]


@pytest.mark.parametrize("url, expected", [
    ("http://127.0.0.1:0/forecast", "model.url: the port must be a number from 1 to 65535, got 0"),   # was taken
    ("http://127.0.0.1:99999/forecast", "model.url: the port must be a number from 1 to 65535, got 99999"),
])
def test_a_model_url_port_is_one_that_can_be_reached(tmp_path, url, expected):
    path = write(tmp_path, SMALL_BOT + f"model: {{url: '{url}'}}\n")
    assert problems_of(path) == [f"{path}: {expected}"]
