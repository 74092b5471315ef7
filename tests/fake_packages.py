"""Installed packages made on the spot: a module and its `.dist-info` (with entry points) in a
folder put on sys.path, which is all `importlib.metadata` reads to find them."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path
from typing import Iterator

import pytest


class Site:
    """A folder on sys.path to install fake packages into; their modules are forgotten after."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.modules: list[str] = []

    def install(self, dist: str, source: str, entry_points: dict[str, dict[str, str]]) -> str:
        """Install package `dist` whose one module holds `source`; `entry_points` maps a group to
        {name: "MODULE:attribute"}, MODULE standing for the module's name. Returns that name."""
        module = f"fake_{dist.replace('-', '_')}_{uuid.uuid4().hex[:8]}"
        (self.root / f"{module}.py").write_text(source)
        info = self.root / f"{dist.replace('-', '_')}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
        lines = []
        for group, names in entry_points.items():
            lines.append(f"[{group}]")
            lines.extend(f"{name} = {target.replace('MODULE', module)}" for name, target in names.items())
        (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
        self.modules.append(module)
        return module


def fake_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    """A `Site` on sys.path for one test; a test module's fixture yields from it."""
    root = tmp_path / "site-packages"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    installed = Site(root)
    yield installed
    for module in installed.modules:
        sys.modules.pop(module, None)
