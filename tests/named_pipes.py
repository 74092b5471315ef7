"""A named pipe for tests of code that must refuse one without opening it for reading."""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def named_pipe(path: Path) -> Iterator[Path]:
    """Make a named pipe at `path` that nobody writes to. Should the code under test open it for
    reading (which blocks until a writer comes), a writer opens and closes it every 5 s, so a
    test of that code fails instead of hanging."""
    os.mkfifo(path)
    done = threading.Event()

    def unblock() -> None:
        while not done.wait(5):
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
            except OSError as exc:      # ENXIO: no reader, nothing to unblock
                assert exc.errno == errno.ENXIO

    thread = threading.Thread(target=unblock, daemon=True)
    thread.start()
    try:
        yield path
    finally:
        done.set()
        thread.join()
