"""setup_logging: the sinks it configures write what we expect, where we expect."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from loguru import logger

from runner.daemon.logging_setup import setup_logging


@pytest.fixture(autouse=True)
def restore_loguru():
    """setup_logging replaces every sink; put back loguru's import-time state afterwards."""
    yield
    logger.remove()
    logger.configure(extra={})
    logger.add(sys.stderr)


def test_human_lines_carry_time_level_bot_and_message(capsys):
    setup_logging(level="INFO")

    logger.debug("not shown at INFO")
    logger.bind(bot="btc-ema").info("Order {} filled", 7)
    logger.info("Daemon ready")

    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2
    assert lines[0].endswith(" INFO    [btc-ema] Order 7 filled")
    assert lines[1].endswith(" INFO    [-] Daemon ready")
    assert lines[0][:4].isdigit() and lines[0][10] == " "  # 2024-01-01 12:00:00.000


def test_human_lines_include_the_traceback(capsys):
    setup_logging()

    try:
        1 / 0
    except ZeroDivisionError:
        logger.exception("Bot crashed")

    err = capsys.readouterr().err
    assert "[-] Bot crashed" in err and "Traceback" in err and "ZeroDivisionError" in err


def test_json_lines_parse_and_carry_the_bot(capsys):
    setup_logging(json_lines=True)

    with logger.contextualize(bot="eth-rsi"):
        logger.warning("Stale data for {}s", 90)
    logger.info("Daemon ready")

    records = [json.loads(line)["record"] for line in capsys.readouterr().err.splitlines()]
    assert [(r["extra"]["bot"], r["level"]["name"], r["message"]) for r in records] == [
        ("eth-rsi", "WARNING", "Stale data for 90s"),
        ("-", "INFO", "Daemon ready"),
    ]


def test_the_file_sink_writes_json_lines(tmp_path: Path):
    path = tmp_path / "logs" / "botrunner.log"
    setup_logging(json_lines=True, file=path)

    logger.bind(bot="btc-ema").info("Order {} filled", 7)
    logger.complete()  # waits for the file sink's queue

    [line] = path.read_text(encoding="utf-8").splitlines()
    record = json.loads(line)["record"]
    assert record["extra"]["bot"] == "btc-ema" and record["message"] == "Order 7 filled"


def test_the_file_sink_rotates_and_keeps_only_retention_old_files(tmp_path: Path):
    setup_logging(level="WARNING", file=tmp_path / "botrunner.log", rotation="200 B", retention=2)

    for n in range(40):
        logger.warning("line {} of a log that outgrows its file several times over", n)
    logger.remove()  # stops the queue's worker and applies retention

    files = sorted(p.name for p in tmp_path.iterdir())
    assert "botrunner.log" in files and len(files) == 3  # the current one plus two old ones


def test_a_log_file_that_is_a_named_pipe_is_refused_without_opening_it(tmp_path: Path):
    # Before: opening a pipe to append waits for a reader, so `botrunner run` hung before its
    # first line. Should the code under test open it, a reader comes after 5 s and stays, so
    # this fails instead of hanging.
    import os
    import threading

    from runner.daemon.logging_setup import LogSetupError

    pipe = tmp_path / "log.pipe"
    os.mkfifo(pipe)
    done, readers = threading.Event(), []

    def unblock() -> None:
        if not done.wait(5):
            readers.append(os.open(pipe, os.O_RDONLY | os.O_NONBLOCK))

    thread = threading.Thread(target=unblock, daemon=True)
    thread.start()
    try:
        with pytest.raises(LogSetupError) as refused:
            setup_logging(file=pipe)
    finally:
        done.set()
        thread.join()
        logger.remove()
        for reader in readers:
            os.close(reader)
    assert str(refused.value) == (f"log.file: {pipe} is a named pipe (FIFO), not a file: the daemon rotates its log "
                                  "file, so name a plain one (stderr is logged either way)")


@pytest.mark.parametrize("under", ["y.log", "sub/y.log"])
def test_a_log_file_under_a_file_names_that_file_as_not_a_folder(tmp_path: Path, under: str):
    # Before: "cannot write x/y.log: File exists" (mkdir's error for x) or "Not a directory".
    from runner.daemon.logging_setup import LogSetupError

    blocker = tmp_path / "x"
    blocker.write_text("a file\n")
    with pytest.raises(LogSetupError) as refused:
        setup_logging(file=blocker / under)
    assert str(refused.value) == f"log.file: cannot write {blocker / under}: {blocker} is a file, not a folder"
    assert blocker.read_text() == "a file\n"
