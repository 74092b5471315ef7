"""The market regime detector: a label for every closed candle, from a Gaussian hidden Markov
model over two observations (trend strength and log realized volatility), refitted on recent
history.

- `hmm`: the model in numpy (scaled forward recursion, Baum-Welch), with no I/O and no threads.
- `recursion`: forward-backward's one recursion, run in chunks (a few hundred numpy calls a pass).
- `observations`: the per-candle observations, O(1) per candle.
- `window`: the last `window` observations, kept as numpy rows so that a fit's copy is cheap.
- `labelling`: which label a fitted state gets, from its means (`LabelRule`).
- `detector`: `RegimeDetector` (per-candle filtering; fits handed out as `FitRequest`s for the
  caller to run where it likes), `fit_regime_model`, and `label_history` for a list of closes.

Pure code: no I/O, no clock. Where fits run and who shares a detector is `runner.regime`.
"""

from strategies.regime.detector import (
    KNOWN_REGIMES, FitRequest, RegimeDetector, RegimeModel, RegimeSettings, fit_regime_model, label_history,
)
from strategies.regime.labelling import LabelRule

__all__ = [
    "KNOWN_REGIMES", "FitRequest", "LabelRule", "RegimeDetector", "RegimeModel", "RegimeSettings",
    "fit_regime_model", "label_history",
]
