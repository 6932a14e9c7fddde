"""SHAP explanations out of fold: which features drive a variant's scores, and its gaps.

Each fold's model explains only rows of that fold's test part, so no row is explained by a
model that saw it in training. A model trained elsewhere (``kind: saved_model``) has no fold
models: the one loaded model explains every sampled row (:func:`explain_whole`), and whether it
saw them in its training is not known.

The rows are a seeded sample, stratified by (fold, atom) cell —
an atom is the finest cell of the protected attributes — with small cells kept whole; every
mean is weighted back to the data's counts (weight of a row = rows of its cell / rows drawn
from it).

The explainer follows the model: shap's ``TreeExplainer`` for LightGBM and scikit-learn tree
ensembles (LightGBM's own Tree SHAP, which shap's explainer calls), the values of
``LinearExplainer`` for linear models (background: the fold's training rows), and permutation
SHAP as ``PermutationExplainer`` computes it, batched over rows, with a bounded background
otherwise. The model is explained in the
space of its prepared features (after the fold's preprocessing); the values of the parts of a
one-hot encoded column are summed back to that column, so every figure is per policy column.
Values are in the units of the model's margin: log-odds of the favorable outcome (LightGBM,
gradient boosting, logistic regression, and the logit of the probability for the permutation
explainer), or probability for random forests and single trees, which have no log-odds output.

From the SHAP values, per variant:

- global importance: the weighted mean |SHAP| per feature;
- per protected group (and intersection): the mean margin and the mean SHAP per feature;
- the disparity attribution: mean margin of a group − of its reference, as the sum of the
  baseline (difference of the fold models' expected values) and one term per feature (the
  difference of the groups' mean SHAP values); SHAP's additivity makes them sum to the gap;
- adverse-action reasons: for each unfavorable decision in the sample, the (up to) four
  features with the most negative SHAP values; per group, how often each is the main reason,
  and how often a protected attribute or a proxy is among the four.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Features per group kept in results.json (by global importance); the rest are summed.
TOP_FEATURES = 20
#: Reasons per unfavorable decision (adverse-action notices usually give up to four).
TOP_REASONS = 4
#: Background rows of the linear explainer (their mean is the reference point).
LINEAR_BACKGROUND = 1000
#: Background rows of the permutation explainer, and permutations per row (each one forward
#: and backward, so the values add up to the model's output exactly).
PERMUTATION_BACKGROUND = 50
PERMUTATIONS = 2
OTHER = "(other features)"
#: The cost of explaining one variant's rows, beyond which fewer rows are explained (about 1 s
#: of Tree SHAP on this machine); at least :data:`MIN_ROWS` rows are explained regardless.
COST_BUDGET = 3e8
MIN_ROWS = 100


@dataclass(frozen=True)
class Sample:
    """The rows explained, in increasing order, and the weight of each (cell rows / drawn)."""

    rows: np.ndarray
    weights: np.ndarray


def allocate(sizes: np.ndarray, budget: int) -> np.ndarray:
    """Rows to draw from each cell: every cell the same share of ``budget``, capped by its
    size, with what small cells leave over shared among the larger ones (water filling)."""
    sizes = np.asarray(sizes, dtype=np.int64)
    if sizes.sum() <= budget:
        return sizes.copy()
    order = np.sort(sizes[sizes > 0])
    remaining, k = float(budget), len(order)
    cap = 0.0
    for i, s in enumerate(order):
        share = remaining / (k - i)
        if s >= share:
            cap = share
            break
        remaining -= s
    take = np.minimum(sizes, int(np.floor(cap)))
    rest = int(budget - take.sum())
    if rest > 0:  # one more row to the largest cells that have one to give
        room = np.flatnonzero(sizes > take)
        room = room[np.argsort(-sizes[room], kind="stable")][:rest]
        take[room] += 1
    return take


def sample_rows(folds: np.ndarray, atoms: np.ndarray, n_atoms: int, *, budget: int,
                seed: int) -> Sample:
    """Up to ``budget`` rows, stratified by (fold, atom) cell, drawn with ``seed``."""
    folds = np.asarray(folds, dtype=np.int64)
    n_folds = int(folds.max()) + 1 if len(folds) else 0
    cells = np.asarray(atoms, dtype=np.int64) * n_folds + folds
    n_cells = n_atoms * n_folds
    sizes = np.bincount(cells, minlength=n_cells)
    take = allocate(sizes, budget)
    rng = np.random.default_rng([seed, 0x5A4B])
    perm = rng.permutation(len(cells))
    # each cell's rows in random order; numpy's stable sort of keys of up to 16 bits is a
    # radix sort (the same order as on the int64 keys, several times faster on many rows)
    keys = cells[perm]
    if n_cells <= 1 << 16:
        keys = keys.astype(np.uint8 if n_cells <= 1 << 8 else np.uint16)
    by_cell = perm[np.argsort(keys, kind="stable")]
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    rank = np.arange(len(cells)) - np.repeat(starts, sizes)
    keep = by_cell[rank < np.repeat(take, sizes)]
    rows = np.sort(keep)
    w = sizes[cells[rows]] / take[cells[rows]]
    return Sample(rows=rows, weights=w.astype(np.float64))


@dataclass(frozen=True)
class RowExplanation:
    """SHAP values of some rows per policy column, with the model's own margin."""

    values: np.ndarray  # (rows, features)
    base: np.ndarray  # (rows,) expected value of the model explaining the row
    margin: np.ndarray  # (rows,) the model's own output, in ``units``
    explainer: str
    units: str


def column_owners(prepare, features: Sequence[str]) -> np.ndarray:
    """For each column the fitted preprocessing outputs, the index in ``features`` of the
    policy column it comes from (a one-hot column's parts all map to their column)."""
    index = {f: i for i, f in enumerate(features)}
    if prepare is None:
        return np.arange(len(features))
    owners = np.full(sum(sl.stop - sl.start for sl in prepare.output_indices_.values()), -1)
    for name, trans, cols in prepare.transformers_:
        sl = prepare.output_indices_.get(name)
        if sl is None or sl.stop == sl.start:
            continue
        cols = list(cols)
        enc = trans.steps[-1][1] if hasattr(trans, "steps") else trans
        widths = _one_hot_widths(enc, len(cols))
        # a ColumnTransformer fitted on an array (a saved model) names columns by position
        owners[sl] = np.repeat([c if isinstance(c, (int, np.integer)) else index[c]
                                for c in cols], widths)
    if (owners < 0).any():
        raise ValueError("a prepared column could not be traced back to a policy column")
    return owners


def _one_hot_widths(enc, n_cols: int) -> np.ndarray:
    """Output columns per input column of a fitted transformer (one each, but a one-hot
    encoder's categories, after infrequent categories are grouped)."""
    from sklearn.preprocessing import OneHotEncoder

    if not isinstance(enc, OneHotEncoder):
        return np.ones(n_cols, dtype=np.int64)
    outs = getattr(enc, "_n_features_outs", None)
    if outs is None:  # pragma: no cover - older scikit-learn
        outs = []
        for i, cats in enumerate(enc.categories_):
            infrequent = (enc.infrequent_categories_[i]
                          if getattr(enc, "infrequent_categories_", None) else None)
            outs.append(len(cats) if infrequent is None else len(cats) - len(infrequent) + 1)
    return np.asarray(outs, dtype=np.int64)


def _split(fitted) -> tuple[Any, Any]:
    """(preprocessing, estimator) of a fitted pipeline, or (None, model). fairsel's own
    pipelines name their steps "prepare" and "model"; a saved pipeline of a column
    transformer and an estimator is read the same way, whatever its steps' names."""
    steps = getattr(fitted, "named_steps", None)
    if steps is not None and "model" in steps:
        return steps.get("prepare"), steps["model"]
    pairs = getattr(fitted, "steps", None)
    if pairs is not None and len(pairs) == 2 and hasattr(pairs[0][1], "output_indices_"):
        return pairs[0][1], pairs[1][1]
    return None, fitted


def _positive(est) -> int:
    """Index of the favorable class (1) among the estimator's classes."""
    return list(getattr(est, "classes_", [0, 1])).index(1)


def _dense(x) -> np.ndarray:
    if hasattr(x, "toarray"):
        x = x.toarray()
    return np.asarray(x, dtype=np.float64)


def _class_values(values, expected, positive: int) -> tuple[np.ndarray, float]:
    """shap's output for a binary classifier as (rows, features) values of the favorable
    class and its expected value (shap gives one array, a list, or a 3-d array)."""
    if isinstance(values, list):
        values = values[positive]
    values = np.asarray(values, dtype=np.float64)
    expected = np.atleast_1d(np.asarray(expected, dtype=np.float64))
    if values.ndim == 3:
        values = values[:, :, positive]
    base = float(expected[positive] if len(expected) > 1 else expected[0])
    return values, base


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-9, 1 - 1e-9)
    return np.log(p) - np.log1p(-p)


_TREE_LOG_ODDS = ("GradientBoostingClassifier", "HistGradientBoostingClassifier")
_TREE_PROBABILITY = ("RandomForestClassifier", "ExtraTreesClassifier", "DecisionTreeClassifier")


#: The most tree nodes a kept fold model may have (about 40 bytes each): an audit keeps every
#: variant's fold models until the ranking says which to explain, and a deep forest fitted on
#: a million rows would not fit in memory five times over.
MAX_KEPT_NODES = 10_000_000


def too_large_to_keep(fitted) -> str | None:
    """Why a fitted fold model is not kept for explanation (its trees' size), or None."""
    _, est = _split(fitted)
    trees = getattr(est, "estimators_", None)
    if trees is None and hasattr(est, "tree_"):
        trees = [est]
    if trees is None:
        return None
    nodes = sum(int(t.tree_.node_count) for t in np.ravel(trees))
    if nodes <= MAX_KEPT_NODES:
        return None
    return (f"its fold models are too large to keep until the ranking is known ({nodes:,} "
            f"tree nodes, more than {MAX_KEPT_NODES:,}); explain a smaller model, or the data "
            "with fewer rows")


def kind_of(fitted) -> str:
    """"tree" for a model Tree SHAP explains, else "permutation" (for :func:`row_cost`'s
    reason; linear models and LightGBM cost nothing worth capping)."""
    _, est = _split(fitted)
    kind = type(est).__name__
    return "tree" if kind in _TREE_PROBABILITY or kind == "GradientBoostingClassifier" \
        else "permutation"


def row_cost(fitted, n_features: int) -> float | None:
    """What explaining one row costs under this model, in the units of :data:`COST_BUDGET`
    (None: cheap whatever the rows). Tree SHAP of a scikit-learn ensemble costs about
    trees × leaves × depth² per row; the permutation explainer, its model evaluations."""
    _, est = _split(fitted)
    kind = type(est).__name__
    if kind in _TREE_PROBABILITY or kind == "GradientBoostingClassifier":
        trees = getattr(est, "estimators_", [est])
        trees = np.ravel(trees) if kind == "GradientBoostingClassifier" else trees
        return float(sum(t.tree_.n_leaves * max(t.tree_.max_depth, 1) ** 2 for t in trees))
    if kind in ("LGBMClassifier", "Booster") \
            or (hasattr(est, "coef_") and hasattr(est, "decision_function")):
        return None
    # otherwise (HistGradientBoosting too, whose categorical splits shap may not read): the
    # permutation explainer's bound
    # batched model evaluations: about 4e-6 s of CPU each (HistGradientBoosting, 150
    # iterations, one thread), i.e. ~1,200 cost units
    return float(PERMUTATIONS * 2 * n_features * PERMUTATION_BACKGROUND) * 1200


def _booster_values(booster, x, *, negate: bool, threads: int = 1):
    """LightGBM's own Tree SHAP of ``x`` (what shap's TreeExplainer computes for a LightGBM
    model, called directly, without the model dump and parse its constructor does — a fifth
    of a second per model): (values, base, margin) of the raw score, negated where the raw
    score is of the unfavorable class. ``threads``: LightGBM's threads for the Tree SHAP (rows
    are independent: the values do not depend on it)."""
    contrib = np.asarray(booster.predict(x, pred_contrib=True, num_threads=threads),
                         dtype=np.float64)
    values, base = contrib[:, :-1], contrib[:, -1]
    margin = np.asarray(booster.predict(x, raw_score=True, num_threads=threads),
                        dtype=np.float64)
    if negate:
        values, base, margin = -values, -base, -margin
    return values, base, margin


def explain_rows(fitted, X_rows, background, features: Sequence[str], *,
                 seed: int, positive: int | None = None, threads: int = 1) -> RowExplanation:
    """SHAP values of ``X_rows`` (a frame of policy columns) under one fitted fold model.

    ``background`` holds rows of the model's training fold (the linear and permutation
    explainers' reference); tree explainers use the trees' own cover instead. ``positive``:
    the index of the favorable class among the model's classes (default: the class 1).
    """
    prepare, est = _split(fitted)
    owners = column_owners(prepare, features)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        xt = _dense(prepare.transform(X_rows)) if prepare is not None else _dense(X_rows)
    pos = _positive(est) if positive is None else positive
    kind = type(est).__name__
    if kind == "LGBMClassifier":
        # LightGBM's raw score is of classes_[1]
        values, base, margin = _booster_values(est.booster_, xt, negate=pos == 0,
                                               threads=threads)
        how, units = "tree", "log-odds"
    elif (kind in _TREE_LOG_ODDS or kind in _TREE_PROBABILITY) \
            and (tree := _one_thread(_tree_values, est, xt, pos)) is not None:
        values, base, margin, units = tree
        how = "tree"
    elif hasattr(est, "coef_") and hasattr(est, "decision_function") \
            and np.asarray(est.coef_).shape[0] == 1:
        # shap's LinearExplainer with an independent masker (interventional): the value of
        # feature j is coef_j (x_j - mean of x_j over the background); computed here as that
        # one line (importing shap costs more than the whole computation)
        bg = _dense(prepare.transform(background)) if prepare is not None else _dense(background)
        coef = np.asarray(est.coef_, dtype=np.float64)[0]
        mean = bg.mean(0)
        values = (xt - mean) * coef
        base = float(mean @ coef + np.asarray(est.intercept_, dtype=np.float64)[0])
        margin = est.decision_function(xt)
        if pos == 0:
            values, base, margin = -values, -base, -margin
        how, units = "linear", "log-odds"
    else:
        bg = _dense(prepare.transform(background)) if prepare is not None else _dense(background)
        values, base, margin = _one_thread(_permutation_values, est, xt, bg, pos, seed)
        how, units = "permutation", "log-odds"
    values = np.asarray(values, dtype=np.float64).reshape(len(xt), -1)
    # one-hot parts back to their policy column: one matrix product
    to_cols = np.zeros((values.shape[1], len(features)))
    to_cols[np.arange(values.shape[1]), owners] = 1.0
    base_rows = np.broadcast_to(np.asarray(base, dtype=np.float64), (len(xt),)).copy()
    return RowExplanation(values=values @ to_cols, base=base_rows,
                          margin=np.asarray(margin, dtype=np.float64), explainer=how,
                          units=units)


def _one_thread(fn, *args):
    """``fn(*args)`` with one OpenMP/BLAS thread, as the fits (threads only contend here);
    not around the cheap explainers, where the limit's own cost (milliseconds) would show."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return fn(*args)


def _tree_values(est, xt: np.ndarray, pos: int):
    """shap's TreeExplainer on a scikit-learn tree model: (values, base, margin, units), or
    None where shap cannot read the trees or its values do not add up to the model's output
    (HistGradientBoosting's native categorical splits), which then go to the permutation
    explainer."""
    kind = type(est).__name__
    categorical = getattr(est, "is_categorical_", None)
    if categorical is not None and np.any(categorical):
        return None  # shap reads HistGradientBoosting's categorical splits wrongly
    with warnings.catch_warnings():  # shap's import warns about matplotlib's colormap API
        warnings.simplefilter("ignore")
        import shap

    try:
        explainer = shap.TreeExplainer(est)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            values, base = _class_values(explainer.shap_values(xt, check_additivity=False),
                                         explainer.expected_value, pos)
    except Exception:  # noqa: BLE001 — a model shap's tree reader does not know
        return None
    if kind in _TREE_PROBABILITY:
        margin, units = est.predict_proba(xt)[:, pos], "probability"
    else:
        margin, units = est.decision_function(xt), "log-odds"
        if pos == 0:  # one log-odds output, of classes_[1]
            values, base, margin = -values, -base, -margin
    # shap reads some trees wrongly without a word (HistGradientBoosting's categorical
    # splits): values that do not add up to the model's own output are not used
    if len(xt) and np.max(np.abs(base + values.reshape(len(xt), -1).sum(1) - margin)) > 1e-6:
        return None
    return values, base, margin, units


def _permutation_values(est, xt: np.ndarray, bg: np.ndarray, pos: int, seed: int):
    """Permutation SHAP values of the logit of the model's probability: (values, base,
    margin).

    The estimator of shap's ``PermutationExplainer`` with an independent masker: for each row,
    :data:`PERMUTATIONS` random orders of the features, each walked forward and backward
    (antithetic); along an order, a feature's value is the change of the mean output over the
    background rows when the row's own value replaces theirs. Every walk adds up exactly to
    f(row) − mean f(background), so the values do too. Computed for many rows at once (one
    model call per chunk of rows), where shap loops over the rows in Python (a hundred times
    slower on a gradient-boosting model).
    """
    if len(bg) > PERMUTATION_BACKGROUND:  # a random part of the fold's training rows
        pick = np.random.default_rng([seed, 0xB7]).choice(len(bg), PERMUTATION_BACKGROUND,
                                                           replace=False)
        bg = bg[np.sort(pick)]
    n, p = xt.shape
    b = len(bg)

    def f(x: np.ndarray) -> np.ndarray:
        return _logit(est.predict_proba(x)[:, pos])

    base_value = float(f(bg).mean()) if b else 0.0
    values = np.zeros((n, p))
    rng = np.random.default_rng([seed, 0x9E])
    orders = np.argsort(rng.random((n, PERMUTATIONS, p)), axis=2)
    walks = np.concatenate([orders, orders[:, :, ::-1]], axis=1)  # (n, 2P, p)
    steps = np.arange(1, p + 1)
    chunk = max(1, 200_000 // max(1, walks.shape[1] * p * b))
    for lo in range(0, n, chunk):
        w = walks[lo:lo + chunk]  # (c, W, p)
        c, n_walks = w.shape[0], w.shape[1]
        # rank of each feature along each walk; the k-th step has the first k features set
        rank = np.argsort(w, axis=2)  # (c, W, p)
        on = rank[:, :, None, :] < steps[None, None, :, None]  # (c, W, p steps, p)
        x = xt[lo:lo + chunk][:, None, None, None, :]
        mixed = np.where(on[:, :, :, None, :], x, bg[None, None, None, :, :])
        out = f(mixed.reshape(-1, p)).reshape(c, n_walks, p, b).mean(3)  # (c, W, steps)
        prev = np.concatenate([np.full((c, n_walks, 1), base_value), out[:, :, :-1]], axis=2)
        gain = out - prev  # the gain of the step's new feature
        contrib = np.zeros((c, n_walks, p))
        np.put_along_axis(contrib, w, gain, axis=2)  # step k's gain to the feature w[k]
        values[lo:lo + chunk] = contrib.mean(1)
    margin = f(xt)
    return values, np.full(n, base_value), margin


@dataclass(frozen=True)
class GroupCodes:
    """One protected attribute (or intersection): each row's group code and the labels."""

    name: str
    labels: tuple[str, ...]
    codes: np.ndarray  # (n_rows,) for every row of the audit
    reference: int | None = None


@dataclass(frozen=True)
class VariantInput:
    """What explaining one variant needs: its fold models and its decisions."""

    variant: str
    model_of: str  # the variant whose models are explained
    note: str | None
    models: dict[int, Any]  # fold -> fitted pipeline
    y_pred: np.ndarray  # (n_rows,) the variant's own out-of-fold decisions
    #: a model trained elsewhere (``kind: saved_model``, a SavedModelCandidate) that explains
    #: every row instead of fold models
    saved: Any = None


def explain_saved(saved, X_rows, background, features: Sequence[str], *,
                  seed: int, threads: int = 1) -> RowExplanation:
    """SHAP values of ``X_rows`` under a model trained elsewhere (``kind: saved_model``).

    The rows reach the model as its scores do (:class:`~fairsel.candidates.saved.\
SavedModelCandidate`): a LightGBM booster is explained by its own Tree SHAP on the frame it
    scores (text columns as its stored categories, so each value is already a policy column's);
    a scikit-learn model by :func:`explain_rows`, on the rows as loaded, with its favorable class.
    """
    if saved.format == "lightgbm":
        values, base, margin = _booster_values(saved.model, saved.lightgbm_frame(X_rows),
                                               negate=saved.favorable_is_zero, threads=threads)
        if values.shape[1] != len(features):
            raise ValueError(f"the LightGBM model gives {values.shape[1]} contributions for "
                             f"{len(features)} features")
        return RowExplanation(values=values, base=base, margin=margin, explainer="tree",
                              units="log-odds")
    if _split(saved.model)[0] is None and hasattr(saved.model, "steps"):
        return _raw_permutation(saved, X_rows, background, features, seed=seed)
    return explain_rows(saved.model, saved.sklearn_input(X_rows), saved.sklearn_input(background),
                        features, seed=seed, positive=saved.favorable_index(), threads=threads)


class _RawFrameModel:
    """A saved pipeline whose preparation fairsel cannot trace back to the policy's columns,
    called on rows of raw policy columns (as the permutation explainer mixes them)."""

    def __init__(self, saved, like):
        self._saved, self._columns, self._dtypes = saved, list(like.columns), like.dtypes

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        import pandas as pd

        frame = pd.DataFrame(x, columns=self._columns).astype(self._dtypes)
        return np.asarray(self._saved.model.predict_proba(self._saved.sklearn_input(frame)))


def _raw_permutation(saved, X_rows, background, features: Sequence[str], *,
                     seed: int) -> RowExplanation:
    """Permutation SHAP of a saved pipeline over the policy's own columns (its preparation —
    more steps than a column transformer and an estimator — cannot be traced back)."""
    raw = saved._raw_frame(X_rows)[list(features)]
    bg = saved._raw_frame(background)[list(features)].to_numpy(dtype=object)
    model = _RawFrameModel(saved, raw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        values, base, margin = _one_thread(_permutation_values, model,
                                           raw.to_numpy(dtype=object), bg,
                                           saved.favorable_index(), seed)
    return RowExplanation(values=np.asarray(values, dtype=np.float64), base=base,
                          margin=np.asarray(margin, dtype=np.float64), explainer="permutation",
                          units="log-odds")


def explain_variant(spec: VariantInput, *, X, folds: np.ndarray, sample: Sample,
                    groups: Sequence[GroupCodes], features: Sequence[str],
                    flags: dict[str, str], seed: int, top_features: int = TOP_FEATURES,
                    resample: Callable[[int], Sample] | None = None, threads: int = 1,
                    min_rows: int = 0):
    """Explain one variant on ``sample``: each row by the model of its own test fold.

    ``flags`` maps a feature to "protected" or "proxy" (for the adverse-action reasons);
    ``min_rows``: the fewest explained rows of a group that may be a disparity's reference
    (:func:`summarise`).
    Where the model makes a row costly to explain (:func:`row_cost`), ``resample(n)`` draws
    the smaller sample the budget allows (at least :data:`MIN_ROWS` rows).
    Returns a :class:`~fairsel.results.VariantExplanation`.
    """
    cap = None
    first = spec.models[min(spec.models)] if spec.models else None
    if spec.saved is not None:
        first = spec.saved.model
    cost = row_cost(first, len(features)) if first is not None else None
    if cost and resample is not None and len(sample.rows) * cost > COST_BUDGET:
        limit = max(MIN_ROWS, int(COST_BUDGET // cost))
        n_sample = len(sample.rows)
        if limit < len(sample.rows):
            sample = resample(limit)
            why = ("Tree SHAP of a forest costs trees × leaves × depth² per row"
                   if kind_of(first) == "tree" else
                   "the permutation explainer evaluates the model many times per row")
            cap = (f"explained on {len(sample.rows):,} rows (drawn the same way) rather than "
                   f"the sample's {n_sample:,}, as the model makes a row costly to explain: "
                   f"{why}")
    if spec.saved is not None:
        ex = explain_whole(spec.saved, X=X, folds=folds, sample=sample, features=features,
                           seed=seed, threads=threads)
    else:
        ex = explain_out_of_fold(spec.models, X=X, folds=folds, sample=sample,
                                 features=features, seed=seed, threads=threads)
    return summarise(spec, rows=ex.rows, weights=ex.weights, values=ex.values, base=ex.base,
                     margin=ex.margin, groups=groups, features=features, flags=flags,
                     explainer=ex.explainer, units=ex.units,
                     rows_by_fold=np.bincount(ex.fold, minlength=int(np.max(folds)) + 1).tolist(),
                     top_features=top_features, row_cap=cap, min_rows=min_rows)


@dataclass(frozen=True)
class OutOfFold:
    """SHAP values of sampled rows, each row by the model of its own test fold."""

    rows: np.ndarray
    weights: np.ndarray
    fold: np.ndarray  # the fold whose model explained each row
    values: np.ndarray
    base: np.ndarray
    margin: np.ndarray
    explainer: str
    units: str


def explain_out_of_fold(models: dict[int, Any], *, X, folds: np.ndarray, sample: Sample,
                        features: Sequence[str], seed: int, threads: int = 1) -> OutOfFold:
    """The sample's rows explained by fold: the model of fold k (fitted on the other folds'
    rows) explains the sampled rows of fold k, with a background drawn from its own training
    rows; rows of a fold without a model (the fold failed) are left out."""
    folds = np.asarray(folds)
    rows, w = sample.rows, sample.weights
    row_fold = folds[rows]
    n, p = len(rows), len(features)
    values, base, margin = np.zeros((n, p)), np.zeros(n), np.zeros(n)
    how, units = "tree", "log-odds"
    for k in sorted(models):
        at = np.flatnonzero(row_fold == k)
        if not len(at):
            continue
        bg_rows = _draw(np.flatnonzero(folds != k), LINEAR_BACKGROUND, seed + k)
        ex = explain_rows(models[k], X.iloc[rows[at]], X.iloc[bg_rows], features,
                          seed=seed + k, threads=threads)
        values[at], base[at], margin[at] = ex.values, ex.base, ex.margin
        how, units = ex.explainer, ex.units
    keep = np.isin(row_fold, list(models))
    return OutOfFold(rows=rows[keep], weights=w[keep], fold=row_fold[keep], values=values[keep],
                     base=base[keep], margin=margin[keep], explainer=how, units=units)


def explain_whole(saved, *, X, folds: np.ndarray, sample: Sample, features: Sequence[str],
                  seed: int, threads: int = 1) -> OutOfFold:
    """Every sampled row explained by one model trained elsewhere, with a background drawn
    from all the audit's rows (there are no training folds: whether the model saw any of
    these rows is not known to fairsel)."""
    rows = sample.rows
    bg_rows = _draw(np.arange(len(X)), LINEAR_BACKGROUND, seed)
    ex = explain_saved(saved, X.iloc[rows], X.iloc[bg_rows], features, seed=seed,
                       threads=threads)
    return OutOfFold(rows=rows, weights=sample.weights, fold=np.asarray(folds)[rows],
                     values=ex.values, base=ex.base, margin=ex.margin, explainer=ex.explainer,
                     units=ex.units)


def _draw(rows: np.ndarray, k: int, seed: int) -> np.ndarray:
    if len(rows) <= k:
        return rows
    return np.sort(np.random.default_rng([seed, 0xB6]).choice(rows, size=k, replace=False))


def _wmean(x: np.ndarray, w: np.ndarray) -> np.ndarray | float:
    return (w @ x) / w.sum()


def _r(x: float) -> float:
    # ten decimals: the rounded contributions still add up to the gap within 1e-8
    return round(float(x), 10)


def summarise(spec: VariantInput, *, rows: np.ndarray, weights: np.ndarray, values: np.ndarray,
              base: np.ndarray, margin: np.ndarray, groups: Sequence[GroupCodes],
              features: Sequence[str], flags: dict[str, str], explainer: str, units: str,
              rows_by_fold: list[int], top_features: int = TOP_FEATURES,
              row_cap: str | None = None, min_rows: int = 0):
    """The figures of :class:`~fairsel.results.VariantExplanation` from the SHAP values.

    A disparity's reference is the attribute's declared reference, else the group with the
    highest mean margin among those explained on at least ``min_rows`` rows (the audit's
    min_group_size; among every group explained when none has as many): a mean margin over a
    handful of rows is noise, and hiring's intersections were all measured against one
    group of a single row."""
    from fairsel.results import (
        AttributeContributions,
        DisparityAttribution,
        GroupContributions,
        GroupReasons,
        ReasonCount,
        VariantExplanation,
    )

    features = list(features)
    w = weights
    importance = _wmean(np.abs(values), w) if len(rows) else np.zeros(len(features))
    order = np.argsort(-importance, kind="stable")
    top = order[:top_features]
    rest = order[top_features:]

    def per_feature(v: np.ndarray) -> dict[str, float]:
        out = {features[j]: _r(v[j]) for j in top}
        if len(rest):
            out[OTHER] = _r(v[rest].sum())
        return out

    additivity = float(np.max(np.abs(margin - base - values.sum(1)))) if len(rows) else 0.0
    unfav = spec.y_pred[rows] == 0
    reasons_idx = _reasons(values[unfav])  # (unfavorable, TOP_REASONS), -1 where none
    flag_of = np.array([flags.get(f) is not None for f in features] + [False])
    flagged_row = flag_of[reasons_idx].any(1) if len(reasons_idx) else np.zeros(0, bool)

    contribs, disparities, reasons = [], [], []
    for g in groups:
        codes = g.codes[rows]
        n_groups = len(g.labels)
        cnt = np.bincount(codes, minlength=n_groups)
        wsum = np.bincount(codes, weights=w, minlength=n_groups)
        msum = np.bincount(codes, weights=w * margin, minlength=n_groups)
        bsum = np.bincount(codes, weights=w * base, minlength=n_groups)
        onehot = np.zeros((n_groups, len(codes)))
        onehot[codes, np.arange(len(codes))] = w
        vsum = onehot @ values  # weighted sums per group, one product (no np.add.at)
        with np.errstate(invalid="ignore", divide="ignore"):
            mmean, bmean = msum / wsum, bsum / wsum
            vmean = vsum / wsum[:, None]
        contribs.append(AttributeContributions(attribute=g.name, groups=[
            GroupContributions(group=lab, rows=int(cnt[i]),
                               mean_margin=_r(mmean[i]) if cnt[i] else None,
                               mean_shap=per_feature(vmean[i]) if cnt[i] else {})
            for i, lab in enumerate(g.labels)]))
        present = np.flatnonzero(cnt > 0)
        if len(present) >= 2:
            large = present[cnt[present] >= min_rows]
            pool = large if len(large) else present
            ref = g.reference if g.reference is not None and cnt[g.reference] else \
                int(pool[np.argmax(mmean[pool])])
            for i in present:
                if i == ref:
                    continue
                delta = vmean[i] - vmean[ref]
                contributions = per_feature(delta)
                contributions = dict(sorted(contributions.items(), key=lambda kv: -abs(kv[1])))
                disparities.append(DisparityAttribution(
                    attribute=g.name, group=g.labels[i], reference=g.labels[ref],
                    gap=_r(mmean[i] - mmean[ref]), baseline=_r(bmean[i] - bmean[ref]),
                    contributions=contributions))
        ucodes, uw = codes[unfav], w[unfav]
        for i, lab in enumerate(g.labels):
            at = ucodes == i
            if not at.any():
                continue
            wi = uw[at] / uw[at].sum()
            idx = reasons_idx[at]
            main = np.bincount(idx[:, 0][idx[:, 0] >= 0], weights=wi[idx[:, 0] >= 0],
                               minlength=len(features))
            slots = np.where(idx < 0, len(features), idx)  # "no reason" counts in a last bin
            anyw = np.bincount(slots.ravel(), weights=np.repeat(wi, idx.shape[1]),
                               minlength=len(features) + 1)[:-1]
            listed = [j for j in np.argsort(-main, kind="stable")[:10] if main[j] > 0]
            listed += [j for j in range(len(features))
                       if flags.get(features[j]) and anyw[j] > 0 and j not in listed]
            reasons.append(GroupReasons(
                attribute=g.name, group=lab, unfavorable=int(at.sum()),
                flagged=_r(wi[flagged_row[at]].sum()),
                reasons=[ReasonCount(feature=features[j], main=_r(main[j]), top=_r(anyw[j]),
                                     flag=flags.get(features[j]))  # type: ignore[arg-type]
                         for j in listed]))
    return VariantExplanation(
        variant=spec.variant, model=spec.model_of, note=spec.note, explainer=explainer,
        units=units, rows=int(len(rows)), rows_by_fold=rows_by_fold, row_cap=row_cap,
        additivity_error=float(f"{additivity:.3g}"),
        importance={features[j]: _r(importance[j]) for j in order},
        groups=contribs, disparities=disparities, reasons=reasons)


def _reasons(values: np.ndarray) -> np.ndarray:
    """For each row, the indices of its (up to) TOP_REASONS most negative SHAP values, most
    negative first; -1 where fewer features push the score down."""
    if not len(values):
        return np.zeros((0, TOP_REASONS), dtype=np.int64)
    k = min(TOP_REASONS, values.shape[1])
    part = np.argpartition(values, k - 1, axis=1)[:, :k] if values.shape[1] > k else \
        np.tile(np.arange(values.shape[1]), (len(values), 1))
    vals = np.take_along_axis(values, part, axis=1)
    srt = np.argsort(vals, axis=1, kind="stable")
    idx = np.take_along_axis(part, srt, axis=1)
    idx = np.where(np.take_along_axis(vals, srt, axis=1) < 0, idx, -1)
    if k < TOP_REASONS:
        idx = np.hstack([idx, np.full((len(idx), TOP_REASONS - k), -1)])
    return idx


def choose_variants(selected: str | None, order: Sequence[str], n: int) -> list[str]:
    """The variants to explain: the selected one first, then the ranking's best, ``n`` in
    all (``n`` + 1 when the selected one is not among the ranking's first ``n``)."""
    out = [selected] if selected is not None else []
    out += [v for v in order[:n] if v not in out]
    return out


def explain_variants(inputs: Sequence[VariantInput], skipped: Sequence[tuple[str, str]], *,
                     X, folds: np.ndarray, atoms: np.ndarray, n_atoms: int,
                     groups: Sequence[GroupCodes], features: Sequence[str],
                     flags: dict[str, str], seed: int, n_variants: int, rows: int,
                     threads: int = 1, min_rows: int = 0):
    """Every explained variant on one shared sample of rows (so their figures compare), as
    :class:`~fairsel.results.Explanations`. ``threads``: for LightGBM's Tree SHAP, whose rows
    are independent (the figures are the same whatever the count)."""
    from fairsel.results import Explanations, SkippedExplanation

    # drawn only when a variant is explained (an audit of precomputed predictions has none:
    # the draw sorts every row, a tenth of a second at a million rows)
    sample = sample_rows(folds, atoms, n_atoms, budget=rows, seed=seed) if inputs else None

    def resample(n: int) -> Sample:
        return sample_rows(folds, atoms, n_atoms, budget=n, seed=seed)

    explained, failed = [], []
    for spec in inputs:
        try:
            explained.append(explain_variant(spec, X=X, folds=folds, sample=sample,
                                             groups=groups, features=features, flags=flags,
                                             seed=seed, resample=resample, threads=threads,
                                             min_rows=min_rows))
        except Exception as exc:  # noqa: BLE001 — a variant that cannot be explained is data
            failed.append((spec.variant, f"the explanation failed: {type(exc).__name__}: "
                                         f"{str(exc)[:300]}"))
    return Explanations(
        variants=n_variants, rows=rows, top_features=TOP_FEATURES,
        sampling=("stratified by fold and protected-group cell (every combination of the "
                  "protected attributes' groups): each cell gets an equal share of the rows, "
                  "small cells are kept whole, drawn with the policy's seed; means are "
                  "weighted back to the data's counts"),
        explained=explained,
        skipped=[SkippedExplanation(variant=v, reason=r) for v, r in [*skipped, *failed]])
