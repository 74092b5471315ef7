"""Plugins: hooks of an installed package's own around a bot's loop (`runner.plugins.base`).

A package offers them through the `botrunner.plugins` entry point group; a bot lists them in its
config. `from runner.plugins import Plugin, PluginParams` is what a plugin's author needs.

Those two names are looked up in `runner.plugins.base` when first asked for (PEP 562), not when
the package is imported: `botrunner --help`, `status` and the other commands import
`runner.plugins.commands`, and the base (pydantic, the order models) would cost each of them
~0.1 s of start-up for nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runner.plugins.base import Plugin, PluginParams

__all__ = ["Plugin", "PluginParams"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from runner.plugins import base

        return getattr(base, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
