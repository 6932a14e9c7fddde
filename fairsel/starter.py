"""``fairsel init``: a starter policy for a dataset, with likely protected columns to confirm."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from fairsel.data import read_table
from fairsel.errors import DataError, did_you_mean

#: Column names that usually hold a protected characteristic (to be confirmed by the user).
PROTECTED_HINTS = re.compile(
    r"(^|_)(sex|gender|race|ethnic\w*|age|age_cat|religion|nationality|national_origin|"
    r"native_country|citizenship|marital\w*|disability|foreign\w*|pregnan\w*)($|_)", re.I)


def starter_policy(data_path: Path, *, target: str, favorable: str | None,
                   policy_path: Path) -> tuple[str, list[str]]:
    """(policy text, notes for the user)."""
    frame, _ = read_table(data_path)
    if target not in frame.columns:
        raise DataError(f"{data_path}: target column '{target}' not found"
                        f"{did_you_mean(target, list(frame.columns))}; the columns are: "
                        + ", ".join(frame.columns[:40]))
    values = frame[target].dropna().value_counts()
    if len(values) != 2:
        raise DataError(f"{data_path}: target column '{target}' must have two values; found "
                        f"{len(values)}: " + ", ".join(map(str, values.index[:10])))
    fav = favorable if favorable is not None else str(values.index[0])
    protected = [c for c in frame.columns if c != target and PROTECTED_HINTS.search(c)]
    try:
        rel = Path(data_path).resolve().relative_to(policy_path.resolve().parent)
    except ValueError:
        rel = Path(data_path).resolve()
    lines = [
        "version: 1",
        f"name: {re.sub(r'[^A-Za-z0-9_.-]+', '-', data_path.stem) or 'audit'}",
        f"description: Starter policy for {data_path.name} — review every line.",
        "seed: 42",
        "",
        "data:",
        f"  path: {rel.as_posix()}",
        f"  target: {target}",
        f"  favorable: {fav!r}    # the favorable outcome: check it",
        "  features: auto",
        "",
        "protected:            # LIKELY protected columns, guessed from their names: confirm",
    ]
    notes = []
    for c in protected:
        col = frame[c]
        if pd.api.types.is_numeric_dtype(col) and col.nunique() > 10:
            lines += [f"  - column: {c}", "    bins: [0, 25, 40, 60, 200]   # adjust the edges",
                      "    labels: [under_25, 25_to_39, 40_to_59, 60_and_over]"]
        else:
            lines.append(f"  - column: {c}")
    if not protected:
        lines.append("  - column: CHANGE_ME   # no column name looked protected: name one")
        notes.append("no likely protected column was found: edit 'protected'")
    else:
        notes.append("likely protected columns (confirm): " + ", ".join(protected))
    lines += [
        "intersections: true",
        "min_group_size: 30",
        "",
        "validation:",
        "  scheme: stratified_group_kfold",
        "  folds: 5",
        "  groups: null        # a cluster column (branch, household) keeps its rows in one fold",
        "",
        "candidates:",
        "  - {name: logreg, kind: sklearn, estimator: logistic_regression}",
        "  - {name: forest, kind: sklearn, estimator: random_forest}",
        "  - {name: gbm, kind: lightgbm, params: {n_estimators: 200, learning_rate: 0.05}}",
        "",
        "gates:",
        "  - {metric: disparate_impact, min: 0.8}",
        "  - {metric: equal_opportunity_difference, max: 0.1}",
        "  - {metric: roc_auc, min: 0.7, severity: warn}",
        "",
        "ranking:",
        "  objective: roc_auc",
        "  tolerance: 0.01",
        "  fairness_tiebreak: disparate_impact",
        "",
    ]
    return "\n".join(lines), notes
