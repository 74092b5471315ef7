"""`botrunner validate`'s report: a line for every valid config, a basket with no symbol yet too."""

from __future__ import annotations

from runner.config.commands import validate

TOP_VOLUME = """\
id: majors
mode: paper
symbol_provider: {source: top_volume, quote: USDT, count: 10, refresh_secs: 3600}
timeframe: 1m
capital: 10000
exchange: {id: binance}
strategy: {name: ema_cross, params: {fast: 12, slow: 26}}
"""


def test_a_top_volume_basket_gets_its_ok_line_as_a_file_and_in_a_daemon_folder(tmp_path, capsys):
    # Before: nothing printed at all for it (it has no leg until its exchange is asked), exit 0.
    (tmp_path / "bots").mkdir()
    (tmp_path / "daemon.yaml").write_text("bot_defaults: {capital: 500}\n")
    (tmp_path / "bots" / "majors.yaml").write_text(TOP_VOLUME.replace("capital: 10000\n", ""))
    (tmp_path / "majors.yaml").write_text(TOP_VOLUME)
    validate([tmp_path / "majors.yaml", tmp_path])
    said = "majors: ema_cross on the top 10 USDT symbols by 24h volume on binance (asked when it runs) 1m, paper)"
    assert capsys.readouterr().out.splitlines() == [f"ok  {tmp_path / 'majors.yaml'}  ({said}",
                                                    f"ok  {tmp_path / 'bots' / 'majors.yaml'}  ({said}"]


def test_each_bot_of_a_daemon_folder_is_reported_with_its_own_file(tmp_path, capsys):
    # Before: "ok  <folder>/bots  (a: ...)" for every bot, its file left for the reader to find.
    (tmp_path / "bots").mkdir()
    (tmp_path / "daemon.yaml").write_text("bot_defaults: {capital: 500}\n")
    for name, bot_id in (("first.yaml", "a"), ("second.yaml", "b")):
        (tmp_path / "bots" / name).write_text(f"id: {bot_id}\nsymbol: BTC/USDT\nstrategy: {{name: sma_cross}}\n")
    validate([tmp_path])
    assert capsys.readouterr().out.splitlines() == [
        f"ok  {tmp_path / 'bots' / 'first.yaml'}  (a: sma_cross on BTC/USDT 1m, sim)",
        f"ok  {tmp_path / 'bots' / 'second.yaml'}  (b: sma_cross on BTC/USDT 1m, sim)"]


def test_a_symbolic_link_that_leads_nowhere_is_named_as_one(tmp_path):
    # Before: "no such file or folder", of a path `ls` shows (a link to a moved file, or a loop).
    from runner.config.validate import validate_paths

    (tmp_path / "moved.yaml").symlink_to(tmp_path / "gone.yaml")
    (tmp_path / "one.yaml").symlink_to(tmp_path / "two.yaml")
    (tmp_path / "two.yaml").symlink_to(tmp_path / "one.yaml")

    _, problems = validate_paths([tmp_path / "moved.yaml", tmp_path / "one.yaml"])
    assert problems == [
        f"{tmp_path / 'moved.yaml'}: a symbolic link to {tmp_path / 'gone.yaml'}, which leads to no file "
        "(it is missing, or the links go round in a loop)",
        f"{tmp_path / 'one.yaml'}: a symbolic link to {tmp_path / 'two.yaml'}, which leads to no file "
        "(it is missing, or the links go round in a loop)"]
