"""Feature spec strings: what a strategy may ask for, and the keys its values come under.

    spec              keys in MarketView.features
    sma:N             sma:N
    ema:N             ema:N
    rsi:N             rsi:N
    bb:N:DEV          bb:N:DEV:upper, bb:N:DEV:middle, bb:N:DEV:lower
    atr:N             atr:N
    volatility:N      volatility:N            (N >= 2)
    volume_ratio:N    volume_ratio:N
    vwap:day          vwap:day

N is a whole number from 1 to 10,000 written without a sign or leading zeros ("ema:12", not
"ema:012"), so one period has one key. DEV is a decimal without sign or exponent ("2", "2.0",
"0.5") and is kept as written: "bb:20:2" and "bb:20:2.0" are two specs with two sets of keys,
computed once between them (a `FeatureSet` computes per `FeatureSpec.compute_key`, where DEV is
the float). Anything else raises ValueError naming the spec and listing what is allowed, ready
to show under a bot's config.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NamedTuple

MAX_PERIOD = 10_000
ALLOWED = ("sma:N", "ema:N", "rsi:N", "bb:N:DEV", "atr:N", "volatility:N", "volume_ratio:N", "vwap:day")
_ALLOWED_TEXT = (", ".join(ALLOWED) + f" (N a whole number from 1 to {MAX_PERIOD:,}, 2 or more for volatility; "
                 "DEV a decimal such as 2 or 2.5)")

_PERIOD_KINDS = {"sma": 1, "ema": 1, "rsi": 1, "atr": 1, "volatility": 2, "volume_ratio": 1}  # kind: least N
_PERIOD = re.compile(r"[1-9][0-9]*")
_DEV = re.compile(r"[0-9]+(\.[0-9]+)?")
# Anchors VWAP resets at: "day" is the UTC day, or the session's trading day for a bot with a
# `session:` (its zone's midnight, or its open for a session crossing midnight).
VWAP_ANCHORS = ("day",)
BAND_PARTS = ("upper", "middle", "lower")


class FeatureSpec(NamedTuple):
    """One parsed spec. `text` is the spec as written; `keys` are its output keys, in the order
    `FeatureSet` fills them; two specs with the same `compute_key` share one computation."""

    text: str
    kind: str                     # "sma", "ema", "rsi", "bb", "atr", "volatility", "volume_ratio", "vwap"
    period: int | None = None     # N; None for vwap
    dev: float | None = None      # bb's DEV
    anchor: str | None = None     # vwap's anchor: "day"

    @property
    def keys(self) -> tuple[str, ...]:
        if self.kind == "bb":
            return tuple(f"{self.text}:{part}" for part in BAND_PARTS)
        return (self.text,)

    @property
    def by_day(self) -> bool:
        """Whether the values depend on where days are cut (a bot's session cuts them in its zone)."""
        return self.kind == "vwap"

    @property
    def compute_key(self) -> tuple[str, int | float | str | None, ...]:
        return (self.kind, self.period, self.dev, self.anchor)


def parse_spec(text: str) -> FeatureSpec:
    """The `FeatureSpec` of `text`, e.g. `parse_spec("bb:20:2").keys[0] == "bb:20:2:upper"`.

    Raises ValueError for anything outside the grammar (see the module docstring), with the
    allowed forms in the message.
    """
    if not isinstance(text, str):
        raise ValueError(f"unknown feature {text!r}: a feature is a string; allowed: {_ALLOWED_TEXT}")
    kind, *args = text.split(":")
    if kind in _PERIOD_KINDS and len(args) == 1:
        return FeatureSpec(text, kind, _period(text, args[0], least=_PERIOD_KINDS[kind]))
    if kind == "bb" and len(args) == 2:
        if not _DEV.fullmatch(args[1]):
            raise _bad(text, f"DEV must be a decimal such as 2 or 2.5, got {args[1]!r}")
        return FeatureSpec(text, kind, _period(text, args[0], least=1), dev=float(args[1]))
    if kind == "vwap" and len(args) == 1:
        if args[0] not in VWAP_ANCHORS:
            raise _bad(text, f"VWAP anchors at {', '.join(VWAP_ANCHORS)} (sessions are not defined yet)")
        return FeatureSpec(text, kind, anchor=args[0])
    if kind in _PERIOD_KINDS or kind in ("bb", "vwap"):
        raise _bad(text, "wrong number of ':' parts")
    raise ValueError(f"unknown feature {text!r}; allowed: {_ALLOWED_TEXT}")


def parse_specs(texts: Iterable[str]) -> tuple[FeatureSpec, ...]:
    """Each distinct spec once, in first-seen order; raises ValueError on the first bad one."""
    return tuple(parse_spec(text) for text in dict.fromkeys(texts))


def _period(text: str, arg: str, *, least: int) -> int:
    if len(arg) > 5 or not _PERIOD.fullmatch(arg) or not least <= int(arg) <= MAX_PERIOD:
        raise _bad(text, f"N must be a whole number from {least} to {MAX_PERIOD:,} without leading zeros, got {arg!r}")
    return int(arg)


def _bad(text: str, reason: str) -> ValueError:
    return ValueError(f"bad feature {text!r}: {reason}; allowed: {_ALLOWED_TEXT}")
