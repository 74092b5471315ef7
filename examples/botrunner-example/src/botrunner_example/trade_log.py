"""`trade_log`: each fill and each kill of the bot appended to a CSV file, as it happens.

    plugins: [{name: trade_log, params: {path: "trades-{bot}.csv"}}]

Columns: time (ISO UTC; the fill's time, or the wall clock's for a kill), bot, event (fill or
kill), side, quantity, price, fee, detail (the order's reason, or the kill's). The file is
opened for each row, so a daemon that is killed loses none, and the header is written when the
file is new.
"""

from __future__ import annotations

import csv
from datetime import datetime, timezone
from pathlib import Path

from execution.models import Fill
from runner.plugins import Plugin, PluginParams

COLUMNS = ("time", "bot", "event", "side", "quantity", "price", "fee", "detail")


class TradeLogParams(PluginParams):
    path: str = "trades-{bot}.csv"
    """The CSV file; `{bot}` is replaced by the bot's id. Relative to the working directory."""


class TradeLog(Plugin):
    """Appends the bot's fills and kills to a CSV file."""

    name = "trade_log"
    Params = TradeLogParams

    def on_fill(self, bot_id: str, fill: Fill) -> None:
        time = datetime.fromtimestamp(fill.ts_ms / 1000, timezone.utc).isoformat()
        self._append(bot_id, (time, bot_id, "fill", fill.side.value, fill.quantity, fill.price, fill.total_fee,
                              fill.reason))

    def on_kill(self, bot_id: str, reason: str) -> None:
        self._append(bot_id, (datetime.now(timezone.utc).isoformat(), bot_id, "kill", "", "", "", "", reason))

    def _append(self, bot_id: str, row: tuple[object, ...]) -> None:
        path = Path(self.params.path.replace("{bot}", bot_id))
        new = not path.exists() or path.stat().st_size == 0
        with path.open("a", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            if new:
                writer.writerow(COLUMNS)
            writer.writerow(row)
