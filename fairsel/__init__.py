"""fairsel: choose a machine learning model fit to deploy when fairness matters."""

from __future__ import annotations

__version__ = "0.1.0"
