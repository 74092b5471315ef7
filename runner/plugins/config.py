"""A bot's `plugins:` entries: `[{name: range_guard, params: {max_range_pct: 3}}]`."""

from __future__ import annotations

from typing import Any

from market.strict import StrictModel

__all__ = ["PluginConfig"]


class PluginConfig(StrictModel):
    name: str
    params: dict[str, Any] = {}     # checked by the plugin's own Params model
