"""What the PostgreSQL store raises, by what the caller does about it.

    BotMustStayDown ─── StaleFencingToken   this node no longer owns the bot: stop it, write nothing
    StorageError ─┬──── SchemaTooNew         the database was migrated by a newer botrunner: upgrade this node
                  └──── MissingDatabaseUrl   the URL's environment variable is not set

`StorageError` is a `StartupError`: raised while a node starts, `botrunner run` prints its
message and exits 2, as for any setting that stops the start.

`StaleFencingToken` is a `BotMustStayDown` so the runner stops the bot instead of retrying:
another node won the bot's lease (a higher fencing token), and whatever this node holds of the
bot is older than what the new owner writes. The bot runs again only on the node that owns it.
"""

from __future__ import annotations

from runner.bot.errors import BotMustStayDown
from runner.state.state_dir import StartupError


class StaleFencingToken(BotMustStayDown):
    """A write for `bot_id` carried `token`, and the bot's fence holds `current` (higher)."""

    def __init__(self, bot_id: str, token: int, current: int | None) -> None:
        self.bot_id, self.token, self.current = bot_id, token, current
        holder = f"fencing token {current}" if current is not None else "no fence"
        super().__init__(f"bot {bot_id}: this node writes with fencing token {token} and the database holds "
                         f"{holder}; another node owns the bot now. Nothing was written; the bot stops here.")


class StorageError(StartupError):
    """The PostgreSQL store cannot be used as configured; the message says what to change."""


class SchemaTooNew(StorageError):
    """The database's schema is ahead of this botrunner's migrations."""


class MissingDatabaseUrl(StorageError):
    """The environment variable meant to hold the database URL is not set."""
