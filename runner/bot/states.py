"""The states of a bot's runner."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["RunnerState"]


class RunnerState(StrEnum):
    """Where a runner is in its life; every state but CREATED and RUNNING is final for a run."""

    CREATED = "created"
    RUNNING = "running"
    FINISHED = "finished"      # the data ended
    STOPPED = "stopped"        # asked to stop
    KILLED = "killed"          # the kill switch tripped; stays latched
    FAILED = "failed"          # raised; see `last_error`
