"""`ClusterConfig`: the `cluster:` block of daemon.yaml, and the check of what it names.

```yaml
cluster:
  node: node-a                       # this daemon's name; unique in the cluster
  redis_url_env: BOTRUNNER_REDIS_URL         # the NAME of the variable holding redis://...
  postgres_url_env: BOTRUNNER_POSTGRES_URL   # and of the one holding postgresql://...
  lease_secs: 10                     # a bot's lease; a dead node's bots move within this
  key_prefix: botrunner              # Redis keys start with "<key_prefix>:"
  kill_all_at_loss_pct: 0.2          # optional: kill --all once the cluster's bots lost 20% together
```

URLs carry passwords, so YAML names the environment variables and the daemon reads them when it
starts (`cluster_problems` checks them before anything opens). Without a `cluster:` block the
daemon is the embedded one: SQLite and JSON files, nothing to install.

The lease's timings all follow from `lease_secs` (see `LeaseTimings`): a node renews every
third of it, and a node whose renewals have not come back for `stop_after` of it stops that
bot's runner by its own clock, before the lease ends in Redis and another node may take it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field

from market.limits import Number, url_port_problem
from market.strict import StrictModel

__all__ = ["ClusterConfig", "LeaseTimings", "cluster_problems", "redacted"]

EnvName = Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]{0,127}$",
                               description="an environment variable name in capitals, e.g. BOTRUNNER_REDIS_URL")]
NodeName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$",
                                description="lower-case letters, digits, - and _ (e.g. node-a)")]
KeyPrefix = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="letters, digits, _ . and -")]

REDIS_SCHEMES = ("redis", "rediss", "unix")
POSTGRES_SCHEMES = ("postgres", "postgresql")


class ClusterConfig(StrictModel):
    node: NodeName
    redis_url_env: EnvName = "BOTRUNNER_REDIS_URL"
    postgres_url_env: EnvName = "BOTRUNNER_POSTGRES_URL"
    lease_secs: Annotated[Number, Field(ge=1, le=600)] = 10.0
    """A bot's lease in Redis. At least 1 s: a lease renewed every third of it must survive a
    busy event loop's pause; at most ten minutes, or a dead node's bots wait that long."""
    key_prefix: KeyPrefix = "botrunner"
    kill_all_at_loss_pct: Annotated[Number, Field(gt=0, le=1)] | None = None
    """An account-level rule: `kill --all` when the running bots of the whole cluster together
    have lost this share of their capital (0.2: 20%), checked by every node at every round
    from the status rows the owners publish. None: no such rule."""

    def timings(self) -> LeaseTimings:
        return LeaseTimings(self.lease_secs)


@dataclass(slots=True, frozen=True)
class LeaseTimings:
    """Derived from the lease's length, in seconds.

    renew_secs: how often a node renews its leases and its heartbeat (a third of the lease: two
      renewals may fail before the lease is at risk).
    stop_after_secs: a bot whose last successful renewal was *sent* this long ago is stopped by
      its node (0.75 of the lease). Measured from when the request left, never from the reply,
      so a slow reply cannot stretch it; a quarter of the lease is left for the runner to stop
      and for the two machines' clocks to disagree on how long a second is.
    """

    lease_secs: float

    @property
    def lease_ms(self) -> int:
        return max(1, round(self.lease_secs * 1000))

    @property
    def renew_secs(self) -> float:
        return self.lease_secs / 3

    @property
    def stop_after_secs(self) -> float:
        return self.lease_secs * 0.75


def cluster_problems(config: ClusterConfig, environ: Mapping[str, str], where: str) -> list[str]:
    """What is wrong with the variables `config` names, one line each (`where` names the file):
    unset, empty, or a URL of another kind. Messages never hold the URL (it may hold a password)."""
    problems = []
    for field, name, schemes, example in (
            ("redis_url_env", config.redis_url_env, REDIS_SCHEMES, "redis://127.0.0.1:6379/0"),
            ("postgres_url_env", config.postgres_url_env, POSTGRES_SCHEMES,
             "postgresql://botrunner:PASSWORD@127.0.0.1:5432/botrunner")):
        value = environ.get(name, "").strip()
        if not value:
            problems.append(f"{where}: cluster.{field}: set the URL in the environment variable {name} "
                            f"(e.g. {example})")
            continue
        scheme = urlsplit(value).scheme
        if scheme not in schemes:
            problems.append(f"{where}: cluster.{field}: {name} must hold a URL starting "
                            f"{' or '.join(s + '://' for s in schemes)}, not {scheme + '://' if scheme else 'no scheme'}")
        elif (port_problem := url_port_problem(value)) is not None:    # a host may be absent: a socket's path
            problems.append(f"{where}: cluster.{field}: {name}: {port_problem}")
    return problems


def redacted(url: str) -> str:
    """`url` without its password, for log lines: redis://:***@127.0.0.1:6379/0."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return parts._replace(netloc=f"{user}:***@{host}{port}").geturl()
