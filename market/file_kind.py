"""What a path names when it is not a plain file: asked before a config or candle file is opened.

Opening a named pipe for reading blocks until something writes to it (a `validate`, a backtest,
a daemon's bot waited forever), and a device such as /dev/zero, or a link to it, reads without
end until memory runs out. Neither is a file anyone means to give a bot, so the readers refuse
them by what `stat` says, before they open anything. A folder is named by each reader itself,
as it says what it expected there.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

_KINDS = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def special_file_kind(path: Path | str) -> str | None:
    """'a named pipe (FIFO)', 'a character device', 'a block device' or 'a socket' for such a path
    (through symbolic links), else None: a plain file, a folder, or nothing there (the caller's
    own open then says which)."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):        # missing, a loop of links, a NUL in the name: the open says
        return None
    return next((kind for test, kind in _KINDS if test(mode)), None)


def not_a_file_kind(mode: int) -> str | None:
    """What a `stat` mode names when it is no plain file ('a folder' included), else None. For a
    reader that opened the path already (without blocking: O_NONBLOCK) and asks `fstat`."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a folder"
    return next((kind for test, kind in _KINDS if test(mode)), "not a plain file")
