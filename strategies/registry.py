"""Strategies by name, so a YAML file can say `strategy: {name: sma_cross, params: {...}}`."""

from __future__ import annotations

from typing import Any, TypeVar

from strategies.base import Strategy

_REGISTRY: dict[str, type[Strategy]] = {}

S = TypeVar("S", bound=type[Strategy])


def register(cls: S) -> S:
    """Class decorator: make a strategy available by its `name`."""
    existing = _REGISTRY.get(cls.name)
    if existing is not None and existing is not cls:
        raise ValueError(f"strategy name {cls.name!r} is taken by {existing.__module__}.{existing.__qualname__}")
    _REGISTRY[cls.name] = cls
    return cls


def strategy_names() -> list[str]:
    _load_builtins()
    return sorted(_REGISTRY)


def strategy_class(name: str) -> type[Strategy]:
    """The class registered as `name`; KeyError names the ones there are."""
    _load_builtins()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown strategy {name!r}; available: {', '.join(sorted(_REGISTRY))}") from None


def create_strategy(name: str, params: dict[str, Any]) -> Strategy:
    """Build a strategy from its name and raw params (validated by its `Params` model;
    pydantic's ValidationError propagates for the config loader to report)."""
    cls = strategy_class(name)
    return cls(cls.Params.model_validate(params))


def _load_builtins() -> None:
    # Imported here, not at module top, so a strategy module can import `register` freely.
    import strategies.builtin  # noqa: F401
