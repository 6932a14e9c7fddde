"""The audit's categorical features as integer codes, factorized once for every analysis.

The proxy screen and the worst-slice search both read each categorical feature as codes; on a
million rows of text a factorization is a noticeable share of either, so the audit builds one
:class:`FeatureCodes` and hands it to both.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


class FeatureCodes:
    """Lazily factorized categorical columns of one feature frame."""

    def __init__(self, X: pd.DataFrame) -> None:
        self.X = X
        self._done: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def categorical(self, column: str) -> tuple[np.ndarray, np.ndarray]:
        """(codes, categories) of ``column`` in order of appearance, as ``pd.factorize``:
        a missing value has the code -1."""
        if column not in self._done:
            codes, uniques = pd.factorize(self.X[column], use_na_sentinel=True)
            self._done[column] = (np.asarray(codes, dtype=np.int64), np.asarray(uniques))
        return self._done[column]


def categorical_codes(x: pd.Series, codes: FeatureCodes | None = None,
                      column: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``x`` factorized (missing: -1), from ``codes`` when given (``column`` names it)."""
    if codes is not None and column is not None:
        return codes.categorical(column)
    c, u = pd.factorize(x, use_na_sentinel=True)
    return np.asarray(c, dtype=np.int64), np.asarray(u)
