"""The feature engine: technical features computed once per candle stream, read by strategies.

A strategy declares what it reads (`Strategy.features`, spec strings such as `"ema:12"`,
`"bb:20:2"`, `"vwap:day"`) and finds the values in `MarketView.features` under their keys
(`"ema:12"`, `"bb:20:2:upper"`, ...), None while a feature warms up. The grammar and keys are in
`strategies.features.specs`.

- `FeatureSet(specs).update(candle)`: the values of a set of specs for each closed candle,
  incremental, O(1) per candle (no pandas); `AnchoredVWAP` is the VWAP behind `vwap:day`.
- `FeatureHub().shared(stream_key, specs)`: the `SharedFeatures` of a stream, whose
  `values_for(candle)` computes each candle once for every bot reading that stream.

Pure code: no I/O, no clock; time comes from the candles' `ts_ms`.
"""

from strategies.features.feature_set import AnchoredVWAP, FeatureSet, utc_day
from strategies.features.sharing import DEFAULT_MAX_CANDLES, FeatureHub, SharedFeatures
from strategies.features.specs import ALLOWED, FeatureSpec, parse_spec, parse_specs

__all__ = [
    "ALLOWED", "DEFAULT_MAX_CANDLES", "AnchoredVWAP", "FeatureHub", "FeatureSet", "FeatureSpec",
    "SharedFeatures", "parse_spec", "parse_specs", "utc_day",
]
