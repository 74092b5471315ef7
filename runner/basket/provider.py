"""A basket's symbols from a provider, refreshed on an interval, legs added and retired live.

`symbol_provider: {source: file, ...}` reads a file of symbols; `{source: top_volume, ...}` asks
the basket's exchange for its tickers (ccxt `fetch_tickers`, Binance's `GET /api/v3/ticker/24hr`)
and takes the `count` symbols quoted in `quote` with the most 24-hour quote volume, at least
`min_quote_volume`. Every `refresh_secs` the daemon's `BasketRefresher` asks again and hands
the manager the basket's legs for the new list (`BotManager.reload(configs)`): a new symbol's
leg starts, the others run on untouched. A symbol that left the list:

- its leg is flat: it is stopped and removed (what it made or lost stays in the basket's cash,
  across restarts too: `runner.basket.roster`);
- it holds a position: the leg stays, `retiring` (it enters nothing). With `on_retire: exit`
  (the default) it closes the position as soon as it is rebuilt (`retire_on_start`); with
  `hold` its exits (strategy, stop-loss) close it in their time. Once flat it is removed at the
  next refresh.

A provider that fails (file unreadable, exchange down) is logged and the list stays as it was:
a basket never drops its symbols because a refresh went wrong.
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, AsyncIterator, Protocol

from loguru import logger

from runner.config.basket import (BasketConfig, FileSymbols, TopVolumeSymbols, basket_config_problems, is_basket,
                                  read_symbol_file)
from runner.config.bot import BotConfig, ConfigError, read_yaml_mapping

if TYPE_CHECKING:
    from execution.exchange import ExchangeAccounts
    from runner.bot.strategy_runner import StrategyRunner
    from runner.daemon.manager import BotManager

__all__ = ["BasketRefresher", "BasketRefreshers", "FileSource", "SymbolSource", "TopVolumeSource",
           "basket_refreshers", "retire_on_start", "top_by_quote_volume"]

FETCH_TIMEOUT_SECS = 30.0


class SymbolSource(Protocol):
    """Where a basket's symbols come from."""

    async def symbols(self) -> list[str]: ...


class FileSource:
    """The symbols of a file, read again at every refresh (`runner.config.basket.read_symbol_file`)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    async def symbols(self) -> list[str]:
        return await asyncio.to_thread(read_symbol_file, self.path)


class TopVolumeSource:
    """The exchange's most traded symbols of one quote currency, by 24-hour quote volume."""

    def __init__(self, client: Any, config: TopVolumeSymbols) -> None:
        self.client = client            # a ccxt async exchange
        self.config = config

    async def symbols(self) -> list[str]:
        async with asyncio.timeout(FETCH_TIMEOUT_SECS):
            # The markets again first: a symbol listed since the last refresh is named in the
            # tickers by its exchange id only until ccxt knows its market.
            await self.client.load_markets(reload=True)
            tickers = await self.client.fetch_tickers()
        return top_by_quote_volume(tickers, self.config)


def top_by_quote_volume(tickers: dict[str, dict[str, Any]], config: TopVolumeSymbols) -> list[str]:
    """ccxt's tickers (symbol -> ticker) ranked: spot symbols quoted in `config.quote` with a
    24-hour quote volume of at least `min_quote_volume`, most first (ties by name), `count` of them."""
    suffix = f"/{config.quote}"
    ranked = []
    for symbol, ticker in tickers.items():
        volume = ticker.get("quoteVolume")
        if symbol.endswith(suffix) and ":" not in symbol and volume is not None and volume >= config.min_quote_volume:
            ranked.append((-float(volume), symbol))
    return [symbol for _, symbol in sorted(ranked)[:config.count]]


class BasketRefresher:
    """One provider-fed basket in the daemon; see the module docstring."""

    def __init__(self, basket: BasketConfig, source: SymbolSource) -> None:
        provider = basket.fields.symbol_provider
        assert provider is not None, f"basket {basket.id} has a fixed list of symbols"
        self.basket = basket
        self.source = source
        self.refresh_secs = provider.refresh_secs
        # A file's symbols are known when the daemon starts; an exchange's after its first answer.
        self.symbols: list[str] = basket.symbols() if isinstance(provider, FileSymbols) else []
        self.retiring: frozenset[str] = frozenset()

    def legs(self) -> list[BotConfig]:
        """The legs the basket runs now: its symbols', and those retiring until flat."""
        return self.basket.legs(self.symbols, retiring=self.retiring)

    def replace_legs(self, configs: list[BotConfig]) -> list[BotConfig]:
        """`configs` (a config folder read again) with this basket's legs as the provider has them."""
        return [c for c in configs if c.basket is None or c.basket.basket != self.basket.id] + self.legs()

    async def refresh(self, manager: BotManager) -> bool:
        """Ask the provider and hand the manager the legs of its answer; True when they changed."""
        try:
            fetched = await self.source.symbols()
        except Exception as exc:          # unreadable, refused, timed out: the list stays as it is
            logger.warning("Basket {}: its symbol provider failed ({}: {}); keeping its {} symbols", self.basket.id,
                           type(exc).__name__, exc, len(self.symbols))
            return False
        holding = {c.symbol for c in self.legs() if _holds(manager, c.id)}
        retiring = frozenset(s for s in (set(self.symbols) | self.retiring) - set(fetched) if s in holding)
        if fetched == self.symbols and retiring == self.retiring:
            return False
        added = sorted(set(fetched) - set(self.symbols) - self.retiring)
        gone = sorted((set(self.symbols) | self.retiring) - set(fetched) - retiring)
        newly = sorted(retiring - self.retiring)
        self.symbols, self.retiring = list(fetched), retiring
        result = await manager.reload(self.replace_legs(manager.configs()))
        logger.info("Basket {}: {} symbols; added {}, removed {}, retiring with a position {} (on_retire: {})",
                    self.basket.id, len(fetched), added or "none", gone or "none", newly or "none",
                    self.basket.fields.on_retire)
        return bool(result.added or result.removed or result.restarted)

    async def prefetch(self) -> None:
        """Before the daemon's bots start: a basket with no symbols yet (a top-volume list) asks
        its provider once, so that its legs start with the others (a daemon whose bots are all
        done exits, and a basket of no legs is done)."""
        if self.symbols:
            return
        try:
            self.symbols = list(await self.source.symbols())
        except Exception as exc:
            logger.warning("Basket {}: its symbol provider failed ({}: {}); it starts with no symbol and asks "
                           "again in {:g}s", self.basket.id, type(exc).__name__, exc, self.refresh_secs)

    async def run(self, manager: BotManager) -> None:
        """Refresh every `refresh_secs` until cancelled."""
        while True:
            await asyncio.sleep(self.refresh_secs)
            await self.refresh(manager)


def _holds(manager: BotManager, bot_id: str) -> bool:
    try:
        status = manager.status(bot_id)
    except Exception:              # not running (yet): nothing of it to keep
        return False
    return bool(status.position) or status.flatten_pending


async def retire_on_start(runner: StrategyRunner, config: BotConfig) -> None:
    """A leg retired with `on_retire: exit` and a position: close it before the leg runs (it
    enters nothing after: its stake is nothing while it retires)."""
    leg = config.basket
    if leg is not None and leg.retiring and leg.on_retire == "exit" and runner.portfolio.quantity:
        await runner.flatten_on_restart(f"{config.symbol} retired from basket {leg.basket}")


class BasketRefreshers:
    """The provider-fed baskets of a daemon's config folder."""

    def __init__(self, refreshers: list[BasketRefresher]) -> None:
        self.refreshers = refreshers

    def replace_legs(self, configs: list[BotConfig]) -> list[BotConfig]:
        """The bots of a config folder read again (`botrunner reload`), each provider-fed basket
        with the legs its refresher has (a top-volume list is not asked again for that)."""
        for refresher in self.refreshers:
            configs = refresher.replace_legs(configs)
        return configs

    async def prefetch(self) -> None:
        """Each basket's first list, before the bots start (`BasketRefresher.prefetch`)."""
        await asyncio.gather(*(r.prefetch() for r in self.refreshers))

    @asynccontextmanager
    async def running(self, manager: BotManager) -> AsyncIterator[None]:
        """Each basket refreshing its symbols while the block runs."""
        tasks = [asyncio.create_task(r.run(manager), name=f"basket:{r.basket.id}:symbols") for r in self.refreshers]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


def basket_refreshers(config_dir: Path, bot_defaults: dict[str, Any], accounts: ExchangeAccounts) -> BasketRefreshers:
    """A refresher for every basket file of `config_dir/bots` with a `symbol_provider` (the
    folder is checked already: `load_config_dir`)."""
    from runner.config.daemon import deep_merge       # the daemon's config imports this package's

    refreshers = []
    for file in sorted([*(config_dir / "bots").glob("*.yaml"), *(config_dir / "bots").glob("*.yml")]):
        raw = read_yaml_mapping(file)
        if not is_basket(raw) or "symbol_provider" not in raw:
            continue
        basket, problems = basket_config_problems(file, deep_merge(bot_defaults, raw))
        if basket is None:
            raise ConfigError(problems)
        provider = basket.fields.symbol_provider
        if isinstance(provider, FileSymbols):
            source: SymbolSource = FileSource(provider.path)
        else:
            assert basket.template.exchange is not None        # checked with the basket
            source = TopVolumeSource(accounts.get(basket.template.exchange).client, provider)
        refreshers.append(BasketRefresher(basket, source))
    return BasketRefreshers(refreshers)


def provider_baskets(config_dir: Path) -> list[str]:
    """The names of `config_dir/bots`' basket files with a `symbol_provider` (cluster mode
    refuses them: `runner.daemon.process`)."""
    files = sorted([*(config_dir / "bots").glob("*.yaml"), *(config_dir / "bots").glob("*.yml")])
    return [str(raw.get("id", file.stem)) for file in files
            if is_basket(raw := read_yaml_mapping(file)) and "symbol_provider" in raw]
