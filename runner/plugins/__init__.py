"""Plugins: hooks of an installed package's own around a bot's loop (`runner.plugins.base`).

A package offers them through the `botrunner.plugins` entry point group; a bot lists them in its
config. `from runner.plugins import Plugin, PluginParams` is what a plugin's author needs.
"""

from runner.plugins.base import Plugin, PluginParams

__all__ = ["Plugin", "PluginParams"]
