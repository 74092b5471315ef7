"""`NotificationsConfig`: the `notifications:` block of daemon.yaml.

```yaml
notifications:
  urls_env: [BOTRUNNER_NOTIFY_URL]   # the NAMES of variables holding apprise URLs (they hold tokens)
  events: [kill, failed, daemon, daily]   # add fill for every fill of fill_modes' bots
  fill_modes: [live]
  daily_at: "00:00"                  # time of the daily summary, in daily_time_zone
  daily_time_zone: UTC               # an IANA name, e.g. America/New_York: the summary follows its DST
  queue_size: 100                    # per URL variable; a full queue drops (counted), never waits
  retries: 3                         # after a failed send, with backoff doubling from
  backoff_initial_secs: 1            #   1 s up to
  backoff_max_secs: 60               #   60 s
  send_timeout_secs: 10              # one attempt at most
  drain_secs: 5                      # at shutdown, what is queued gets this long to go out
```

URLs never appear here (they carry bot tokens and webhook secrets): YAML names environment
variables, and the daemon reads them when it starts.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from market.limits import Number, WholeNumber
from runner.config.backoff import BackoffSettings
from runner.config.session import TimeZoneName

__all__ = ["EVENTS", "NotificationsConfig"]

EVENTS = ("kill", "failed", "daemon", "fill", "daily")
"""kill: a kill switch tripped, by a rule or by hand; failed: the supervisor gave up on a bot;
daemon: the daemon started or stopped; fill: a fill of a bot in `fill_modes`; daily: the summary."""

EnvName = Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]{0,127}$",
                               description="an environment variable name in capitals, e.g. BOTRUNNER_NOTIFY_URL")]
Event = Literal["kill", "failed", "daemon", "fill", "daily"]
ClockTime = Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$",
                                 description="HH:MM from 00:00 to 23:59, in daily_time_zone")]


class NotificationsConfig(BackoffSettings):
    urls_env: Annotated[list[EnvName], Field(min_length=1, max_length=20)]
    events: list[Event] = ["kill", "failed", "daemon", "daily"]
    fill_modes: list[Literal["sim", "paper", "live"]] = ["live"]
    """Whose fills are sent with `fill` in `events`. Live by default: a sim replay fills
    thousands of times a second, which no chat wants."""
    daily_at: ClockTime = "00:00"
    daily_time_zone: TimeZoneName = "UTC"
    """The zone `daily_at` is read in; a daemon whose bots trade a market's session sets the
    market's zone, so the summary comes at the same local time all year."""
    queue_size: Annotated[WholeNumber, Field(ge=1, le=100_000)] = 100
    retries: Annotated[WholeNumber, Field(ge=0, le=20)] = 3
    send_timeout_secs: Annotated[Number, Field(gt=0, le=300)] = 10.0
    drain_secs: Annotated[Number, Field(ge=0, le=300)] = 5.0

    @model_validator(mode="after")
    def _names_are_unique(self) -> Self:
        if len(set(self.urls_env)) != len(self.urls_env):
            raise ValueError(f"urls_env names a variable twice: {self.urls_env}")
        return self

    @property
    def daily_at_minutes(self) -> int:
        """`daily_at` as minutes after local midnight of `daily_time_zone`."""
        hours, minutes = self.daily_at.split(":")
        return int(hours) * 60 + int(minutes)
