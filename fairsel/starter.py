"""``fairsel init``: a starter policy for a dataset, with likely protected columns to confirm."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from fairsel.data import read_table
from fairsel.errors import DataError, UsageError, did_you_mean

#: Column names that usually hold a protected characteristic (to be confirmed by the user):
#: one of these words, between the name's ends, '_' or any other character but a letter or digit.
PROTECTED_HINTS = re.compile(
    r"(?<![a-z0-9])(sex|gender|race|ethnic\w*|age|age_cat|religion|nationality|"
    r"national_origin|native_country|citizenship|marital\w*|disability|foreign\w*|pregnan\w*)"
    r"(?![a-z0-9])", re.I)


#: Two target values that say by themselves which is favorable (favorable first).
FAVORABLE_PAIRS = [("good", "bad"), ("approved", "denied"), ("approved", "rejected"),
                   ("approve", "deny"), ("accepted", "rejected"), ("accept", "reject"),
                   ("granted", "denied"), ("pass", "fail"), ("passed", "failed"),
                   ("hired", "rejected"), ("eligible", "ineligible")]

#: Two target values that say yes or no (favorable first): yes is favorable only when the
#: target's name does not name an adverse event (see ADVERSE_HINTS).
YES_NO_PAIRS = [("yes", "no"), ("y", "n"), ("1", "0"), ("1.0", "0.0"), ("true", "false")]

#: Target names that say "yes" is the unfavorable outcome (two_year_recid, default, churn...).
ADVERSE_HINTS = re.compile(
    r"recid|reoffen|default|delinq|fraud|churn|arrest|fail|reject|den(y|ied)|bad|risk|"
    r"death|dead|died|mortal|readmi|charge_?off|loss|violat|crime|accident|dropout|sick",
    re.I)


def choose_favorable(target: str, values: list[object]) -> object | None:
    """The favorable one of a binary target's two ``values``, when it is obvious; else None.

    Obvious means: the values are a pair that names its favorable side (good/bad,
    approved/denied, accepted/rejected, pass/fail, ...), or a yes/no pair (yes/no, y/n, 1/0,
    true/false) on a target whose name does not name an adverse event (``two_year_recid``,
    ``default``, ``churn``: there "yes" is the unfavorable outcome).
    """
    texts = {str(v).strip().lower(): v for v in values}
    for fav, other in FAVORABLE_PAIRS:
        if set(texts) == {fav, other}:
            return texts[fav]
    for fav, other in YES_NO_PAIRS:
        if set(texts) == {fav, other} and not ADVERSE_HINTS.search(target):
            return texts[fav]
    return None


def yaml_scalar(value: object) -> str:
    """``value`` as one line of YAML that reads back as the same value (quoted when needed)."""
    import yaml

    for style in (None, '"'):
        text = yaml.safe_dump(value, default_style=style, allow_unicode=True, width=2**30)
        text = text.removesuffix("\n...\n").removesuffix("\n")
        if "\n" not in text and yaml.safe_load(text) == value:
            return text
    raise ValueError(f"cannot write {value!r} as one line of YAML")  # pragma: no cover


def _favorable(frame: pd.DataFrame, data_path: Path, target: str,
               favorable: str | None) -> object:
    """The favorable value as the data holds it (a number stays a number)."""
    counts = frame[target].dropna().value_counts()
    if len(counts) != 2:
        raise DataError(f"{data_path}: target column '{target}' must have two values; found "
                        f"{len(counts)}: " + ", ".join(map(str, counts.index[:10])))
    values = [v.item() if hasattr(v, "item") else v for v in counts.index]
    listed = ", ".join(f"{v!r} ({n:,} rows)" for v, n in zip(values, counts.tolist()))
    if favorable is None:
        chosen = choose_favorable(target, values)
        if chosen is None:
            raise UsageError(
                f"{data_path}: cannot tell which value of target '{target}' is the favorable "
                f"outcome (the one a person hopes for); its values are {listed}: name the "
                f"favorable one with --favorable VALUE")
        return chosen
    for v in values:
        if _same_value(v, favorable):
            return v
    raise UsageError(f"{data_path}: --favorable {_shell(favorable)} is not a value of target "
                     f"'{target}'; its values are {listed}")


def _same_value(value: object, text: str) -> bool:
    """Whether ``--favorable text`` names ``value`` (numbers numerically, booleans in any case)."""
    if isinstance(value, bool):
        return str(value).lower() == text.strip().lower()
    if isinstance(value, int | float):
        try:
            return float(text) == value
        except ValueError:
            return False
    return str(value) == text


def _shell(text: str) -> str:
    import shlex

    return shlex.quote(text)


def starter_policy(data_path: Path, *, target: str, favorable: str | None,
                   policy_path: Path) -> tuple[str, list[str]]:
    """(policy text, notes for the user).

    Every value taken from the data (column names, the favorable value, the file's path) is
    written with :func:`yaml_scalar`, so any name reads back as itself. Intersections are
    audited in pairs (``intersections: 2``).
    """
    frame, _ = read_table(data_path)
    if target not in frame.columns:
        raise DataError(f"{data_path}: target column '{target}' not found"
                        f"{did_you_mean(target, list(frame.columns))}; the columns are: "
                        + ", ".join(frame.columns[:40]))
    fav = _favorable(frame, data_path, target, favorable)
    protected = [c for c in frame.columns if c != target and PROTECTED_HINTS.search(c)]
    try:
        rel = Path(data_path).resolve().relative_to(policy_path.resolve().parent)
    except ValueError:
        rel = Path(data_path).resolve()
    q = yaml_scalar
    lines = [
        "version: 1",
        f"name: {re.sub(r'[^A-Za-z0-9_.-]+', '-', data_path.stem).lstrip('_.-') or 'audit'}",
        f"description: {q(f'Starter policy for {data_path.name} — review every line.')}",
        "seed: 42",
        "",
        "data:",
        f"  path: {q(rel.as_posix())}",
        f"  target: {q(target)}",
        f"  favorable: {q(fav)}    # the favorable outcome: check it",
        "  features: auto",
        "",
        "protected:            # LIKELY protected columns, guessed from their names: confirm",
    ]
    notes = []
    for c in protected:
        col = frame[c]
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col) \
                and col.nunique() > 10:
            lines += [f"  - column: {q(c)}", "    bins: [0, 25, 40, 60, 200]   # adjust the edges",
                      "    labels: [under_25, 25_to_39, 40_to_59, 60_and_over]"]
        else:
            lines.append(f"  - column: {q(c)}")
    if not protected:
        lines.append("  - column: CHANGE_ME   # no column name looked protected: name one")
        notes.append("no likely protected column was found: edit 'protected'")
    else:
        notes.append("likely protected columns (confirm): " + ", ".join(protected))
    if favorable is None:
        notes.append(f"favorable outcome: {fav!s} (check it, or give --favorable)")
    lines += [
        "intersections: 2     # pairs of attributes; true = every combination, false = none",
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
