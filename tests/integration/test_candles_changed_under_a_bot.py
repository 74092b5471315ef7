"""A sim bot restarted on a candle file that changed under it (re-downloaded, edited) refuses
to start, naming the candle and both prices, rather than trading on from a snapshot made of
other candles; the same file lets it go on."""

from __future__ import annotations

from tests.daemon_process import botrunner, write_config_folder

T0 = 1_704_067_200_000


def candle_file(path, last_close: float) -> None:
    rows = [f"{T0 + i * 60_000},100,101,99,{100 + (i % 7) * 0.1:.1f},5" for i in range(299)]
    rows.append(f"{T0 + 299 * 60_000},100,101,99,{last_close},5")
    path.write_text("timestamp,open,high,low,close,volume\n" + "\n".join(rows) + "\n")


def test_a_candle_file_with_other_prices_at_the_same_times_stops_the_restart(tmp_path):
    data = tmp_path / "btc.csv"
    candle_file(data, 100.5)
    config = write_config_folder(tmp_path / "cfg", "", {"file-bot": (
        "id: file-bot\nsymbol: BTC/USDT\ncapital: 1000\n"
        f"market: {{source: csv, path: {data}}}\nstrategy: {{name: sma_cross, params: {{fast: 3, slow: 8}}}}\n")})
    run = ("run", str(config), "--state-dir", str(tmp_path / "state"))

    first = botrunner(*run, timeout=120)
    again = botrunner(*run, timeout=120)                    # the same file: it goes on, to its end
    assert first.returncode == 0 and again.returncode == 0, again.stderr[-2000:]
    assert "finished" in again.stdout

    candle_file(data, 100.33)                               # the last candle's close, and nothing else
    changed = botrunner(*run, timeout=120)

    # Before: it started from its snapshot, taken on the old prices, and said nothing.
    assert changed.returncode == 1, changed.stdout[-2000:]
    assert ("the bot's candles changed since its snapshot: candle 299 (2024-01-01T04:59:00Z) closed at 100.5, "
            "the data now has 100.33") in changed.stderr
