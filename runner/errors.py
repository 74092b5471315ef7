"""Errors a bot's runner raises, grouped by what its supervisor does with them."""


class BotError(Exception):
    """Something stopped one bot; the other bots are not affected."""


class StrategyError(BotError):
    """The strategy raised. Its traceback is chained (`__cause__`); the bot stops safely."""


class ControlError(Exception):
    """A control request that cannot be done; the message says why, for the operator."""


class UnknownBot(ControlError):
    """No bot has this id."""


class BotStateError(ControlError):
    """The bot is in a state that does not allow the request (start a killed bot, say)."""
