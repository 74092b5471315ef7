"""Errors a bot's runner raises, grouped by what its supervisor does with them."""

from contextvars import ContextVar


class BotError(Exception):
    """Something stopped one bot; the other bots are not affected."""


# What a strategy's or a plugin's own code may raise that stops (or, a plugin's hook, disables)
# only its part. SystemExit too: a `sys.exit()` in a strategy would end the event loop and every
# bot with it. Not KeyboardInterrupt, which in a backtest or a search is the person's Ctrl-C: a
# plugin's hook catches it where `SIGINT_ONLY_STOPS` is set (the daemon), and the daemon's
# supervisor takes a strategy's as a crash of that bot.
FAULTS_OF_ITS_OWN = (Exception, SystemExit)


SIGINT_ONLY_STOPS: ContextVar[bool] = ContextVar("sigint_only_stops", default=False)
"""True in the daemon's tasks, whose SIGINT only sets its stop event (`runner.daemon.process` sets
it): there a KeyboardInterrupt is raised by a strategy's or a plugin's own code, a fault of its
own. Elsewhere (a backtest, a search) it may be the person's Ctrl-C, and must go through."""


class StrategyError(BotError):
    """The strategy raised. Its traceback is chained (`__cause__`); the bot stops safely."""


class BotMustStayDown(BotError):
    """A person must look before the bot runs again, so its supervisor does not restart it:
    its state cannot be restored safely, a re-run disagrees with its journal, or the exchange
    refuses it (revoked keys, say). The message says why."""


class SymbolNotListed(BotMustStayDown):
    """The exchange does not list the bot's symbol (not in its markets, or ccxt's `BadSymbol`):
    no restart lists it, so the bot stays down at once rather than after `max_restarts`."""


class ExchangeRefusedBot(BotMustStayDown):
    """The exchange refused the bot for good (`execution.errors.FatalExchangeError`, chained)."""
