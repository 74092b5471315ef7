"""Errors a bot's runner raises, grouped by what its supervisor does with them."""


class BotError(Exception):
    """Something stopped one bot; the other bots are not affected."""


# What a strategy's or a plugin's own code may raise that stops (or, a plugin's hook, disables)
# only its part. SystemExit too: a `sys.exit()` in a strategy would end the event loop and every
# bot with it. KeyboardInterrupt is left alone: in a backtest or a search it is the person's Ctrl-C.
FAULTS_OF_ITS_OWN = (Exception, SystemExit)


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
