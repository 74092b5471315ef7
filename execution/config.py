"""Execution settings of a bot, validated from YAML."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from market.limits import Number
from market.strict import StrictModel


class ExecutionConfig(StrictModel):
    fee_rate: Annotated[Number, Field(ge=0, lt=0.1, description="fee on the filled notional, e.g. 0.001 = 0.1%")] = 0.001
    slippage_bps: Annotated[Number, Field(ge=0, le=1000, description="price moved against market and stop fills")] = 0.0
