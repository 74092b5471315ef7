"""What the risk engine answers for one signal."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from execution.models import Side


class Verdict(StrEnum):
    APPROVE = "approve"      # send the order as sized here
    REJECT = "reject"        # send nothing; `reason` says why
    KILL = "kill"            # trip the kill switch; `reason` says why


@dataclass(slots=True, frozen=True)
class RiskDecision:
    """An approved order's side and size, or why there is none.

    Exactly one of `quantity` and `quote_amount` is set on an approval: exits sell a quantity,
    entries spend a quote amount (the fill price is not known until the order fills).
    """

    verdict: Verdict
    reason: str
    side: Side | None = None
    quantity: float | None = None
    quote_amount: float | None = None
    stop_loss_pct: float | None = None
    take_profit_pct: float | None = None

    @property
    def approved(self) -> bool:
        return self.verdict is Verdict.APPROVE


def reject(reason: str) -> RiskDecision:
    return RiskDecision(Verdict.REJECT, reason)
