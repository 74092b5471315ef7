"""Config paths that print on one line.

Every config problem is one line that starts with its file (`bots/a.yaml: risk.stake_pct: ...`),
written `f"{path}: ..."` in some seventy places. A file name may hold a line break or another
control character (`touch $'bots/btc\\n.yaml'`), and printed as it is, it splits its error across
two lines, the second looking like a problem of its own. `ConfigPath` prints such a name as
Python quotes it (`'bots/btc\\n.yaml'`) and every other name unchanged; paths made from it
(`folder / "bots"`, a folder's files) stay `ConfigPath`, so wrapping where a path comes in
(a command's argument, the folder of bot files) covers the messages made further down.
"""

from __future__ import annotations

from pathlib import Path


class ConfigPath(type(Path())):     # type: ignore[misc]   # PosixPath or WindowsPath, as Path() picks
    """A `Path` whose `f"{path}"` is quoted (`repr` of its text) when it has an unprintable
    character; `str(path)`, and so opening it, is the file's name as it is."""

    __slots__ = ()

    def __format__(self, spec: str) -> str:
        text = str(self)
        return format(text if text.isprintable() else repr(text), spec)


def config_path(path: Path | str) -> ConfigPath:
    """`path` as a `ConfigPath` (see the module)."""
    return path if isinstance(path, ConfigPath) else ConfigPath(path)
