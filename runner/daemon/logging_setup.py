"""The one place loguru sinks are configured: human lines or JSON lines on stderr, and a file.

Every line carries `extra["bot"]`: the bot it concerns (set by the supervisor's
`logger.contextualize(bot=...)`), or "-" for the daemon itself.

    setup_logging(level="INFO", json_lines=True, file=Path("/var/log/botrunner/botrunner.log"))
    ...
    await logger.complete()   # at shutdown: flush the file sink's queue
"""

from __future__ import annotations

import sys
from pathlib import Path

from loguru import logger

from market.file_kind import special_file_kind

HUMAN_FORMAT = "{time:YYYY-MM-DD HH:mm:ss.SSS} {level:<7} [{extra[bot]}] {message}"


def setup_logging(
    *,
    level: str = "INFO",
    json_lines: bool = False,
    file: Path | None = None,
    rotation: str = "50 MB",
    retention: int | str = 10,
) -> None:
    """Replace all sinks: stderr at `level`, human-readable (tracebacks included) or JSON lines,
    plus, with `file`, the same lines in a file rotated at `rotation` keeping `retention` old
    files (a count, or a loguru duration like "30 days").

    Raises ValueError for an unknown level, LogSetupError (naming the setting) for a log file
    that cannot be written or a rotation loguru cannot read. Call it again to reconfigure; it
    starts from scratch.
    """
    logger.remove()
    logger.configure(extra={"bot": "-"})
    # diagnose=False on every sink: loguru's default prints local variables in tracebacks, and
    # those can hold API keys and account data.
    #
    # stderr is written synchronously (no enqueue). Under systemd it goes to journald, which is
    # fast; in exchange the last lines before a hard death (the watchdog's SIGABRT, os._exit, a
    # crash in C) are not lost in a queue, they keep their order with Python's own crash output,
    # and tests can capture them without waiting on a thread.
    logger.add(sys.stderr, level=level, format=HUMAN_FORMAT, serialize=json_lines,
               backtrace=False, diagnose=False)
    if file is not None:
        _check_writable(file)
        # enqueue=True: a file write can stall on a slow disk, and rotation renames files inside
        # the write; a worker thread keeps both off the event loop that all bots share.
        # `await logger.complete()` (or `logger.remove()`) flushes it.
        try:
            logger.add(file, level=level, format=HUMAN_FORMAT, serialize=json_lines, rotation=rotation,
                       retention=retention, enqueue=True, encoding="utf-8", backtrace=False, diagnose=False)
        except (ValueError, TypeError) as exc:
            setting = "log.retention" if "retention" in str(exc) else "log.rotation"
            raise LogSetupError(f"{setting}: {exc}; e.g. rotation: 50 MB, 1 day or 00:00") from None


class LogSetupError(Exception):
    """A log setting the daemon cannot use; the message names the setting and the path."""


def _check_writable(file: Path) -> None:
    """Open the log file once up front: loguru would raise from deep inside with a traceback."""
    if file.is_dir():
        raise LogSetupError(f"log.file: {file} is a folder; name a file in it, e.g. {file / 'botrunner.log'}")
    if (kind := special_file_kind(file)) is not None:
        # A pipe's open waits for a reader (the daemon hung before its first line), and rotation
        # renames the file: neither works for a pipe or a device such as /dev/stdout.
        raise LogSetupError(f"log.file: {file} is {kind}, not a file: the daemon rotates its log file, "
                            "so name a plain one (stderr is logged either way)")
    # A file where a folder of the path should be: mkdir's own words for it ("File exists",
    # "Not a directory") do not say which part is wrong.
    if (blocker := next((p for p in file.parents if p.exists()), None)) is not None and not blocker.is_dir():
        raise LogSetupError(f"log.file: cannot write {file}: {blocker} is a file, not a folder")
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        with open(file, "a", encoding="utf-8"):
            pass
    except OSError as exc:
        raise LogSetupError(f"log.file: cannot write {file}: {exc.strerror or exc}") from None
