"""The snapshot writer thread: batches, per-bot flushes, and files that cannot be written."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from runner.state.snapshots import SnapshotStore, SnapshotWriter


class GatedStore(SnapshotStore):
    """A real store whose writes wait for `gate` while a bot named in `held` is in the batch."""

    def __init__(self, folder, held=()) -> None:
        super().__init__(folder)
        self.held = set(held)
        self.gate = threading.Event()
        self.writing = threading.Event()
        self.batches: list[list[str]] = []

    def write_encoded_many(self, documents, *, pool=None):
        self.batches.append(sorted(documents))
        if self.held & documents.keys():
            self.writing.set()
            self.gate.wait(10)
        return super().write_encoded_many(documents, pool=pool)


def test_snapshots_queued_behind_a_slow_write_go_out_together(tmp_path):
    store = GatedStore(tmp_path, held={"first"})
    writer = SnapshotWriter(store)
    try:
        writer.submit("first", {"bars": 1})
        assert store.writing.wait(10)
        for name in ("b", "c", "d"):
            writer.submit(name, {"bars": 2})
        store.gate.set()
        assert writer.flush(10)
        assert store.batches == [["first"], ["b", "c", "d"]]
        assert [store.read(n)["bars"] for n in ("first", "b", "c", "d")] == [1, 2, 2, 2]
    finally:
        store.gate.set()
        writer.close()


async def test_a_bot_waits_for_its_own_snapshot_not_for_the_others(tmp_path):
    store = GatedStore(tmp_path, held={"slow"})
    writer = SnapshotWriter(store)
    try:
        writer.submit("slow", {"bars": 1})
        assert await asyncio.to_thread(store.writing.wait, 10)
        await asyncio.wait_for(writer.aflush("other"), 10)      # nothing of its own pending
        assert not writer.flush(0.01, bot_id="slow")             # its own is still being written
        assert not writer.flush(0.01)
        store.gate.set()
        await asyncio.wait_for(writer.aflush("slow"), 10)
        assert store.read("slow") == {"bars": 1}
    finally:
        store.gate.set()
        writer.close()


@pytest.mark.parametrize("threads", [0, 4])
def test_a_snapshot_that_cannot_be_written_does_not_stop_the_others(tmp_path, threads):
    store = SnapshotStore(tmp_path)
    store.path("blocked").with_suffix(".json.tmp").mkdir()     # its temp file cannot be opened
    documents = {"blocked": b"{}", **{f"fine-{i}": b'{"x":%d}' % i for i in range(20)}}
    with ThreadPoolExecutor(threads or 1) as pool:
        failed = store.write_encoded_many(documents, pool=pool if threads else None)
    assert list(failed) == ["blocked"] and isinstance(failed["blocked"], OSError)
    assert [store.path(f"fine-{i}").read_bytes() for i in range(20)] == [b'{"x":%d}' % i for i in range(20)]
    assert not store.path("blocked").exists() and len(list(tmp_path.glob("*.tmp"))) == 1
