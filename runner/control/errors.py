"""Errors of control requests (start, stop, kill, resume): the message is for the operator."""


class ControlError(Exception):
    """A control request that cannot be done; the message says why, for the operator."""


class UnknownBot(ControlError):
    """No bot has this id."""


class BotStateError(ControlError):
    """The bot is in a state that does not allow the request (start a killed bot, say)."""


class GovernanceRefused(ControlError):
    """A promotion or demotion that the governance rule does not allow; the message says why."""
