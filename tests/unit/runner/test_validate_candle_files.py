"""`botrunner validate` reads a sim bot's candle file as the bot would: a file the bot cannot
replay is a problem here, not an "ok" and then a failed bot in the daemon."""

from __future__ import annotations

from pathlib import Path

from runner.config.validate import validate_paths

HEADER = "timestamp,open,high,low,close,volume\n"
T0 = 1_704_067_200_000


def bot_file(folder: Path, name: str, candles: Path, timeframe: str = "1m") -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(f"id: {name}\nsymbol: BTC/USDT\ntimeframe: {timeframe}\ncapital: 1000\n"
                    f"market: {{source: csv, path: {candles}}}\nstrategy: {{name: sma_cross}}\n")
    return path


def rows(count: int, step_ms: int = 60_000) -> str:
    return "".join(f"{T0 + i * step_ms},100,101,99,100,5\n" for i in range(count))


def test_a_candle_file_the_bot_cannot_replay_is_a_problem_naming_the_bot_and_the_file(tmp_path):
    # Before: each was "ok", and the daemon's bot then failed at start.
    (tmp_path / "empty.csv").write_text(HEADER)
    (tmp_path / "five.csv").write_text(HEADER + rows(50, step_ms=300_000))
    (tmp_path / "good.csv").write_text(HEADER + rows(50))
    files = [bot_file(tmp_path, "empty", tmp_path / "empty.csv"), bot_file(tmp_path, "five", tmp_path / "five.csv"),
             bot_file(tmp_path, "good", tmp_path / "good.csv")]

    valid, problems = validate_paths(files)

    assert [bot.id for _, bot in valid] == ["good"]
    assert problems == [
        f"{files[0]}: bot empty: market: {tmp_path / 'empty.csv'}: no candles; expected a header line "
        "timestamp,open,high,low,close,volume and one candle per line",
        f"{files[1]}: bot five: market: {tmp_path / 'five.csv'}: candles are 5m apart, not 1m; expected 1m "
        "candles (is this file for another timeframe?)"]


def test_the_same_file_is_judged_per_timeframe_and_read_once_for_its_bots(tmp_path, monkeypatch):
    import market.factory

    (tmp_path / "five.csv").write_text(HEADER + rows(50, step_ms=300_000))
    reads = []
    real = market.factory.load_market
    monkeypatch.setattr(market.factory, "load_market", lambda *a, **k: reads.append(k["timeframe"]) or real(*a, **k))
    files = [bot_file(tmp_path, f"five{i}", tmp_path / "five.csv", "5m") for i in range(3)]
    files.append(bot_file(tmp_path, "one", tmp_path / "five.csv", "1m"))

    valid, problems = validate_paths(files)

    assert [bot.id for _, bot in valid] == ["five0", "five1", "five2"] and len(problems) == 1
    assert reads == ["5m", "1m"]
