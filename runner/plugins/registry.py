"""Plugins by name: the ones installed packages offer through the `botrunner.plugins` entry
point group (none ship with botrunner). A plugin's module is imported only when a bot names it.
"""

from __future__ import annotations

from typing import Any, Sequence

from pydantic import ValidationError

from runner.bot.errors import FAULTS_OF_ITS_OWN, StrategyError
from runner.config.errors import describe_errors
from runner.plugins.base import Plugin
from runner.plugins.config import PluginConfig
from strategies.entry_points import EntryPointGroup

__all__ = ["ENTRY_POINT_GROUP", "INSTALLED", "UnknownPlugin", "create_plugins", "plugin_class", "plugin_problems"]

ENTRY_POINT_GROUP = "botrunner.plugins"

INSTALLED: EntryPointGroup[type[Plugin]] = EntryPointGroup(ENTRY_POINT_GROUP, Plugin, "plugin")
"""The plugins installed packages offer."""


class UnknownPlugin(KeyError):
    """No installed package offers a plugin of that name: the message lists the ones there are."""

    def __str__(self) -> str:
        return str(self.args[0])


def plugin_class(name: str) -> type[Plugin]:
    """The class an installed package offers as `name`. `UnknownPlugin` lists the installed
    ones; `EntryPointError` says why a package's cannot be used. Both are LookupErrors."""
    if name not in INSTALLED:
        installed = ", ".join(INSTALLED.names()) or f"none (a plugin is a package's {ENTRY_POINT_GROUP} entry point)"
        raise UnknownPlugin(f"unknown plugin {name!r}; installed: {installed}")
    return INSTALLED.load(name)


def create_plugins(configs: Sequence[PluginConfig]) -> list[Plugin]:
    """One new instance per entry, built from its checked params (pydantic's ValidationError
    propagates; `plugin_problems` reports it at config load). StrategyError, naming the plugin,
    when its class raises as it is made: the bot cannot run as configured (a hook that raises
    later only disables the plugin, `runner.bot.plugin_hooks`)."""
    plugins = []
    for config in configs:
        cls = plugin_class(config.name)
        params = cls.Params.model_validate(config.params)
        try:
            plugins.append(cls(params))
        except FAULTS_OF_ITS_OWN as exc:
            raise StrategyError(f"plugin {config.name!r} could not be made from its params: "
                                f"{type(exc).__name__}: {exc}") from exc
    return plugins


def plugin_problems(raw_plugins: Any) -> list[str]:
    """Check each entry's name and params (`plugins[1].params.max_range_pct: ...`). The shape of
    `plugins` itself is BotConfig's job."""
    if not isinstance(raw_plugins, list):
        return []
    problems: list[str] = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_plugins):
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
            continue
        name, where = raw["name"], f"plugins[{i}]"
        if name in seen:
            # Its vetoes are journalled, and it is disabled, by name: two would be one.
            problems.append(f"{where}.name: {name!r} is listed twice; a bot runs each plugin once")
            continue
        seen.add(name)
        try:
            cls = plugin_class(name)
        except LookupError as exc:
            problems.append(f"{where}.name: {exc.args[0]}")
            continue
        params = raw.get("params") or {}
        if not isinstance(params, dict):
            continue
        try:
            cls.Params.model_validate(params)
        except ValidationError as exc:
            problems.extend(describe_errors(exc, cls.Params, prefix=(where, "params")))
    return problems
