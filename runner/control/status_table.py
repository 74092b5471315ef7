"""Bot statuses as text for a terminal: the `botrunner status` table and one-line outcomes."""

from __future__ import annotations

from datetime import datetime, timezone

from runner.control.status import BotStatus, ReloadResult

_NOTE_MAX_CHARS = 60
# (header, right-aligned?) in the order printed; NOTE is added only when some bot has one.
_COLUMNS = (("ID", False), ("STATE", False), ("MODE", False), ("SYMBOL", False), ("POSITION", True),
            ("EQUITY", True), ("PNL", True), ("LAST CANDLE", False))


def format_status_table(statuses: list[BotStatus]) -> str:
    """An aligned table, one row per bot; a REGIME column when some bot has a regime detector, a
    SESSION column (open or closed) when some bot has a trading session, and a NOTE column for
    the kill reason or last error."""
    if not statuses:
        return "no bots configured"
    rows = [_row(s) for s in statuses]
    notes = [_note(s) for s in statuses]
    columns = list(_COLUMNS)
    if any(s.regime is not None for s in statuses):
        columns.insert(len(columns) - 1, ("REGIME", False))
        rows = [row[:-1] + [s.regime or "-"] + row[-1:] for row, s in zip(rows, statuses)]
    if any(s.session_open is not None for s in statuses):
        columns.insert(len(columns) - 1, ("SESSION", False))
        rows = [row[:-1] + [{True: "open", False: "closed", None: "-"}[s.session_open]] + row[-1:]
                for row, s in zip(rows, statuses)]
    if any(s.cluster is not None for s in statuses):      # cluster mode: where each bot runs
        columns.insert(2, ("NODE", False))
        rows = [row[:2] + [_lease(s.cluster)] + row[2:] for row, s in zip(rows, statuses)]
    if any(notes):
        columns.append(("NOTE", False))
        rows = [row + [note] for row, note in zip(rows, notes)]
    headers = [name for name, _ in columns]
    widths = [max(len(cell) for cell in column) for column in zip(headers, *rows)]
    lines = []
    for cells in (headers, *rows):
        padded = [cell.rjust(width) if right else cell.ljust(width)
                  for cell, width, (_, right) in zip(cells, widths, columns)]
        lines.append("  ".join(padded).rstrip())
    return "\n".join(lines)


def format_outcome(status: BotStatus, asked: str | None = None) -> str:
    """One line after start, stop, kill or resume: `btc-ema: killed (flash crash)`, and in a
    cluster, where the bot has its lease: `btc-ema: killed on node-b (...)`. A basket
    `asked` by its id is answered with its first leg's status (its legs share one latch): the
    line names the basket, as asked."""
    note = _note(status)
    name = asked if asked is not None and status.basket == asked else status.id
    where = f" on {status.cluster['node']}" if status.cluster else ""      # cluster: kill --all lists every node's
    return f"{name}: {status.state}{where}" + (f" ({note})" if note else "")


def format_reload(result: ReloadResult) -> str:
    """What `reload` changed, one line per kind: `added:     eth-rsi, sol-ema`."""
    kinds = (("added", result.added), ("removed", result.removed),
             ("restarted", result.restarted), ("unchanged", result.unchanged))
    return "\n".join(f"{kind + ':':<11}{', '.join(ids) or '-'}" for kind, ids in kinds)


def _row(status: BotStatus) -> list[str]:
    return [status.id, status.state, status.mode, status.symbol, f"{status.position:.8g}",
            f"{status.equity:,.2f}", f"{status.pnl:+,.2f}", _candle_time(status.last_candle_time)]


def _lease(lease: dict | None) -> str:
    """`node-a #7 1.9s`: the node running the bot, its lease's fencing token and time left."""
    if lease is None:
        return "-"
    return f"{lease['node']} #{lease['token']} {lease['expires_in_secs']:.1f}s"


def _note(status: BotStatus) -> str:
    if status.kill_reason:
        text = f"reason: {status.kill_reason}"
        if status.flatten_pending:
            text = f"position not closed yet, retrying; {text}"
    elif status.flatten_pending:
        text = "on_restart: flatten, position not closed yet, retrying"
    elif status.last_error:
        text = f"error: {status.last_error}"
    elif status.plugins_disabled:
        text = f"plugin disabled: {', '.join(status.plugins_disabled)}"
    else:
        return ""
    text = " ".join(text.split())          # a traceback or multi-line message stays on its row
    return text if len(text) <= _NOTE_MAX_CHARS else text[:_NOTE_MAX_CHARS - 3] + "..."


def _candle_time(value: str | None) -> str:
    if not value:
        return "-"
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(timezone.utc)
    return parsed.strftime("%Y-%m-%d %H:%M")
