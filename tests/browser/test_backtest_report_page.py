"""`backtest --report` opened in headless chromium: it renders offline, and its figures are
the `--json` figures of the same run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
CONFIG = PROJECT / "configs" / "bots" / "eth-rsi-reversion.yaml"      # synthetic candles, trades in every month


def backtest_with_report(report: Path) -> dict:
    result = subprocess.run([sys.executable, str(PROJECT / "main.py"), "backtest", str(CONFIG), "--json",
                             "--report", str(report)], cwd=PROJECT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_report_renders_offline_with_the_json_figures(page, tmp_path):
    summary = backtest_with_report(tmp_path / "report.html")
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))

    page.goto((tmp_path / "report.html").as_uri())

    assert requested == [(tmp_path / "report.html").as_uri()]            # nothing else was fetched
    cells = page.eval_on_selector_all(
        "td[data-key]", "cells => cells.map(c => [c.dataset.key, c.dataset.value, c.innerText])")
    assert {key for key, _, _ in cells} == set(summary)
    for key, value, shown in cells:
        assert json.loads(value) == summary[key], key
        if isinstance(summary[key], float):
            decimals = len(shown.rstrip("%").partition(".")[2])
            assert abs(float(shown.replace(",", "").rstrip("%")) - summary[key]) <= 0.51 * 10 ** -decimals, key


def test_the_reports_charts_and_tables_are_drawn(page, tmp_path):
    summary = backtest_with_report(tmp_path / "report.html")

    page.goto((tmp_path / "report.html").as_uri())

    for css_class in ("equity", "drawdown", "price"):
        box = page.eval_on_selector(f"svg path.{css_class}:not(.area)", "p => p.getBoundingClientRect().toJSON()")
        assert box["width"] > 500 and box["height"] > 20, (css_class, box)
    markers = page.eval_on_selector_all("svg path.entry, svg path.exit", "ps => ps.map(p => p.getBBox().width)")
    assert len(markers) == 2 and min(markers) > 0
    assert page.locator("table.trades tr").count() == summary["trades"] + 1       # and the header
    assert page.locator("table.monthly td").first.inner_text() == "2018"
