"""`ExchangeAccounts`: the process's exchange accounts, one `ExchangeAccount` per (exchange id,
account) however many bots name it.

Kept apart from `execution.exchange` so that holding the registry costs no ccxt: the daemon
makes one in every process, and a daemon of sim bots never asks it for an account. ccxt (with
`execution.exchange`, about 0.6 s of CPU to import here) comes in with the first `get`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from loguru import logger

from market.clock import SYSTEM_CLOCK, Clock

if TYPE_CHECKING:
    from execution.ccxt_client import ClientFactory
    from execution.exchange import ExchangeAccount
    from execution.exchange_config import ExchangeConfig

__all__ = ["ExchangeAccounts"]


class ExchangeAccounts:
    """The process's accounts, one `ExchangeAccount` per (exchange id, account) however many bots
    name it. The first config seen for a key makes the account; a later one naming other keys,
    URL or options for the same key is refused (two bots cannot share a client they disagree on).
    """

    def __init__(self, *, environ: Mapping[str, str] = os.environ, client_factory: ClientFactory | None = None,
                 clock: Clock = SYSTEM_CLOCK) -> None:
        self._environ = environ
        self._client_factory = client_factory
        self._clock = clock
        self._accounts: dict[tuple[str, str], ExchangeAccount] = {}

    def get(self, config: ExchangeConfig) -> ExchangeAccount:
        from execution.ccxt_client import client_fields
        from execution.exchange import ExchangeAccount

        account = self._accounts.get(config.account_key)
        if account is None:
            account = ExchangeAccount(config, environ=self._environ, client_factory=self._client_factory,
                                      clock=self._clock)
            self._accounts[config.account_key] = account
        elif client_fields(account.config) != client_fields(config):
            raise ValueError(
                f"exchange account {config.id}/{config.account} is configured twice with different keys, "
                "base_url or options; give the bots one config or different `account` names")
        return account

    def __len__(self) -> int:
        return len(self._accounts)

    async def aclose(self) -> None:
        """Close every client, even when one fails to close."""
        accounts, self._accounts = list(self._accounts.values()), {}
        for account in accounts:
            try:
                await account.aclose()
            except Exception:
                logger.exception("Closing the client of {} failed", account.name)
