"""The kill switch latch: once tripped it stays tripped until someone resets it on purpose."""

from __future__ import annotations

from typing import Any


class KillSwitch:
    __slots__ = ("tripped", "reason", "ts_ms", "resets")
    shared = False      # one bot's own; a basket's legs share one (`runner.basket.group.BasketKillSwitch`)

    def __init__(self) -> None:
        self.tripped = False
        self.reason = ""
        self.ts_ms = 0
        # Resets so far: a kill after a resume is another event than the one before it, even on
        # the same candle (its journal key counts them; `runner.bot.kill_flow`).
        self.resets = 0

    def trip(self, reason: str, ts_ms: int) -> bool:
        """Latch with `reason`; returns False (and keeps the first reason) if already tripped."""
        if self.tripped:
            return False
        self.tripped, self.reason, self.ts_ms = True, reason, ts_ms
        return True

    def reset(self) -> None:
        self.tripped, self.reason, self.ts_ms = False, "", 0
        self.resets += 1

    def snapshot(self) -> dict[str, Any]:
        state: dict[str, Any] = {"tripped": self.tripped, "reason": self.reason, "ts_ms": self.ts_ms}
        if self.resets:
            state["resets"] = self.resets
        return state

    def restore(self, data: dict[str, Any]) -> None:
        self.tripped, self.reason, self.ts_ms = data["tripped"], data["reason"], data["ts_ms"]
        self.resets = data.get("resets", 0)
