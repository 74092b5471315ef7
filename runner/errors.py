"""Errors a bot's runner raises, grouped by what its supervisor does with them."""


class BotError(Exception):
    """Something stopped one bot; the other bots are not affected."""


class StrategyError(BotError):
    """The strategy raised. Its traceback is chained (`__cause__`); the bot stops safely."""
