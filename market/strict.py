"""The base of every config model: frozen, and an unknown key is an error.

```python
class RiskConfig(StrictModel):
    stake_pct: Fraction = 0.95
```

A typo in YAML (`stop_los_pct: 0.05`) is then reported instead of silently dropped, and a
validated config cannot be changed after the checks ran. Subclasses inherit `model_config`, so
none repeats it; one that needs more settings declares only those
(`model_config = ConfigDict(populate_by_name=True)`), and pydantic merges them with these.

It lives in `market` for the reason `market.limits` does: `market` is the package every other one
already imports (runner -> strategies, risk, execution, portfolio -> market), so the config
models of all packages can share it without an import pointing the wrong way. It is a module of
its own because `limits` is about numbers and this is about models.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """A pydantic model that is frozen and rejects unknown keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)
