"""Strategies by name, so a YAML file can say `strategy: {name: sma_cross, params: {...}}`.

The built-ins register themselves (`@register`) as their module is imported, when their name is
first asked for (`strategies.builtin`). Any installed package may offer more through
the `botrunner.strategies` entry-point group (`strategies.entry_points`): its names are read from
the packages' metadata at the first lookup (a few milliseconds), and its module is imported only
when one of its names is asked for. A name both built in and offered by a package is an error
naming both, not a silent choice: the package's author meant theirs, the config's author may
mean ours. A package that cannot be loaded makes its own names fail, never the others.
"""

from __future__ import annotations

from typing import Any, TypeVar

from strategies.base import Strategy
from strategies.entry_points import EntryPointError, EntryPointGroup

__all__ = ["ENTRY_POINT_GROUP", "OUTSIDE", "UnknownStrategy", "builtin_names", "create_strategy", "register",
           "strategy_class", "strategy_names"]

ENTRY_POINT_GROUP = "botrunner.strategies"

_REGISTRY: dict[str, type[Strategy]] = {}
OUTSIDE: EntryPointGroup[type[Strategy]] = EntryPointGroup(ENTRY_POINT_GROUP, Strategy, "strategy")
"""The strategies installed packages offer."""

S = TypeVar("S", bound=type[Strategy])


class UnknownStrategy(KeyError):
    """No strategy of that name: the message lists the ones there are. A KeyError, as it
    always was; its text is the message, without KeyError's quotes."""

    def __str__(self) -> str:
        return str(self.args[0])


def register(cls: S) -> S:
    """Class decorator: make a strategy available by its `name`."""
    existing = _REGISTRY.get(cls.name)
    if existing is not None and existing is not cls:
        raise ValueError(f"strategy name {cls.name!r} is taken by {existing.__module__}.{existing.__qualname__}")
    _REGISTRY[cls.name] = cls
    return cls


def strategy_names() -> list[str]:
    """Built in and offered by installed packages, sorted."""
    _load_builtins()
    return sorted({*_REGISTRY, *OUTSIDE.names()})


def strategy_class(name: str) -> type[Strategy]:
    """The class registered as `name`, or offered as `name` by an installed package.
    `UnknownStrategy` names the ones there are; `EntryPointError` says why a package's cannot
    be used (a name clash with a built-in included). Both are LookupErrors."""
    _load_builtins(name)
    registered = _REGISTRY.get(name)
    if name in OUTSIDE:
        offered = OUTSIDE.load(name)
        if registered is not None and registered is not offered:   # not the package's own @register
            raise EntryPointError(
                f"strategy {name!r} is both built in ({registered.__module__}.{registered.__qualname__}) and "
                f"offered by {OUTSIDE.where(name)} ({offered.__module__}.{offered.__qualname__}); "
                "rename the package's entry point and its class's name")
        return offered
    if registered is None:
        raise UnknownStrategy(f"unknown strategy {name!r}; available: {', '.join(strategy_names())}")
    return registered


def create_strategy(name: str, params: dict[str, Any]) -> Strategy:
    """Build a strategy from its name and raw params (validated by its `Params` model;
    pydantic's ValidationError propagates for the config loader to report)."""
    cls = strategy_class(name)
    return cls(cls.Params.model_validate(params))


def builtin_names() -> list[str]:
    """The strategies of this repository (and any registered in-process), sorted."""
    _load_builtins()
    return sorted(_REGISTRY)


def _load_builtins(name: str | None = None) -> None:
    """Import the built-in strategy `name`'s module, or every built-in's (`strategies.builtin`)."""
    # Imported here, not at module top, so a strategy module can import `register` freely.
    from strategies import builtin

    builtin.load(name)
