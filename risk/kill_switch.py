"""The kill switch latch: once tripped it stays tripped until someone resets it on purpose."""

from __future__ import annotations

from typing import Any


class KillSwitch:
    __slots__ = ("tripped", "reason", "ts_ms")
    shared = False      # one bot's own; a basket's legs share one (`runner.basket.group.BasketKillSwitch`)

    def __init__(self) -> None:
        self.tripped = False
        self.reason = ""
        self.ts_ms = 0

    def trip(self, reason: str, ts_ms: int) -> bool:
        """Latch with `reason`; returns False (and keeps the first reason) if already tripped."""
        if self.tripped:
            return False
        self.tripped, self.reason, self.ts_ms = True, reason, ts_ms
        return True

    def reset(self) -> None:
        self.tripped, self.reason, self.ts_ms = False, "", 0

    def snapshot(self) -> dict[str, Any]:
        return {"tripped": self.tripped, "reason": self.reason, "ts_ms": self.ts_ms}

    def restore(self, data: dict[str, Any]) -> None:
        self.tripped, self.reason, self.ts_ms = data["tripped"], data["reason"], data["ts_ms"]
