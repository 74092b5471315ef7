"""The browser fixture itself: a real chromium that runs scripts and draws on a canvas."""

from __future__ import annotations


def test_the_fixture_gives_a_chromium_that_runs_scripts_and_draws(page):
    page.set_content("<canvas id=c width=20 height=20></canvas>"
                     "<script>document.getElementById('c').getContext('2d').fillRect(0, 0, 10, 10)</script>")

    painted = page.evaluate("Array.from(document.getElementById('c').getContext('2d')"
                            ".getImageData(0, 0, 20, 20).data).filter((v, i) => i % 4 === 3 && v > 0).length")

    assert painted == 100
