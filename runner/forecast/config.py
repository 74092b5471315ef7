"""`ModelConfig`: which prediction model a bot asks, and how patiently, validated from YAML.

```yaml
model:
  url: http://127.0.0.1:8780/forecast   # http or https; no user:password@ in it
  name: ar5                             # default: the URL's host (with its port, if written)
  headers_env: {Authorization: MODEL_TOKEN}   # header -> the environment variable holding its value
  timeout_secs: 2                       # the whole call, retries included
  horizon: 60m                          # what the forecast is for: s, m, h, d or w
  candles: 100                          # how many recent candles to send
  retries: 2                            # after a 5xx, a connection error or a connect time-out
  backoff_secs: 0.2                     # doubled at each retry, never past the deadline
  breaker_failures: 3                   # this many failed calls in a row open the breaker
  breaker_reset_secs: 60                # then one trial call may close it again
  replay: null                          # a recorded forecast file: no HTTP at all (backtests)
```

Header values never appear here: YAML names environment variables, and `ModelClient` reads
them when it is built.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from market.limits import Number, WholeNumber, reachable_url
from market.models import timeframe_ms
from market.strict import StrictModel

__all__ = ["ModelConfig"]

EnvName = Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]{0,127}$",
                               description="an environment variable name in capitals, e.g. MODEL_TOKEN")]
HeaderName = Annotated[str, Field(pattern=r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$", description="an HTTP header name")]
ModelName = Annotated[str, Field(pattern=r"^[A-Za-z0-9\[][A-Za-z0-9._:/@\[\]-]{0,63}$",
                                 description="letters, digits and ._:/@-, at most 64")]


class ModelConfig(StrictModel):
    url: Annotated[str, Field(pattern=r"^https?://[^\s/?#]+[^\s]*$", description="an http(s) URL")] | None = None
    name: ModelName | None = None
    """Names the model in forecasts, logs, status and metrics. Default: the URL's host, with
    its port when the URL has one; with only `replay`, the one model the file holds."""
    headers_env: dict[HeaderName, EnvName] = {}
    timeout_secs: Annotated[Number, Field(gt=0, le=60)] = 2.0
    """The most a call may take, all attempts and backoff included: what a bot waits at worst."""
    horizon: Annotated[str, Field(description="a duration such as 15m, 60m, 1h or 1d")] = "60m"
    candles: Annotated[WholeNumber, Field(ge=1, le=5000)] = 100
    retries: Annotated[WholeNumber, Field(ge=0, le=10)] = 2
    backoff_secs: Annotated[Number, Field(ge=0, le=10)] = 0.2
    breaker_failures: Annotated[WholeNumber, Field(ge=1, le=1000)] = 3
    breaker_reset_secs: Annotated[Number, Field(gt=0, le=86_400)] = 60.0
    replay: Path | None = None
    """A forecast file (`runner.forecast.replay`): forecasts are read from it, never asked."""

    @field_validator("url")
    @classmethod
    def _no_credentials_in_url(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value)
            if parts.username is not None or parts.password is not None:
                # The URL is logged and shown in errors; a secret belongs in headers_env.
                raise ValueError("the URL must not carry a user or password; put credentials in headers_env")
            reachable_url(value)
        return value

    @field_validator("horizon")
    @classmethod
    def _horizon_is_a_duration(cls, value: str) -> str:
        try:
            timeframe_ms(value)
        except ValueError:
            raise ValueError("horizon must be a count and a unit (s, m, h, d, w), e.g. 60m or 1h; "
                             f"got {value!r}") from None
        return value

    @model_validator(mode="before")
    @classmethod
    def _default_name(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("name") is None and isinstance(data.get("url"), str):
            try:
                parts = urlsplit(data["url"])
                if parts.hostname:
                    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
                    data = {**data, "name": host if parts.port is None else f"{host}:{parts.port}"}
            except ValueError:
                pass  # the url validator reports it
        return data

    @model_validator(mode="after")
    def _url_or_replay(self) -> ModelConfig:
        if self.url is None and self.replay is None:
            raise ValueError("set url (a model to ask) or replay (a forecast file to read)")
        return self

    @property
    def horizon_ms(self) -> int:
        return timeframe_ms(self.horizon)

    @property
    def horizon_secs(self) -> int:
        """The horizon in whole seconds, as the request carries it (at least 1)."""
        return max(1, self.horizon_ms // 1000)
