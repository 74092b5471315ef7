"""`BackoffSettings`: the retry delays a config block shares (the supervisor, notifications)."""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import Field, model_validator

from market.limits import Number
from market.strict import StrictModel


class BackoffSettings(StrictModel):
    """Waits doubling from `backoff_initial_secs` up to `backoff_max_secs`."""

    backoff_initial_secs: Annotated[Number, Field(ge=0, le=3600)] = 1.0
    backoff_max_secs: Annotated[Number, Field(ge=0, le=3600)] = 60.0

    @model_validator(mode="after")
    def _backoff_grows_to_its_max(self) -> Self:
        if self.backoff_initial_secs > self.backoff_max_secs:
            raise ValueError(f"backoff_initial_secs ({self.backoff_initial_secs:g}) must not be "
                             f"above backoff_max_secs ({self.backoff_max_secs:g})")
        return self
