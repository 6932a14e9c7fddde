"""Proxy screen: how recoverable each protected attribute is from the features in the data.

It judges the data (the policy's features), once for the whole audit: what the features reveal
about each attribute, not whether a model uses them (a score made elsewhere, ``kind:
predictions``, may use none of them; the audit cannot see its inputs).

For each protected attribute (rows of a known group only: "unknown" is not a group to recover)
and each feature other than the attribute's own column(s):

- **NMI**: the normalised mutual information between the feature and the attribute
  (arithmetic normalisation, as scikit-learn's ``normalized_mutual_info_score``), from the
  feature-by-group contingency table. Numeric features are cut into ``bins`` quantile bins
  (missing values form their own bin); categoricals keep their categories.
- **AUC**: the macro one-vs-rest AUC of a one-feature model whose score for group *g* is the
  share of *g* among the rows of the same category or bin, learnt on the other folds (the
  audit's own folds: no row is scored by rates its own fold contributed to). The contingency
  tables of every fold come from one ``np.bincount`` per feature; the AUC from the table of
  score levels, without sorting rows.

And the cross-validated macro one-vs-rest AUC of a LightGBM model predicting the attribute
from all those features together, in the audit's folds, on at most ``max_rows`` rows drawn
with the seed (small fixed parameters, one thread).

The function is pure: arrays and a frame in, a frozen :class:`~fairsel.results.ProxyScreen` out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fairsel.analysis.features import FeatureCodes, categorical_codes
from fairsel.mitigation import PROXY_FREE as _PROXY_FREE
from fairsel.results import ProxyAttribute, ProxyFeature, ProxyScreen

#: LightGBM's parameters for the all-features model: small, fixed, one thread.
MODEL_PARAMS: dict[str, object] = {
    "n_estimators": 50, "learning_rate": 0.1, "num_leaves": 15, "min_child_samples": 20,
    "max_bin": 63, "subsample_for_bin": 50_000, "n_jobs": 1, "verbose": -1,
}
#: The mitigation label (and name suffix) of a variant trained without the features the screen
#: flags (``proxies.exclude_flagged``); defined in fairsel.mitigation, so that the report reads
#: it without importing this module (and pandas).
PROXY_FREE = _PROXY_FREE
#: The group label of missing protected values (data.py), left out of the screen.
UNKNOWN = "unknown"


@dataclass(frozen=True)
class AttributeCodes:
    """One protected attribute: each row's group code, the labels, the columns it comes from."""

    name: str
    codes: np.ndarray
    labels: tuple[str, ...]
    columns: tuple[str, ...]


def encode_feature(x: pd.Series, *, categorical: bool, bins: int,
                   codes_of: FeatureCodes | None = None) -> tuple[np.ndarray, int]:
    """(codes 0..K-1, K): categories, or quantile bins of a numeric (missing: its own code).
    ``codes_of``: the audit's factorized categoricals (``x`` is then one of its columns)."""
    if categorical:
        codes, uniques = categorical_codes(x, codes_of, x.name)
        k = len(uniques)
        codes = np.where(codes < 0, k, codes)
        return codes.astype(np.int64), k + int((codes == k).any())
    codes, k, _ = quantile_bins(np.asarray(x, dtype=np.float64), bins)
    return codes, k


def quantile_bins(v: np.ndarray, bins: int) -> tuple[np.ndarray, int, np.ndarray]:
    """(codes, K, inner edges) of a numeric array cut at its quantiles: bin i holds
    ``edges[i-1] <= v < edges[i]``; missing values get the code ``len(edges) + 1`` (counted in
    K only when there are some)."""
    finite = ~np.isnan(v)
    vals = v[finite]
    if len(vals) == 0:
        return np.zeros(len(v), dtype=np.int64), 1, np.empty(0)
    # a value that is a quantile edge gets its own bin, so a discrete feature of few values
    # keeps them apart
    edges = np.unique(np.quantile(vals, np.linspace(0, 1, bins + 1)[1:-1]))
    if len(edges) <= 32:  # a few comparisons beat a binary search per row
        codes = np.zeros(len(v), dtype=np.int64)
        for e in edges:
            codes += v >= e
    else:
        codes = np.searchsorted(edges, v, side="right").astype(np.int64)
    k = len(edges) + 1
    codes[~finite] = k
    return codes, k + int((~finite).any()), edges


def nmi_from_table(table: np.ndarray) -> float:
    """Normalised mutual information (arithmetic mean of the entropies) of a contingency table,
    as ``sklearn.metrics.normalized_mutual_info_score`` on the rows it counts."""
    t = np.asarray(table, dtype=np.float64)
    t = t[t.sum(axis=1) > 0][:, t.sum(axis=0) > 0]
    if t.shape[0] <= 1 and t.shape[1] <= 1 or t.shape[0] == t.shape[1] == 0:
        return 1.0
    n = t.sum()
    pi, pj = t.sum(axis=1) / n, t.sum(axis=0) / n
    nz = t > 0
    p = t[nz] / n
    mi = float(np.sum(p * (np.log(p) - np.log(np.outer(pi, pj)[nz]))))
    hu = float(-np.sum(pi * np.log(pi)))
    hv = float(-np.sum(pj * np.log(pj)))
    mi = max(mi, 0.0)
    return float(mi / max((hu + hv) / 2, np.finfo(np.float64).eps))


def auc_from_levels(scores: np.ndarray, pos: np.ndarray, neg: np.ndarray) -> float | None:
    """The AUC of scores held by cells with ``pos`` positive and ``neg`` negative rows each
    (ties count one half, as the Mann–Whitney statistic and scikit-learn's roc_auc_score)."""
    levels, inv = np.unique(scores, return_inverse=True)
    p = np.bincount(inv, weights=pos, minlength=len(levels))
    q = np.bincount(inv, weights=neg, minlength=len(levels))
    n_pos, n_neg = p.sum(), q.sum()
    if n_pos == 0 or n_neg == 0:
        return None
    below = np.cumsum(q) - q
    return float(np.sum(p * (below + 0.5 * q)) / (n_pos * n_neg))


def feature_auc(codes: np.ndarray, k: int, groups: np.ndarray, n_groups: int, folds: np.ndarray,
                n_folds: int) -> tuple[float | None, np.ndarray]:
    """(macro one-vs-rest AUC, total table) of the out-of-fold per-level group rates.

    ``table[f, level, g]`` counts fold f's rows of level and group g (one bincount); the
    score of a fold's row for group g is g's share among the other folds' rows of its level
    (g's share among all other folds' rows when they have none of its level).
    """
    idx = (folds * k + codes) * n_groups + groups
    table = np.bincount(idx, minlength=n_folds * k * n_groups).reshape(n_folds, k, n_groups)
    total = table.sum(axis=0)
    other = total[None] - table  # (folds, levels, groups): counts outside each fold
    other_n = other.sum(axis=2, keepdims=True)
    prior = other.sum(axis=1, keepdims=True) / np.maximum(other_n.sum(axis=1, keepdims=True), 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(other_n > 0, other / np.maximum(other_n, 1), prior)
    cell_n = table.sum(axis=2)
    aucs = []
    for g in range(n_groups):
        a = auc_from_levels(rate[:, :, g].ravel(), table[:, :, g].ravel(),
                            (cell_n - table[:, :, g]).ravel())
        if a is not None:
            aucs.append(a)
    return (float(np.mean(aucs)) if aucs else None), total


def macro_auc(groups: np.ndarray, proba: np.ndarray) -> float | None:
    """Macro one-vs-rest AUC of class-probability columns (classes with both sides only)."""
    out = []
    for g in range(proba.shape[1]):
        pos = groups == g
        if pos.all() or not pos.any():
            continue
        a = auc_from_levels(proba[:, g], pos.astype(np.float64), (~pos).astype(np.float64))
        if a is not None:
            out.append(a)
    return float(np.mean(out)) if out else None


def _fit_predict(M: np.ndarray, groups: np.ndarray, train: np.ndarray, test: np.ndarray, *,
                 n_classes: int, categorical: list[int], seed: int) -> np.ndarray:
    """Class probabilities of the ``test`` rows from a LightGBM model fitted on ``train`` rows
    only (row indices into ``M``)."""
    import warnings

    from lightgbm import LGBMClassifier

    present = np.unique(groups[train])
    out = np.zeros((len(test), n_classes))
    if len(present) == 1:
        out[:, present[0]] = 1.0
        return out
    model = LGBMClassifier(**MODEL_PARAMS, random_state=seed)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning)
        model.fit(M[train], groups[train], categorical_feature=categorical or "auto")
        out[:, model.classes_] = model.predict_proba(M[test])
    return out


def all_features_auc(M: np.ndarray, groups: np.ndarray, folds: np.ndarray, n_folds: int, *,
                     n_classes: int, categorical: list[int], seed: int) -> float | None:
    """Cross-validated macro one-vs-rest AUC of LightGBM on all columns of ``M``: each fold's
    rows scored by a model fitted on the other folds' rows."""
    proba = np.zeros((len(groups), n_classes))
    for f in range(n_folds):
        test = np.flatnonzero(folds == f)
        train = np.flatnonzero(folds != f)
        if len(test) == 0 or len(train) == 0:
            continue
        proba[test] = _fit_predict(M, groups, train, test, n_classes=n_classes,
                                   categorical=categorical, seed=seed)
    return macro_auc(groups, proba)


def screen_proxies(X: pd.DataFrame, *, categorical: Sequence[str],
                   attributes: Sequence[AttributeCodes], folds: np.ndarray, seed: int,
                   declared: Sequence[str] = (), max_feature_auc: float = 0.70,
                   max_all_auc: float = 0.80, max_rows: int = 20_000, bins: int = 10,
                   top: int = 10, min_group_size: int = 30,
                   codes: FeatureCodes | None = None) -> ProxyScreen:
    """Screen every feature of ``X`` as a proxy of each protected attribute.

    Parameters
    ----------
    X
        The feature frame of the data as the trained candidates see it (categoricals as text,
        no protected attribute unless the policy makes it a feature); a score made elsewhere
        may use none of these features.
    categorical
        The categorical columns of ``X``; the others are numeric.
    attributes
        Each protected attribute's per-row group codes, labels and source columns.
    folds
        Each row's fold (the audit's folds).
    seed
        Draws the rows of the all-features model when there are more than ``max_rows``, and
        seeds LightGBM.
    declared
        Features the policy declares as proxies (``data.proxies``): always reported.
    max_feature_auc, max_all_auc
        The bounds: a feature whose AUC exceeds ``max_feature_auc`` is flagged; an attribute
        whose all-features AUC exceeds ``max_all_auc`` is flagged.
    top
        How many features each attribute reports, by AUC (declared and flagged ones too).
    min_group_size
        An attribute with fewer than two groups of at least this many rows flags nothing: its
        figures are noise (a 40-row audit), so its proxy gates read INSUFFICIENT, with the
        group sizes as the reason (``insufficient``).
    codes
        The categorical columns of ``X`` already factorized (shared with the slice search).
    """
    folds = np.asarray(folds, dtype=np.int64)
    n_folds = int(folds.max()) + 1 if len(folds) else 0
    cat = set(categorical)
    encoded = {c: encode_feature(X[c], categorical=c in cat, bins=bins, codes_of=codes)
               for c in X.columns}
    rng = np.random.default_rng(seed)
    sample = np.arange(len(folds)) if len(folds) <= max_rows else \
        np.sort(rng.choice(len(folds), size=max_rows, replace=False))
    results = []
    for attr in attributes:
        own = set(attr.columns)
        known_labels = [i for i, lab in enumerate(attr.labels) if lab != UNKNOWN]
        remap = np.full(len(attr.labels), -1, dtype=np.int64)
        remap[known_labels] = np.arange(len(known_labels))
        g_all = remap[np.asarray(attr.codes, dtype=np.int64)]
        keep = g_all >= 0
        g, f = g_all[keep], folds[keep]
        n_groups = len(known_labels)
        sizes = np.bincount(g, minlength=n_groups)
        insufficient = None
        if int((sizes >= min_group_size).sum()) < 2:
            insufficient = (
                f"fewer than two groups of at least min_group_size ({min_group_size}) rows ("
                + ", ".join(f"{attr.labels[i]} {int(sizes[j])}"
                            for j, i in enumerate(known_labels)) + "): nothing is flagged")
        feats = [c for c in X.columns if c not in own]
        rows = []
        for c in feats:
            codes, k = encoded[c]
            auc, table = feature_auc(codes[keep], k, g, n_groups, f, n_folds)
            rows.append(ProxyFeature(
                feature=c, kind="categorical" if c in cat else "numeric", levels=int(k),
                nmi=round(nmi_from_table(table), 6),
                auc=None if auc is None else round(auc, 6), declared=c in declared,
                flagged=insufficient is None and auc is not None and auc > max_feature_auc))
        rows.sort(key=lambda r: (-(r.auc if r.auc is not None else -1), -r.nmi, r.feature))
        shown = [r for i, r in enumerate(rows) if i < top or r.declared or r.flagged]
        s_keep = sample[keep[sample]]
        all_auc = None
        if feats and n_groups >= 2 and len(s_keep):
            M = np.column_stack([
                encoded[c][0][s_keep].astype(np.float64) if c in cat
                else np.asarray(X[c], dtype=np.float64)[s_keep] for c in feats])
            cat_idx = [i for i, c in enumerate(feats) if c in cat]
            all_auc = all_features_auc(M, remap[np.asarray(attr.codes)[s_keep]], folds[s_keep],
                                       n_folds, n_classes=n_groups, categorical=cat_idx,
                                       seed=seed)
        results.append(ProxyAttribute(
            attribute=attr.name, columns=list(attr.columns),
            groups=[attr.labels[i] for i in known_labels], rows=int(keep.sum()),
            features_screened=len(feats), excluded_features=sorted(own & set(X.columns)),
            features=shown, flagged=[r.feature for r in rows if r.flagged],
            all_features_auc=None if all_auc is None else round(all_auc, 6),
            all_features_rows=int(len(s_keep)),
            all_features_flagged=insufficient is None and all_auc is not None
            and all_auc > max_all_auc, insufficient=insufficient))
    return ProxyScreen(max_feature_auc=max_feature_auc, max_all_auc=max_all_auc, bins=bins,
                       max_rows=max_rows, declared=list(declared),
                       model={k: v for k, v in MODEL_PARAMS.items()}, attributes=results)
