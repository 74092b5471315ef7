"""Execution settings of a bot, validated from YAML."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from market.limits import Flag, Number
from market.strict import StrictModel


class ExecutionConfig(StrictModel):
    fee_rate: Annotated[Number, Field(ge=0, lt=0.1, description="fee on the filled notional, e.g. 0.001 = 0.1%")] = 0.001
    slippage_bps: Annotated[Number, Field(ge=0, le=1000, description="price moved against market and stop fills")] = 0.0
    stop_on_exchange: Flag = False
    """Live: the fixed stop-loss (`risk.stop_loss_pct`) rests on the exchange as a stop-limit
    order, so it holds while the daemon is down (`execution.exchange_stop`); off: bot-managed."""
    stop_limit_offset_pct: Annotated[Number, Field(gt=0, lt=0.5, description=(
        "how far under the stop (over it, for a short) the stop-limit's limit price sits, e.g. 0.005 = 0.5%"))] = 0.005
