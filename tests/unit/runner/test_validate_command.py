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
