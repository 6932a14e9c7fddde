"""The one orchestrator: ``plan()`` resolves every name, ``run_audit()`` does the audit."""

from __future__ import annotations

import datetime as _dt
import platform
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fairsel import __version__
from fairsel.analysis.compliance import compliance_result
from fairsel.analysis.features import FeatureCodes
from fairsel.analysis.proxies import PROXY_FREE
from fairsel.candidates import (
    ESTIMATORS,
    CandidateContext,
    check_params,
    make_candidate,
    prepare_frame,
)
from fairsel.candidates.prepared import fit_score
from fairsel.candidates.search import check_search, expand_policy
from fairsel.candidates.score_type import (
    check_probabilities,
    in_unit_interval,
    resolve_score_type,
    unavailable_reason,
)
from fairsel.data import AuditData, dataset_files, load_data
from fairsel.errors import DataError, ModelError, PolicyError
from fairsel.execution import Backend, Runner, open_backend, usable_cores, worker_count
from fairsel.gates import GROUP_RATE_OF, evaluate_gates, gate_summary, proxy_gates, variant_status
from fairsel.metrics import FAIRNESS_NAMES, METRICS, Confidence, evaluate_variant
from fairsel.metrics.significance import annotate as add_significance
from fairsel.metrics.significance import testable
from fairsel.mitigation import MITIGATIONS
from fairsel.policy import Policy, locate
from fairsel.policy.compliance import refused_mitigations
from fairsel.progress import NullProgress, Progress
from fairsel.ranking import NONE_EVALUATED, ONLY_PROTECTED_PASS, rank
from fairsel.results import (
    NO_ERROR_GATE,
    AttributeSummary,
    Analysis,
    AuditResult,
    DataSummary,
    Exclusion,
    Failure,
    GateResult,
    GroupSize,
    Holdout,
    Provenance,
    Selection,
    TrialInfo,
    ValidationSummary,
    VariantResult,
    Verdict,
)
from fairsel.splits import holdout_mask, make_folds

#: The libraries whose versions results.json records: every one that can train, score or
#: mitigate a variant (aif360's post-processing, fairlearn's reductions), and the data stack.
PACKAGES = ("numpy", "pandas", "scikit-learn", "lightgbm", "fairlearn", "aif360", "pyarrow",
            "pydantic", "shap")


@dataclass(frozen=True)
class AuditPlan:
    """A policy whose every name has been resolved; no data read yet."""

    policy: Policy


@dataclass
class VariantPredictions:
    """Out-of-fold predictions of one variant on every row.

    ``missing`` marks the rows without a prediction (the variant failed on their fold; every
    row when it failed everywhere); ``None`` when every row has one.
    """

    name: str
    y_score: np.ndarray
    y_pred: np.ndarray
    missing: np.ndarray | None = None


@dataclass
class AuditRun:
    """An audit's result, plus what is too large for results.json (the predictions)."""

    result: AuditResult
    row_ids: np.ndarray
    folds: np.ndarray
    y_true: np.ndarray
    predictions: list[VariantPredictions] = field(default_factory=list)


def plan(policy: Policy, *, deep: bool = True) -> AuditPlan:
    """Resolve every name the policy uses in its registry.

    With ``deep`` (``fairsel validate`` and ``run_audit`` alike), parameter values are checked
    too, by scikit-learn's own validation and LightGBM's parameter checks (which import the
    library, only for a candidate that sets ``params``), so a bad value is refused before any
    training. ``deep=False`` checks parameter names only, importing neither.

    Raises
    ------
    PolicyError
        Naming each unknown metric, estimator, parameter or mitigation by key path, with
        "did you mean". (Report formats are checked by ``fairsel.report.check_formats``.)
    """
    problems: list[str] = []

    def bad(loc: tuple, msg: str) -> None:
        problems.append(locate(policy, loc, msg))

    def metric(loc: tuple, name: str, family: str | None = None) -> None:
        if name not in METRICS:
            bad(loc, METRICS.unknown_message(name))
        elif family and METRICS.get(name).family != family:
            bad(loc, f"'{name}' is a {METRICS.get(name).family} metric; expected a {family} "
                     "metric (fairsel list metrics)")

    for i, name in enumerate(policy.metrics.performance):
        metric(("metrics", "performance", i), name, "performance")
    for i, name in enumerate(policy.metrics.fairness):
        metric(("metrics", "fairness", i), name, "fairness")
    attr_names = [p.display_name for p in policy.protected]
    for i, gate in enumerate(policy.gates):
        metric(("gates", i, "metric"), gate.metric)
        if gate.require_significance and gate.metric in METRICS and not testable(gate.metric):
            bad(("gates", i, "require_significance"), f"'{gate.metric}' is not built on a "
                "tested rate; require_significance applies to fairness metrics of selection "
                "rate, TPR/FNR or FPR/TNR (e.g. disparate_impact, equal_opportunity_difference); "
                "remove it or gate such a metric")
        if gate.relative_to_overall and gate.metric not in GROUP_RATE_OF:
            bad(("gates", i, "relative_to_overall"), f"'{gate.metric}' is not a group rate; "
                f"relative_to_overall applies to {', '.join(GROUP_RATE_OF)}")
        for j, a in enumerate(gate.attributes or []):
            known = attr_names + [" × ".join(c) for c in _combos(attr_names)]
            if a not in known:
                from fairsel.errors import did_you_mean

                bad(("gates", i, "attributes", j), f"unknown attribute '{a}'{did_you_mean(a, known)}; "
                    f"the attributes are: {', '.join(known)}")
    metric(("ranking", "objective"), policy.ranking.objective)
    metric(("ranking", "fairness_tiebreak"), policy.ranking.fairness_tiebreak, "fairness")
    for i, cand in enumerate(policy.candidates):
        if cand.kind == "sklearn" and cand.estimator and cand.estimator not in ESTIMATORS:
            bad(("candidates", i, "estimator"), ESTIMATORS.unknown_message(cand.estimator))
            continue
        if cand.kind in ("sklearn", "lightgbm"):
            try:
                found = check_params(cand.kind, cand.estimator, cand.params, deep=deep)
                if not found and cand.search is not None:
                    found = check_search(cand.kind, cand.estimator, cand.params, cand.search,
                                         deep=deep)
                for loc, msg in found:
                    bad(("candidates", i, *loc), f"candidate '{cand.name}': {msg}")
            except ImportError as exc:
                bad(("candidates", i, "kind"), f"candidate '{cand.name}' needs {exc.name}, "
                    "which is not installed")
        elif cand.kind not in _candidate_kinds():
            bad(("candidates", i, "kind"), f"kind '{cand.kind}' is not available in this "
                "fairsel version")
    _check_mitigations(policy, bad)
    for loc, msg in refused_mitigations(policy, lambda kind: MITIGATIONS.get(
            kind).uses_protected_at_decision if kind in MITIGATIONS else None):
        bad(loc, msg)
    if problems:
        raise PolicyError("\n".join(problems))
    return AuditPlan(policy=policy)


def _check_mitigations(policy: Policy, bad) -> None:
    """Each ``mitigation:`` entry: a known kind, keys it reads, names that exist, estimators
    that take weights where it needs them, and no two entries adding the same variant."""
    from fairsel.errors import did_you_mean
    from fairsel.mitigation import check_spec, variant_name

    cands = {c.name: c for c in policy.candidates}
    attrs = [p.display_name for p in policy.protected]
    added: dict[str, int] = {}
    for i, m in enumerate(policy.mitigation):
        if m.kind not in MITIGATIONS:
            bad(("mitigation", i, "kind"), MITIGATIONS.unknown_message(m.kind))
            continue
        problems = check_spec(m)
        for loc, msg in problems:
            bad(("mitigation", i, *loc), msg)
        for j, a in enumerate(m.attributes or []):
            if a not in attrs:
                bad(("mitigation", i, "attributes", j), f"unknown protected attribute '{a}'"
                    f"{did_you_mean(a, attrs)}; the attributes are: {', '.join(attrs)}")
        names = m.candidates if m.candidates is not None else list(cands)
        for j, c in enumerate(m.candidates or []):
            if c not in cands:
                bad(("mitigation", i, "candidates", j), f"unknown candidate '{c}'"
                    f"{did_you_mean(c, list(cands))}; the candidates are: {', '.join(cands)}")
        info = MITIGATIONS.get(m.kind)
        for j, c in enumerate(names):
            spec = cands.get(c)
            if spec is None or not info.needs_weights:
                continue
            named = m.candidates is not None
            loc = ("mitigation", i, "candidates", j) if named else ("mitigation", i, "kind")
            if spec.kind not in ("sklearn", "lightgbm"):
                if named:  # unnamed fixed candidates are simply skipped
                    bad(loc, f"{m.kind} refits the estimator with sample_weight, so it applies "
                        f"only to candidates fairsel trains (sklearn, lightgbm); candidate "
                        f"'{c}' is kind {spec.kind}")
            elif spec.kind == "sklearn" and spec.estimator in ESTIMATORS \
                    and not ESTIMATORS.get(spec.estimator).accepts_weights:
                bad(loc, f"{m.kind} needs an estimator that accepts sample_weight; candidate "
                    f"'{c}' uses {spec.estimator}, which does not (list the candidates it "
                    "applies to under candidates:)")
        if problems:
            continue
        for c in names:
            if c in cands:
                name = variant_name(c, m)
                if name in added:
                    bad(("mitigation", i), f"adds the variant '{name}', which mitigation"
                        f"[{added[name]}] adds already; keep one of the two entries")
                added.setdefault(name, i)


def _combos(names: list[str]) -> list[tuple[str, ...]]:
    import itertools

    return [c for k in range(2, len(names) + 1) for c in itertools.combinations(names, k)]


def _candidate_kinds() -> set[str]:
    from fairsel.candidates import CANDIDATE_KINDS

    return set(CANDIDATE_KINDS.names())


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _package_versions() -> dict[str, str]:
    from importlib import metadata

    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


@dataclass(frozen=True)
class _Grid:
    """What every (candidate, fold) task shares: scattered once to the backend's workers."""

    cands: list
    mitigations: list
    X: Any
    data: AuditData
    folds: np.ndarray
    fixed_scores: dict[int, np.ndarray]
    seed: int
    min_group_size: int
    #: Candidates trained without the proxy screen's flagged features (no mitigation of theirs).
    proxy_free: frozenset = frozenset()
    #: Keep each fold's fitted models in the outputs (for the explanations).
    keep_models: bool = False
    #: Candidates whose fold preparation another fit shares (:func:`shared_preparations`).
    shared: frozenset = frozenset()


def _grid_task(grid: _Grid, ci: int, k: int, cand: Any = None):
    """One task of the grid: every variant of candidate ``ci`` on fold ``k``, as
    ``(ci, k, test rows, [FoldOutput] or None, error or None)``; a failure is data.
    ``cand``: the candidate itself, when it was set after ``grid`` was sent to the workers
    (an optuna trial's setting)."""
    train, test = np.flatnonzero(grid.folds != k), np.flatnonzero(grid.folds == k)
    try:
        out = fold_variants(grid.cands[ci] if cand is None else cand,
                            [] if ci in grid.proxy_free else grid.mitigations,
                            X=grid.X, y=grid.data.y, train=train, test=test, data=grid.data,
                            scores=grid.fixed_scores.get(ci), seed=grid.seed, fold=k,
                            min_group_size=grid.min_group_size, keep_models=grid.keep_models,
                            share=ci in grid.shared)
        if ci in grid.proxy_free:
            out[0].mitigation = PROXY_FREE
        return ci, k, test, out, None
    except Exception as exc:  # noqa: BLE001 — a failure is data, the others go on
        return ci, k, test, None, f"{type(exc).__name__}: {exc}"


@dataclass
class FoldOutput:
    """One variant's decisions on one fold's test rows (or the error that stopped it)."""

    name: str
    y_score: np.ndarray | None
    y_pred: np.ndarray | None
    mitigation: str | None = None
    uses_protected_at_decision: bool = False
    details: dict[str, Any] = field(default_factory=dict)
    stage: str = "fit"
    error: str | None = None
    # the fitted fold model, kept only when the audit explains variants (or, for a model too
    # large to keep, the reason it was not)
    model: Any = None


def fold_variants(cand, mitigations, *, X, y: np.ndarray, train: np.ndarray, test: np.ndarray,
                  data: AuditData, scores: np.ndarray | None, seed: int, fold: int,
                  min_group_size: int = 30, keep_models: bool = False,
                  share: bool = True) -> list[FoldOutput]:
    """Every variant of one candidate on one fold: the base, then each mitigation.

    Everything fitted here sees the fold's training rows only: reweighing weights, the
    reductions mixture, group thresholds and aif360 post-processors are fitted on
    ``train`` and applied to ``test``. Thresholds and post-processors need scores of the
    training rows that no model fitted on those rows' labels produced: a fixed candidate's
    (``scores``, for every row) are used as they are; for a trainable candidate they are
    *inner out-of-fold* scores — the training rows split into 3 group-aware, stratified inner
    folds (clusters kept together), each scored by a model fitted on the other two — computed
    once per fold and shared by every threshold and post-processing variant. The thresholds
    are then applied to the scores of the model fitted on all training rows. A mitigation
    that fails becomes that variant's error; the base and the other variants go on.
    With ``keep_models``, each output keeps the model it was fitted with (for explanations).
    ``share`` false: no other fit prepares this candidate's folds the same way (the
    prepared rows are not kept for one).
    """
    from fairsel.mitigation import settings, variant_name
    from fairsel.mitigation.groups import mitigation_groups

    trainable = scores is None
    model = None
    if trainable:
        s_test, model = _fit_and_score(cand, X, y, train, test, fold=fold, keep=keep_models,
                                       share=share)
    else:
        s_test = scores[test]
    outputs = [FoldOutput(name=cand.name, y_score=s_test,
                          y_pred=(s_test >= cand.threshold).astype(np.int8),
                          model=_kept(model) if keep_models else None)]
    cache: dict[str, Any] = {}

    def fitting_scores() -> tuple[np.ndarray, str]:
        if "scores" not in cache:
            if trainable:
                cache["scores"] = _inner_oof_scores(cand, X, y, train, data.clusters,
                                                    seed=seed + 7919 * (fold + 1))
                cache["source"] = "inner 3-fold out-of-fold scores of the training rows"
            else:
                cache["scores"] = scores[train]
                cache["source"] = "the fixed candidate's scores of the training rows"
        return cache["scores"], cache["source"]

    for spec in mitigations:
        if not _applies(spec, cand, trainable):
            continue
        info = MITIGATIONS.get(spec.kind)
        name = variant_name(cand.name, spec)
        label = name.split("+", 1)[1]
        try:
            names = info.attributes(spec, [a.name for a in data.attributes])
            groups = mitigation_groups(data.atoms, data.attributes, names)
            out = _MITIGATE[spec.kind](
                cand, settings(spec), groups=groups, X=X, y=y, train=train, test=test,
                s_test=s_test, fitting_scores=fitting_scores, seed=seed, fold=fold,
                min_group_size=min_group_size, keep=keep_models, share=share)
            out.name = name
            out.details = {"groups": " × ".join(groups.attributes), **out.details}
        except Exception as exc:  # noqa: BLE001 — a failed variant is data, the others go on
            out = FoldOutput(name=name, y_score=None, y_pred=None, stage="mitigation",
                             error=f"{type(exc).__name__}: {exc}")
        out.mitigation = label
        out.uses_protected_at_decision = info.uses_protected_at_decision
        out.model = _kept(out.model) if keep_models else None
        outputs.append(out)
    return outputs


def _kept(model):
    """A fold model to keep for explanations, or the reason it is not kept (too large)."""
    if model is None:
        return None
    from fairsel.analysis.explain import too_large_to_keep

    return too_large_to_keep(model) or model


def shared_preparations(cands, mitigations, *, proxy_free=frozenset()) -> frozenset:
    """The indices of the candidates whose fold preparation is shared: another fit on the
    same fold prepares its features the same way (a trial of the same search, the
    candidate's own reweighed variant). Only theirs is kept between fits
    (:mod:`fairsel.candidates.prepared`): at a million rows a fold's prepared rows take
    about 100 MB, which no other fit would read."""
    from collections import Counter

    from fairsel.candidates.prepared import preparation_key

    keys = {ci: preparation_key(c) for ci, c in enumerate(cands)}
    fits: Counter = Counter()
    for ci, key in keys.items():
        if key is not None:  # the base, and each reweighed variant refits on the same rows
            fits[key] += 1 + (0 if ci in proxy_free else sum(
                spec.kind == "reweighing" and _applies(spec, cands[ci], True)
                for spec in mitigations))
    return frozenset(ci for ci, key in keys.items() if key is not None and fits[key] > 1)


def _applies(spec, cand, trainable: bool) -> bool:
    """Whether a mitigation entry adds a variant of this candidate."""
    info = MITIGATIONS.get(spec.kind)
    if spec.candidates is not None:
        return cand.name in spec.candidates  # plan() refused names it cannot act on
    if info.needs_weights:  # only candidates fairsel trains, with an estimator taking weights
        return trainable and bool(getattr(cand, "accepts_weights", False))
    return True


def _inner_oof_scores(cand, X, y: np.ndarray, train: np.ndarray, clusters: np.ndarray | None,
                      *, seed: int, n_inner: int = 3) -> np.ndarray:
    """Scores of the training rows, each from a model fitted without it (inner folds)."""
    cl = None if clusters is None else clusters[train]
    k = n_inner if cl is None else min(n_inner, len(np.unique(cl)))
    scheme = "stratified_kfold" if cl is None else "stratified_group_kfold"
    inner = make_folds(y[train], scheme=scheme, n_folds=k, clusters=cl, seed=seed,
                       where="the inner folds of a fold's training rows")
    out = np.empty(len(train), dtype=np.float64)
    for j in range(int(inner.max()) + 1):
        fit_rows, score_rows = train[inner != j], train[inner == j]
        out[inner == j] = cand.fit_score(X.iloc[fit_rows], y[fit_rows], X.iloc[score_rows])
    return out


def _labelled(labels: tuple[str, ...], values) -> dict[str, Any]:
    return {lab: v for lab, v in zip(labels, values)}


def _fit_and_score(cand, X, y, train, test, *, fold: int, keep: bool, share: bool = True,
                   sample_weight: np.ndarray | None = None):
    """``(scores of the test rows, the fitted pipeline or None)``, the fold's prepared
    features shared between candidates (:func:`fairsel.candidates.prepared.fit_score`); a
    model to keep (for the explanations) is the pipeline of that shared preparation and the
    estimator: the same model and scores either way."""
    return fit_score(cand, X, y, train, test, fold=fold, sample_weight=sample_weight, keep=keep,
                     share=share)


def _reweighing(cand, opts, *, groups, X, y, train, test, fold, keep=False, share=True,
                **_) -> FoldOutput:
    from fairsel.mitigation.reweighing import reweighing_table

    table = reweighing_table(y[train], groups.codes[train], n_groups=groups.n_groups)
    weights = table[groups.codes[train], y[train].astype(np.int64)]
    s, model = _fit_and_score(cand, X, y, train, test, fold=fold, keep=keep, share=share,
                              sample_weight=weights)
    cells = {lab: {"favorable": None if np.isnan(w1) else round(float(w1), 6),
                   "unfavorable": None if np.isnan(w0) else round(float(w0), 6)}
             for lab, (w0, w1) in zip(groups.labels, table)}
    return FoldOutput(name="", y_score=s, y_pred=(s >= cand.threshold).astype(np.int8),
                      details={"weights": cells}, model=model)


def _threshold(cand, opts, *, groups, y, train, test, s_test, fitting_scores, min_group_size,
               **_) -> FoldOutput:
    from fairsel.mitigation.thresholds import fit_group_thresholds

    fit_s, source = fitting_scores()
    gt = fit_group_thresholds(y[train], fit_s, groups.codes[train],
                              constraint=opts["constraint"], tolerance=opts["tolerance"],
                              n_groups=groups.n_groups, min_group_size=min_group_size,
                              default_threshold=cand.threshold)
    pred = gt.predict(s_test, groups.codes[test])
    thresholds = [None if not np.isfinite(t) else float(t) for t in gt.thresholds]
    return FoldOutput(name="", y_score=s_test, y_pred=pred, details={
        "thresholds": _labelled(groups.labels, thresholds),
        "threshold_status": _labelled(groups.labels, gt.status),
        "fit": {"rows": gt.n_fit, "scores": source, "constraint": gt.constraint,
                "tolerance": gt.tolerance, "fit_tolerance": gt.fit_tolerance,
                "disparity": round(gt.fit_disparity, 6), "accuracy": round(gt.fit_accuracy, 6),
                "base_accuracy": round(gt.base_accuracy, 6)}})


def _reductions(cand, opts, *, groups, X, y, train, test, **_) -> FoldOutput:
    import warnings

    from fairsel.mitigation.reductions import fit_exponentiated_gradient

    pipe = cand.build()
    prepare, estimator = pipe.named_steps["prepare"], pipe.named_steps["model"]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning)
        x_train = prepare.fit_transform(X.iloc[train], y[train])
        x_test = prepare.transform(X.iloc[test])
    model = fit_exponentiated_gradient(estimator, x_train, y[train], groups.codes[train],
                                       constraint=opts["constraint"], epsilon=opts["epsilon"])
    s = model.score(x_test)
    return FoldOutput(name="", y_score=s, y_pred=(s >= 0.5).astype(np.int8), details={
        "constraint": opts["constraint"], "epsilon": opts["epsilon"],
        "best_gap": round(model.best_gap, 6), "oracle_calls": model.n_oracle_calls,
        "mixture_weights": [round(float(w), 6) for w in model.weights if w > 0]})


def _postprocessing(cand, opts, *, groups, y, train, test, s_test, fitting_scores, seed,
                    **_) -> FoldOutput:
    from fairsel.mitigation.postprocessing import fit_postprocessing, privileged_side

    fit_s, source = fitting_scores()
    priv = privileged_side(y[train], groups.codes[train], groups.n_groups, groups.reference)
    side = groups.codes == priv
    keys = {k: opts[k] for k in ("constraint", "tolerance", "grid_size") if k in opts}
    model = fit_postprocessing(opts["method"], y[train], fit_s, side[train], seed=seed, **keys)
    s, pred = model.predict(s_test, side[test])
    return FoldOutput(name="", y_score=s, y_pred=pred, details={
        "privileged": groups.labels[priv], "fit": {"rows": int(len(train)), "scores": source},
        **model.details})


_MITIGATE = {"reweighing": _reweighing, "threshold": _threshold, "reductions": _reductions,
             "postprocessing": _postprocessing}


def _data_summary(data: AuditData, policy: Policy) -> DataSummary:
    attrs = []
    # rows and favorable outcomes per atom once; each attribute sums its atoms
    n_atom = np.bincount(data.atoms, minlength=data.n_atoms)
    fav_atom = np.bincount(data.atoms, weights=data.y, minlength=data.n_atoms)
    for part in data.partitions:
        n = np.bincount(part.atom_to_group, weights=n_atom, minlength=part.n_groups)
        fav = np.bincount(part.atom_to_group, weights=fav_atom, minlength=part.n_groups)
        groups = []
        for g, label in enumerate(part.labels):
            flags = []
            if n[g] < policy.min_group_size:
                flags.append("small")
            if part.is_missing(g):
                flags.append("unknown")
            groups.append(GroupSize(group=label, n=int(n[g]), favorable=int(fav[g]),
                                    favorable_rate=float(fav[g] / n[g]) if n[g] else None,
                                    flags=flags))
        attrs.append(AttributeSummary(
            attribute=part.name, columns=list(part.columns), kind=part.kind,  # type: ignore[arg-type]
            reference=part.labels[part.reference] if part.reference is not None else None,
            groups=groups))
    return DataSummary(
        path=str(data.path), format=data.format, rows_read=data.rows_read, rows_used=data.n_rows,
        excluded=[Exclusion(reason=r, count=c) for r, c in data.excluded], target=data.target,
        favorable=data.favorable, favorable_rate=float(data.y.mean()), features=data.features,
        protected_as_features=data.protected_as_features, attributes=attrs,
        cluster_column=data.cluster_column,
        n_clusters=_count_distinct(data.clusters) if data.clusters is not None else None)


def _count_distinct(codes: np.ndarray) -> int:
    """Distinct values of an array of cluster codes (small non-negative ints: no sort)."""
    codes = np.asarray(codes)
    if codes.dtype.kind in "iu" and len(codes) and codes.min() >= 0 and codes.max() < 4 * len(codes):
        return int(np.count_nonzero(np.bincount(codes)))
    return int(len(np.unique(codes)))


def split_rows(policy: Policy, full: AuditData) -> tuple[AuditData, np.ndarray | None,
                                                          np.ndarray]:
    """The holdout (``validation.holdout``) and the folds of the other rows.

    Returns ``(data, hold, folds)``: the rows cross-validated (every row without a holdout),
    the holdout mask over ``full`` (None without one), and the fold of each cross-validated
    row. ``fairsel validate`` and ``run_audit`` both call it, so they refuse the same splits.

    Raises
    ------
    DataError
        The holdout or the folds cannot be made (an outcome missing on a side, too few
        clusters).
    """
    data, hold = full, None
    if policy.validation.holdout is not None:  # kept out of every fit and choice until the end
        hold = holdout_mask(full.y, policy.validation.holdout, clusters=full.clusters,
                            seed=policy.seed, where=str(full.path))
        data = _rows(full, ~hold)
    folds = make_folds(data.y, scheme=policy.validation.scheme, n_folds=policy.validation.folds,
                       clusters=data.clusters, seed=policy.seed, where=str(data.path))
    return data, hold, folds


def build_candidates(policy: Policy, data: AuditData):
    """Every candidate built, and every fixed one scored: all a candidate can be refused for
    without training.

    Saved models are loaded through their trust checks (pickle trust and sha256, skops types,
    the file's sha256) and score every row (feature names and order, classes, finite scores);
    predictions files are read and joined on ``data.id``. ``fairsel validate`` and
    ``run_audit`` both call this, so they refuse the same inputs with the same messages.

    Returns ``(X, candidates, fixed_scores, score_types)``: the prepared feature frame, one
    candidate per policy entry, the scores of each fixed candidate by its index, and each
    candidate's ``(score_type, how it was decided)`` by its index.

    Raises
    ------
    ModelError
        A saved model is missing, refused or does not fit the data (exit code 4).
    DataError
        A predictions file is missing, lacks a column, or does not join, or a fixed candidate
        that is a probability has scores outside [0, 1], or a declared proxy (data.proxies) is
        not a feature (exit code 3).
    """
    check_declared_proxies(policy, data)  # validate and audit refuse the same policies
    X = prepare_frame(data.X, data.categorical_features)
    ctx = CandidateContext(seed=policy.seed, features=data.features,
                           numeric=data.numeric_features, categorical=data.categorical_features,
                           resolve=lambda p: policy.resolve(p), row_ids=data.row_ids,
                           id_column=policy.data.id, policy_path=policy.path,
                           extra={"data_path": data.path, "favorable": data.favorable,
                                  "data_columns": data.file_columns})
    cands = [make_candidate(spec, ctx) for spec in policy.candidates]
    # fixed candidates (saved models, predictions) score every row once; refusals are fatal
    fixed_scores = {ci: np.asarray(c.score_all(X), dtype=np.float64)
                    for ci, c in enumerate(cands) if not getattr(c, "trainable", True)}
    data.file_columns.clear()  # read by the predictions candidates above, not needed after
    return X, cands, fixed_scores, _score_types(policy, cands, fixed_scores, data)


def run_audit(policy: Policy, *, progress: Progress | None = None, jobs: int = 1,
              strict: bool = False, backend: Backend | None = None,
              on_predictions: Callable[[AuditRun], None] | None = None) -> AuditRun:
    """Run the whole audit the policy describes, its fits on ``backend`` (default: the
    policy's ``execution``, with ``jobs`` local worker processes); see :func:`_run_audit`.
    A Dask scheduler is reached (or a local cluster started) before any data is read, and
    closed when the audit ends."""
    progress = progress or NullProgress()
    with open_backend(backend or _backend(policy, jobs), progress) as runner:
        return _run_audit(policy, runner=runner, progress=progress, strict=strict,
                          on_predictions=on_predictions)


def _run_audit(policy: Policy, *, runner: Runner, progress: Progress, strict: bool,
               on_predictions: Callable[[AuditRun], None] | None) -> AuditRun:
    """Run the whole audit the policy describes.

    Trains (or ingests) every candidate under group-aware cross-validation, measures
    pooled out-of-fold performance and fairness with intervals, judges the gates, ranks the
    variants and returns an :class:`AuditRun` (the result, and the predictions).

    ``on_predictions``, if given, is called once every variant's out-of-fold predictions are
    known and before they are measured, with an :class:`AuditRun` whose ``result`` is still
    ``None``: the CLI starts writing predictions.parquet then, while the metrics are computed.

    Raises
    ------
    PolicyError, DataError
        Invalid policy or data (exit codes 2 and 3).
    ModelError
        Every candidate failed, or (with ``strict``) any candidate failed (exit code 4).
    """
    started, t0 = _now(), time.perf_counter()
    timings: dict[str, float] = {}
    plan(policy)
    original = policy
    policy, trials = expand_policy(policy)  # every search trial becomes a candidate
    files = dataset_files(policy)
    if files is not None:  # a predictions-only audit of data read in chunks
        return _run_chunked(policy, original, files, runner=runner, progress=progress,
                            started=started, t0=t0)
    progress.stage("reading data")
    full = load_data(policy)
    data, hold, folds = split_rows(policy, full)
    n_folds = int(folds.max()) + 1
    timings["load_and_split"] = time.perf_counter() - t0
    failures: list[Failure] = []
    preds: list[VariantPredictions] = []

    t_fit = time.perf_counter()
    X, cands, fixed_scores, score_types = build_candidates(policy, full)
    X_full, fixed_full = X, fixed_scores
    if hold is not None:
        X = X.iloc[np.flatnonzero(~hold)]
        fixed_scores = {ci: s[~hold] for ci, s in fixed_scores.items()}
    screen, origin = None, {}
    codes = FeatureCodes(X)  # the categoricals factorized once, for the proxies and the slices
    settings = policy.proxy_screen
    if settings is not None and settings.exclude_flagged:  # the screen decides the features
        progress.stage("screening proxies")
        t_proxies = time.perf_counter()
        screen = run_proxy_screen(X, data, folds, policy, codes)
        timings["proxies"] = time.perf_counter() - t_proxies
        origin = add_proxy_free(cands, score_types, screen)
    # a fixed candidate without mitigations has nothing to do per fold: its out-of-fold
    # scores are its scores (the folds only split them for the per-fold figures)
    whole = {ci for ci in fixed_scores
             if not any(_applies(spec, cands[ci], False) for spec in policy.mitigation)}
    tasks = [(ci, k) for ci in range(len(cands)) if ci not in whole for k in range(n_folds)]
    # the proxy screen needs no fit: where the fits leave a core free (--jobs below the
    # cores, this process's backend) it runs beside them, else beside the measuring
    background = None
    threaded_screen = settings is not None and screen is None and analysis_threads() >= 2
    if threaded_screen and runner.client is None \
            and worker_count(runner.backend.jobs, max(len(tasks), 1)) < usable_cores():
        background = _start_screen(X, data, folds, policy, codes)
    progress.stage("cross-validating candidates", total=len(tasks))

    grid = _Grid(cands=cands, mitigations=policy.mitigation, X=X, data=data, folds=folds,
                 fixed_scores=fixed_scores, seed=policy.seed,
                 min_group_size=policy.min_group_size,
                 proxy_free=frozenset(origin),
                 keep_models=policy.explain_settings is not None,
                 shared=shared_preparations(cands, policy.mitigation,
                                            proxy_free=frozenset(origin)))

    # search.prune: a trial is judged on its first folds, the same way on every backend
    searches = {c.name: c.search for c in original.candidates if c.search is not None}
    prune_after = {ci: max(1, n_folds // 2) - 1 for ci, c in enumerate(cands)
                   if c.name in trials and searches[trials[c.name].of].prune}
    pruned: dict[int, str] = {}
    judged: set[int] = set()

    def _prune(ci: int, outputs: list) -> None:
        judged.add(ci)
        first = [o for o in outputs if o[0] == ci and 0 <= o[1] <= prune_after[ci]]
        margin = searches[trials[cands[ci].name].of].prune_margin
        reason = prune_reason(first, policy, data, folds, margin=margin)
        if reason is not None:
            pruned[ci] = reason
            progress.note(f"trial '{cands[ci].name}' pruned: {reason}")

    def run_grid(tasks: list[tuple]) -> list:
        """The tasks' outputs from the backend, each trial to prune judged on its first
        folds: as they come in this process (its later folds are then skipped), after
        they all ran on workers; the same decisions either way."""
        seen: list = []

        def on_result(task: tuple, result) -> None:
            seen.append(result)
            if task[1] == prune_after.get(task[0]):
                _prune(task[0], seen)

        out = runner.run(_grid_task, grid, tasks,
                         fallback=lambda t, err: (t[0], t[1], np.flatnonzero(folds == t[1]),
                                                  None, err),
                         skip=lambda t: t[0] in pruned, on_result=on_result)
        for ci in dict.fromkeys(t[0] for t in tasks):
            if ci in prune_after and ci not in judged:
                _prune(ci, out)
        return out

    # optuna searches ask each trial's setting from the figures of the trials before: their
    # trials run in batches (ask a batch, run its folds on the backend, tell in trial
    # order); the grid runs the rest
    searched: list = []
    for name, cis in _optuna_trials(cands, trials, searches).items():
        progress.note(f"searching '{name}' with optuna ({len(cis)} trials)")
        searched += run_optuna(searches[name], name, cis, cands, trials, run_grid, n_folds,
                               policy=policy, data=data, pruned=pruned,
                               confidence=_confidence(policy))
    done = {o[0] for o in searched}
    outputs = run_grid([t for t in tasks if t[0] not in done])
    runner.release()  # the grid is done: no worker waits through the measuring
    outputs = sorted(searched + outputs, key=lambda o: (o[0], o[1]))
    outputs = [o for o in outputs if o[0] not in pruned]

    for ci in sorted(whole):  # in candidate order, as the tasks are
        s_all = fixed_scores[ci]
        at = next((i for i, o in enumerate(outputs) if o[0] > ci), len(outputs))
        outputs.insert(at, (ci, -1, slice(None), [FoldOutput(
            name=cands[ci].name, y_score=s_all,
            y_pred=(s_all >= cands[ci].threshold).astype(np.int8))], None))

    # assemble out-of-fold predictions per variant (base first, then its mitigations)
    order: list[tuple[int, str]] = []
    arrays: dict[str, dict[str, Any]] = {}
    models: dict[str, dict[int, Any]] = {}  # variant -> fold -> fitted model (explanations)
    failed: dict[str, str] = {cands[ci].name: f"pruned: {why}" for ci, why in pruned.items()}
    for ci, k, test, out, err in outputs:
        cand = cands[ci]
        if err is not None:
            failed.setdefault(cand.name, err)
            failures.append(Failure(candidate=cand.name, variant=cand.name, stage="fit",
                                    fold=k, message=err))
            progress.note(f"candidate '{cand.name}' failed in fold {k}: {err}")
            continue
        for fo in out:
            if fo.name not in arrays:
                order.append((ci, fo.name))
                arrays[fo.name] = {"score": np.full(data.n_rows, np.nan),
                                   "pred": np.zeros(data.n_rows, dtype=np.int8),
                                   "details": {}, "info": fo}
            if fo.error is not None:
                failed.setdefault(fo.name, fo.error)
                failures.append(Failure(candidate=cand.name, variant=fo.name, stage=fo.stage,
                                        fold=k, message=fo.error))
                continue
            arrays[fo.name]["score"][test] = fo.y_score
            arrays[fo.name]["pred"][test] = fo.y_pred
            if fo.model is not None:  # a fitted model, or why it was not kept
                models.setdefault(fo.name, {})[k] = fo.model
            for key, val in fo.details.items():
                arrays[fo.name]["details"].setdefault(key, {})[str(k)] = val
    for ci, cand in enumerate(cands):  # a candidate failing in every fold still gets a row
        if cand.name not in arrays:
            order.append((ci, cand.name))
            arrays[cand.name] = {"info": FoldOutput(name=cand.name, y_score=None, y_pred=None),
                                 "details": {}}
    timings["fit"] = time.perf_counter() - t_fit
    if strict and failures:
        raise ModelError("--strict: " + "; ".join(f"candidate '{f.candidate}' failed at {f.stage} "
                                                   f"(fold {f.fold}): {f.message}" for f in failures))

    for ci, name in order:  # every variant gets its rows in predictions.parquet
        a = arrays[name]
        if name not in failed and cands[ci].name not in failed:
            preds.append(VariantPredictions(name, a["score"], a["pred"]))
        elif "score" in a:  # failed on some folds: their rows have no prediction
            preds.append(VariantPredictions(name, a["score"], a["pred"], np.isnan(a["score"])))
        else:
            preds.append(VariantPredictions(name, np.full(data.n_rows, np.nan),
                                            np.zeros(data.n_rows, dtype=np.int8),
                                            np.ones(data.n_rows, dtype=bool)))
    if all(p.missing is not None for p in preds):
        raise ModelError("every candidate failed: " + "; ".join(
            f"'{f.candidate}' at {f.stage} (fold {f.fold}): {f.message}" for f in failures))
    if on_predictions is not None:
        on_predictions(AuditRun(result=None, row_ids=data.row_ids, folds=folds,  # type: ignore[arg-type]
                                y_true=data.y, predictions=preds))

    if threaded_screen and background is None:
        background = _start_screen(X, data, folds, policy, codes)
    t_metrics = time.perf_counter()
    confidence = _confidence(policy)
    variants: list[VariantResult] = []
    progress.stage("measuring", total=len(order))
    for ci, name in order:
        cand, a = cands[ci], arrays[name]
        info = a["info"]
        cand_name = origin.get(ci, cand.name)
        base = dict(name=name, candidate=cand_name, kind=cand.kind, mitigation=info.mitigation,
                    base=cand_name if info.mitigation else None,
                    uses_protected_at_decision=bool(data.protected_as_features)
                    or info.uses_protected_at_decision,
                    protected_as_features=data.protected_as_features, details=a["details"],
                    trial=_trial_info(trials.get(cand.name), pruned.get(ci)))
        if name in failed or cand.name in failed:
            variants.append(VariantResult(**base, status="ERROR", performance={}, fairness={},
                                          attributes=[], folds=[]))
            continue
        y_score, y_pred = a["score"], a["pred"]
        stype, how = _variant_score_type(score_types[ci], y_score, cand, name, policy, data)
        vm = evaluate_variant(data.y, y_pred, y_score, atoms=data.atoms, n_atoms=data.n_atoms,
                              partitions=data.partitions, folds=folds, n_folds=n_folds,
                              clusters=data.clusters, min_group_size=policy.min_group_size,
                              confidence=confidence, seed=policy.seed, label=name,
                              probability=stype == "probability")
        variants.append(VariantResult(**base, status="PASS", performance=vm.performance,
                                      fairness=vm.fairness, attributes=vm.attributes,
                                      folds=vm.folds, score_type=stype,
                                      unavailable=unavailable_reason(name, stype, how)))
        progress.advance()
    timings["metrics"] = time.perf_counter() - t_metrics

    if background is not None:
        if not background.done():
            progress.stage("screening proxies")
        screen, timings["proxies"] = background.result()
    elif settings is not None and screen is None:
        progress.stage("screening proxies")
        screen, timings["proxies"] = _timed(run_proxy_screen, X, data, folds, policy, codes)

    dropped = frozenset(f for a in screen.attributes for f in a.flagged) if origin else None
    variants, gates, ranking, hib, fairness_names = _judge_and_rank(
        variants, policy, clustered=data.clusters is not None,
        extra_gates=lambda vs: proxy_gates(
            screen, vs, severity=settings.severity if settings else "warn",
            first_index=len(policy.gates),
            without={cands[ci].name: dropped for ci in origin} if dropped else None))
    selection = Selection(variants=len(variants), trials=len(trials), pruned=len(pruned),
                          optimistic=hold is None and len(variants) > OPTIMISTIC_AFTER,
                          note=None if hold is not None or len(variants) <= OPTIMISTIC_AFTER
                          else optimism_note(len(variants), ranking.selected))
    if hold is None:
        verdict = _verdict(variants, ranking.selected, gates)
    else:
        progress.stage("measuring on the holdout")
        t_holdout = time.perf_counter()
        holdout = measure_holdout(
            policy, full, hold, X_full, cands, fixed_full, score_types, ranking, screen=screen,
            confidence=confidence, fairness_names=fairness_names, trials=trials, n_folds=n_folds)
        selection = selection.model_copy(update={"holdout": holdout})
        verdict = _holdout_verdict(holdout, ranking.selected)
        timings["holdout"] = time.perf_counter() - t_holdout
    compliance = compliance_result(policy, variants, ranking, partitions=data.partitions,
                                   atoms=data.atoms, higher_is_better=hib,
                                   predictions={p.name: (p.y_score, p.y_pred) for p in preds})
    slices = None
    if policy.slice_search is not None:
        progress.stage("searching worst slices")
        t_slices = time.perf_counter()
        slices = run_slice_search(X, data, policy, ranking, variants, preds, codes)
        timings["slices"] = time.perf_counter() - t_slices

    explanations = None
    if policy.explain_settings is not None:
        t_explain = time.perf_counter()
        progress.stage("explaining variants")
        explanations = run_explanations(policy, data, X, folds, ranking, variants, arrays,
                                        models, screen, saved=_saved_models(cands))
        timings["explain"] = time.perf_counter() - t_explain
    del models

    finished = _now()
    timings["total"] = time.perf_counter() - t0
    provenance = Provenance(
        policy_path=str(policy.path.resolve()), policy_sha256=policy.sha256, data_sha256=data.sha256,
        seed=policy.seed, fairsel_version=__version__, python=sys.version.split()[0],
        platform=platform.platform(), packages=_package_versions(), started=started,
        finished=finished, duration_seconds=round(timings["total"], 3),
        timings={k: round(v, 4) for k, v in timings.items()})
    result = AuditResult(
        name=policy.name, title=policy.title, description=policy.description, verdict=verdict,
        # where the grid ran is not part of the result: the same on every backend
        policy=original.model_dump(mode="json", exclude={"execution"}), policy_text=policy.text,
        data=_data_summary(full, policy),
        validation=ValidationSummary(scheme=policy.validation.scheme, folds=n_folds,
                                     groups=policy.validation.groups,
                                     fold_sizes=np.bincount(folds, minlength=n_folds).tolist(),
                                     seed=policy.seed),
        metrics={"performance": list(policy.metrics.performance),
                 "fairness": list(policy.metrics.fairness)},
        confidence=policy.metrics.confidence.model_dump(mode="json"),
        min_group_size=policy.min_group_size, variants=variants, gates=gates,
        failures=failures, ranking=ranking, provenance=provenance,
        analysis=Analysis(proxies=screen, slices=slices, explanations=explanations),
        compliance=compliance, selection=selection)
    return AuditRun(result=result, row_ids=data.row_ids, folds=folds, y_true=data.y,
                    predictions=preds)


def _significance(variants: list[VariantResult], policy: Policy, *,
                  clustered: bool) -> list[VariantResult]:
    """The variants with their significance tests, under the policy's settings: one call for
    the cross-validated figures and the holdout's, so that a clustered audit tests both with
    the clusters' design effects at the confidence level of its intervals."""
    sig = policy.metrics.significance
    return add_significance(variants, min_group_size=policy.min_group_size, test=sig.test,
                            adjust=sig.adjust, clustered=clustered,
                            level=policy.metrics.confidence.level)


def _judge_and_rank(variants: list[VariantResult], policy: Policy, *, clustered: bool,
                    extra_gates: Callable[[list[VariantResult]], list] | None = None):
    """Significance tests, the gates (the policy's, then ``extra_gates``), each variant's
    status and the ranking: ``(variants with status and rank, gates, ranking,
    higher_is_better, fairness_names)``. One order of steps for every audit."""
    variants = _significance(variants, policy, clustered=clustered)
    fairness_names = set(FAIRNESS_NAMES)
    gates = evaluate_gates(variants, policy, fairness_names)
    if extra_gates is not None:
        gates += extra_gates(variants)
    variants = [v if v.status == "ERROR" else v.model_copy(
        update={"status": variant_status([g for g in gates if g.variant == v.name])})
        for v in variants]
    hib = {name: METRICS.get(name).higher_is_better for name in METRICS.names()}
    ranking = rank(variants, gates, policy, higher_is_better=hib, fairness_names=fairness_names)
    position = {name: i + 1 for i, name in enumerate(ranking.order)}
    variants = [v.model_copy(update={"rank": position.get(v.name)}) for v in variants]
    return variants, gates, ranking, hib, fairness_names


def _run_chunked(policy: Policy, original: Policy, files: list, *, runner: Runner,
                 progress: Progress, started: str, t0: float) -> AuditRun:
    """The audit of a dataset read in chunks (:mod:`fairsel.chunked`): each file a task on the
    audit's backend, measured there, then judged, ranked and recorded as any audit; no
    predictions.parquet (the rows are not kept)."""
    from fairsel.chunked import measure_chunked

    def lost(task: tuple, message: str):
        raise DataError(f"{files[task[0]]}: reading the file failed: {message}")

    measured = measure_chunked(
        policy, files, progress=progress, confidence=_confidence(policy),
        run=lambda fn, shared, tasks: runner.run(fn, shared, tasks, fallback=lost))
    variants, gates, ranking, hib, _ = _judge_and_rank(
        measured.variants, policy, clustered=policy.validation.groups is not None)
    total = time.perf_counter() - t0
    provenance = Provenance(
        policy_path=str(policy.path.resolve()), policy_sha256=policy.sha256,
        data_sha256=measured.data_sha256, seed=policy.seed, fairsel_version=__version__,
        python=sys.version.split()[0], platform=platform.platform(),
        packages=_package_versions(), started=started, finished=_now(),
        duration_seconds=round(total, 3), timings={"total": round(total, 4)})
    result = AuditResult(
        name=policy.name, title=policy.title, description=policy.description,
        verdict=_verdict(variants, ranking.selected, gates),
        policy=original.model_dump(mode="json", exclude={"execution"}), policy_text=policy.text,
        data=measured.data, validation=measured.validation,
        metrics={"performance": list(policy.metrics.performance),
                 "fairness": list(policy.metrics.fairness)},
        confidence=policy.metrics.confidence.model_dump(mode="json"),
        min_group_size=policy.min_group_size, variants=variants, gates=gates, failures=[],
        ranking=ranking, provenance=provenance, analysis=Analysis(),
        compliance=compliance_result(policy, variants, ranking, partitions=[],
                                     atoms=np.zeros(0, np.int64), higher_is_better=hib,
                                     predictions={}),
        selection=Selection(variants=len(variants), trials=0, pruned=0,
                            optimistic=len(variants) > OPTIMISTIC_AFTER,
                            note=optimism_note(len(variants), ranking.selected)
                            if len(variants) > OPTIMISTIC_AFTER else None))
    empty = np.zeros(0, dtype=np.int64)
    return AuditRun(result=result, row_ids=empty, folds=empty, y_true=empty)


def _backend(policy: Policy, jobs: int) -> Backend:
    """Where the grid runs when the caller does not say: the policy's ``execution``."""
    ex = policy.execution
    return Backend(name=ex.backend, address=ex.address, jobs=jobs)


#: Mitigations that act after the margin (on the scores, by group): their variants are
#: explained by their base model.
_AFTER_MARGIN = {"threshold": "group thresholds", "postprocessing": "post-processing"}


#: The note of a variant explained by a model trained elsewhere (kind: saved_model).
SAVED_NOTE = ("a model trained elsewhere (saved_model): the one loaded model explains every "
              "sampled row (there are no folds); fairsel cannot know whether the model saw "
              "these rows in its training, so these are not out-of-fold explanations")


def _saved_models(cands) -> dict[str, Any]:
    """The candidates that are models trained elsewhere (kind: saved_model), by name."""
    if not any(getattr(c, "kind", None) == "saved_model" for c in cands):
        return {}  # the loader (pandas, the LightGBM text parser) is not imported for nothing
    from fairsel.candidates.saved import SavedModelCandidate

    return {c.name: c for c in cands if isinstance(c, SavedModelCandidate)}


def run_explanations(policy: Policy, data: AuditData, X, folds: np.ndarray, ranking, variants,
                     arrays: dict[str, dict[str, Any]], models: dict[str, dict[int, Any]],
                     screen, saved: dict[str, Any] | None = None):
    """SHAP explanations of the selected and best-ranked variants (policy key ``explain``),
    each fold's model on a sample of its own test rows; a model trained elsewhere
    (``saved``: candidate name -> SavedModelCandidate) explains every sampled row itself."""
    from fairsel.analysis.explain import (
        GroupCodes,
        VariantInput,
        choose_variants,
        explain_variants,
    )

    spec = policy.explain_settings
    assert spec is not None
    saved = saved or {}
    by_name = {v.name: v for v in variants}
    inputs, skipped = [], []
    for name in choose_variants(ranking.selected, ranking.order, spec.variants):
        v = by_name[name]
        kind = (v.mitigation or "").split("[", 1)[0]
        source, note = name, None
        if kind in _AFTER_MARGIN:
            source = v.base or name
            note = (f"{_AFTER_MARGIN[kind]} act on the scores of '{source}' by group, after its "
                    f"margin: the margin explained is that of '{source}'; the decisions "
                    "(unfavorable or not) are this variant's")
        if v.status == "ERROR":
            skipped.append((name, "the variant failed; there is no model to explain"))
        elif kind == "reductions":
            skipped.append((name, "a randomised mixture of models (fairlearn's reductions): "
                                  "no single margin to explain"))
        elif source in saved:
            note = SAVED_NOTE if note is None else \
                f"{note}. {SAVED_NOTE[0].upper()}{SAVED_NOTE[1:]}"
            inputs.append(VariantInput(variant=name, model_of=source, note=note, models={},
                                       y_pred=arrays[name]["pred"], saved=saved[source]))
        elif source not in models:
            skipped.append((name, "a fixed candidate without a model (precomputed predictions): "
                                  "there is no model to explain"))
        elif dropped := next((m for m in models[source].values() if isinstance(m, str)), None):
            skipped.append((name, dropped))
        else:
            inputs.append(VariantInput(variant=name, model_of=source, note=note,
                                       models=models[source], y_pred=arrays[name]["pred"]))
    groups = [GroupCodes(name=p.name, labels=p.labels, codes=p.codes(data.atoms),
                         reference=p.reference) for p in data.partitions]
    flags = {c: "proxy" for c in policy.data.proxies}
    if screen is not None:
        flags.update({f: "proxy" for a in screen.attributes for f in a.flagged})
    flags.update({c: "protected" for c in data.protected_as_features})
    return explain_variants(inputs, skipped, X=X, folds=folds, atoms=data.atoms,
                            n_atoms=data.n_atoms, groups=groups, features=data.features,
                            flags=flags, seed=policy.seed, n_variants=spec.variants,
                            rows=spec.rows, threads=analysis_threads(),
                            min_rows=policy.min_group_size)


class _Background:
    """``fn(*args)`` (with its wall seconds) in a daemon thread of its own, which ends with the
    call: an audit that fails on the way leaves no thread behind it."""

    def __init__(self, name: str, fn: Callable[..., Any], *args) -> None:
        self._out: tuple[Any, float] | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(fn, *args), name=name,
                                        daemon=True)
        self._thread.start()

    def _run(self, fn: Callable[..., Any], *args) -> None:
        try:
            self._out = _timed(fn, *args)
        except BaseException as exc:  # noqa: BLE001 — raised again where the result is read
            self._error = exc

    def done(self) -> bool:
        return not self._thread.is_alive()

    def result(self) -> tuple[Any, float]:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._out is not None
        return self._out


def _start_screen(X, data: AuditData, folds: np.ndarray, policy: Policy, codes) -> _Background:
    """The proxy screen started in a thread of its own. Its models use one thread and its
    draws are seeded: the same screen as in the audit's own thread."""
    return _Background("proxies", run_proxy_screen, X, data, folds, policy, codes)


def _timed(fn: Callable[..., Any], *args) -> tuple[Any, float]:
    """``fn(*args)`` and the wall seconds it took."""
    t = time.perf_counter()
    return fn(*args), time.perf_counter() - t


def analysis_threads() -> int:
    """Threads for fairsel's own analyses after the fits: the usable cores, at most
    :data:`ANALYSIS_THREADS`. With two or more, the proxy screen (which needs no fit) runs in
    a thread beside the fits when they leave a core free (``--jobs`` below the cores), else
    beside the measuring; and Tree SHAP values, computed after the fits, use that many
    threads. The figures do not depend on it (the screen has its own seeded draws and
    one-thread models, and each SHAP row is computed alone)."""
    return max(1, min(usable_cores(), ANALYSIS_THREADS))


def check_declared_proxies(policy: Policy, data: AuditData) -> None:
    """Each ``data.proxies`` entry must be a feature of the audit (a DataError otherwise)."""
    from fairsel.errors import DataError, did_you_mean

    for i, col in enumerate(policy.data.proxies):
        if col not in data.features:
            raise DataError(
                f"{policy.path}: data → proxies[{i}]: '{col}' is not a feature of {data.path}"
                f"{did_you_mean(col, data.features)}; the features are: "
                f"{', '.join(data.features)[:500]} (a declared proxy must be a feature: check "
                "its spelling, and that data.features and data.exclude leave it in)")


def run_proxy_screen(X, data: AuditData, folds: np.ndarray, policy: Policy, codes=None):
    """The proxy screen of this audit's features, protected attributes and folds (``codes``:
    the features' :class:`~fairsel.analysis.features.FeatureCodes`, shared with the slices)."""
    from fairsel.analysis.proxies import AttributeCodes, screen_proxies

    spec = policy.proxy_screen
    assert spec is not None
    attrs = [AttributeCodes(name=p.name, codes=p.codes(data.atoms), labels=p.labels,
                            columns=p.columns) for p in data.attributes]
    return screen_proxies(X, categorical=data.categorical_features, attributes=attrs,
                          folds=folds, seed=policy.seed, declared=policy.data.proxies,
                          max_feature_auc=spec.max_feature_auc, max_all_auc=spec.max_all_auc,
                          max_rows=spec.max_rows, bins=spec.bins,
                          min_group_size=policy.min_group_size, codes=codes)




def add_proxy_free(cands: list, score_types: dict[int, tuple[str, str]], screen) -> dict[int, str]:
    """Append to ``cands`` a copy of each trainable candidate without the features the proxy
    screen flags (named ``<candidate>+no_proxies``); returns new index -> original name."""
    import dataclasses

    flagged = {f for a in screen.attributes for f in a.flagged}
    origin: dict[int, str] = {}
    if not flagged:
        return origin
    for ci, cand in list(enumerate(cands)):
        if not getattr(cand, "trainable", False):
            continue
        origin[len(cands)] = cand.name
        score_types[len(cands)] = score_types[ci]
        cands.append(dataclasses.replace(
            cand, name=f"{cand.name}+{PROXY_FREE}",
            numeric=[c for c in cand.numeric if c not in flagged],
            categorical=[c for c in cand.categorical if c not in flagged]))
    return origin


def run_slice_search(X, data: AuditData, policy: Policy, ranking, variants, preds, codes=None):
    """Worst-slice discovery for the selected variant and the next of the ranking."""
    from fairsel.analysis.slices import find_slices

    spec = policy.slice_search
    assert spec is not None
    usable = {p.name: p for p in preds if p.missing is None}
    ok = {v.name for v in variants if v.status != "ERROR"}
    order = ([ranking.selected] if ranking.selected else []) + list(ranking.order)
    chosen = list(dict.fromkeys(n for n in order if n in usable and n in ok))[:spec.variants]
    protected = [(p.name, p.codes(data.atoms), p.labels) for p in data.attributes]
    return find_slices(X, categorical=data.categorical_features, y_true=data.y,
                       predictions={n: usable[n].y_pred for n in chosen}, protected=protected,
                       depth=spec.depth, bins=spec.bins, min_support=spec.min_support,
                       min_rows=spec.min_rows, metrics=spec.metrics, top=spec.top,
                       alpha=spec.alpha, level=policy.metrics.confidence.level, codes=codes,
                       min_denominator=policy.min_group_size)


def _score_types(policy: Policy, cands, fixed_scores: dict[int, np.ndarray],
                 data: AuditData) -> dict[int, tuple[str, str]]:
    """Each candidate's (score_type, how it was decided); a fixed candidate that is a
    probability with scores outside [0, 1] is a DataError (exit 3)."""
    out = {}
    for ci, (spec, cand) in enumerate(zip(policy.candidates, cands)):
        out[ci] = resolve_score_type(spec.score_type, trainable=getattr(cand, "trainable", True),
                                     kind=spec.kind, scores=fixed_scores.get(ci))
        if ci in fixed_scores and out[ci][0] == "probability":
            check_probabilities(fixed_scores[ci], name=cand.name,
                                path=getattr(cand, "path", None) or data.path, how=out[ci][1],
                                row=_row_namer(policy, data))
    return out


def _row_namer(policy: Policy | None, data: AuditData) -> Callable[[int], str]:
    """Names the i-th audited row in a message: by its id when the data has one."""
    id_col = policy.data.id if policy is not None else None
    if id_col:
        return lambda i: f"{id_col} {data.row_ids[i]}"
    return lambda i: f"audited row {i + 1}"


def _variant_score_type(cand_type: tuple[str, str], y_score: np.ndarray, cand, name: str,
                        policy: Policy, data: AuditData) -> tuple[str, str]:
    """A variant's score type: its candidate's. A trained candidate (a probability) whose
    out-of-fold scores leave [0, 1] is a DataError; a mitigation that moves a probability out
    of [0, 1] makes that variant's scores plain scores."""
    stype, how = cand_type
    if stype != "probability" or in_unit_interval(y_score):
        return stype, how
    if name == cand.name:
        check_probabilities(y_score, name=name, path=data.path, how=how,
                            row=_row_namer(policy, data))
    return "score", "inferred: the mitigated scores lie outside [0, 1]"


def _verdict(variants: list[VariantResult], selected: str | None,
             gates: list[GateResult], where: str = "") -> Verdict:
    """The verdict on ``gates``; ``where`` says on which rows they were judged ("on the
    holdout (500 rows)")."""
    if selected is not None:
        v = next(v for v in variants if v.name == selected)
        status = v.status
        # with no error-severity gate in the policy, none could block it: say that, not "passes"
        msg = (f"'{selected}' is selected and passes every error-severity gate"
               if any(g.severity == "error" for g in gates) else
               f"'{selected}' is selected; {NO_ERROR_GATE}") + (f" {where}" if where else "")
        if status == "WARN":  # say what the warnings are
            warns = [g for g in gates if g.variant == selected and g.status != "PASS"]
            msg += f" (with {len(warns)} warning(s): {'; '.join(map(gate_summary, warns))})"
        return Verdict(status=status, exit_code=0, selected=selected, message=msg)
    if any(v.status == "INSUFFICIENT" for v in variants):
        return Verdict(status="INSUFFICIENT", exit_code=5, selected=None,
                       message="no variant can be shown to pass: a required gate could not be "
                               "decided (groups too small or a class missing)")
    # why none was selected, as the ranking's reason says it: those passing may all decide with
    # the protected attribute; a policy without error gates blocks none (none was evaluated)
    message = (ONLY_PROTECTED_PASS if any(v.status in ("PASS", "WARN") for v in variants) else
               "no variant passes every error-severity gate"
               if any(g.severity == "error" for g in gates) else NONE_EVALUATED)
    return Verdict(status="FAIL", exit_code=1, selected=None, message=message)


# ---------------------------------------------------------------------------- search and holdout

#: Above this many compared variants, a selection without a holdout is flagged optimistic.
OPTIMISTIC_AFTER = 10
#: The most threads of fairsel's own row-parallel analyses (:func:`analysis_threads`).
ANALYSIS_THREADS = 4


def optimism_note(n_variants: int, selected: str | None) -> str:
    """The sentence results.json and the report give when the selected figures flatter it."""
    who = f"'{selected}' was" if selected else "the best variants were"
    return (f"{n_variants} variants were compared and {who} chosen by the same "
            "cross-validated figures it is reported with, so they are optimistic: expect lower "
            "figures on new data. Set validation → holdout (e.g. 0.2) to measure the selected "
            "variant once on rows no fit or choice has seen.")


def _trial_info(trial, pruned: str | None) -> TrialInfo | None:
    if trial is None:
        return None
    return TrialInfo(of=trial.of, number=trial.number, params=trial.params,
                     pruned=pruned is not None, pruned_reason=pruned)


def _rows(data: AuditData, keep: np.ndarray) -> AuditData:
    """The audit data restricted to the rows ``keep`` (a boolean mask)."""
    import dataclasses

    idx = np.flatnonzero(keep)
    return dataclasses.replace(
        data, X=data.X.iloc[idx], y=data.y[idx], row_ids=data.row_ids[idx],
        atoms=data.atoms[idx], clusters=None if data.clusters is None else data.clusters[idx])


def prune_reason(first: list, policy: Policy, data: AuditData, folds: np.ndarray, *,
                 margin: float) -> str | None:
    """Why a trial stops after its first folds, or None to go on.

    ``first`` holds the trial's task outputs of those folds. A trial is pruned when every
    variant it makes (the base and each mitigation) misses some error-severity gate by more
    than ``margin`` on the pooled predictions of those folds (point estimates, no interval):
    a mitigation that could still repair it keeps it going.
    """
    gates = [g for g in policy.gates if g.severity == "error" and not g.attributes]
    parts = _by_variant(first)
    if not gates or not parts:
        return None
    reasons = []
    for name, p in parts.items():
        vm = _pooled(p, data, policy, name, Confidence(method="none"))
        seen = f"on folds 0-{int(folds[np.concatenate([t for t, _ in p])].max())}"
        miss = None
        for g in gates:
            est = vm.performance.get(g.metric) or vm.fairness.get(g.metric)
            x = None if est is None else est.value
            if x is None:
                continue
            if g.min is not None and x < g.min - margin:
                miss = f"{g.metric} {x:.4f} {seen}, below {g.min:g} by more than {margin:g}"
            elif g.max is not None and x > g.max + margin:
                miss = f"{g.metric} {x:.4f} {seen}, above {g.max:g} by more than {margin:g}"
            if miss:
                break
        if miss is None:
            return None
        reasons.append(miss if name == next(iter(parts)) else f"{name}: {miss}")
    return "; ".join(reasons)


def _holdout_choice(ranking) -> list[str]:
    """The selected variant and the runner-up within the ranking's tolerance (if any)."""
    if ranking.selected is None:
        return []
    near = [n for n in ranking.order if n in ranking.passed_over
            and ranking.passed_over[n].reason == "less_fair"]
    return [ranking.selected, *near[:1]]


def measure_holdout(policy: Policy, full: AuditData, hold: np.ndarray, X, cands, fixed_scores,
                    score_types, ranking, *, screen, confidence, fairness_names, trials,
                    n_folds: int) -> Holdout:
    """Refit the selected variant (and the runner-up) on every non-holdout row, score the
    holdout rows once, and measure and gate those figures (intervals included)."""
    train, test = np.flatnonzero(~hold), np.flatnonzero(hold)
    names = _holdout_choice(ranking)
    owner = {}
    for name in names:
        owner[name] = next(ci for ci, c in enumerate(cands)
                           if name == c.name or name.startswith(c.name + "+"))
    variants: list[VariantResult] = []
    y_h = full.y[test]
    for ci in dict.fromkeys(owner.values()):
        cand = cands[ci]
        outs = fold_variants(cand, policy.mitigation, X=X, y=full.y, train=train, test=test,
                             data=full, scores=fixed_scores.get(ci), seed=policy.seed,
                             fold=n_folds, min_group_size=policy.min_group_size)
        for fo in outs:
            if fo.name not in owner:
                continue
            base = dict(name=fo.name, candidate=cand.name, kind=cand.kind,
                        mitigation=fo.mitigation, base=cand.name if fo.mitigation else None,
                        uses_protected_at_decision=bool(full.protected_as_features)
                        or fo.uses_protected_at_decision,
                        protected_as_features=full.protected_as_features,
                        details={k: {"holdout": v} for k, v in fo.details.items()},
                        trial=_trial_info(trials.get(cand.name), None))
            if fo.error is not None:
                variants.append(VariantResult(**base, status="ERROR", performance={},
                                              fairness={}, attributes=[], folds=[]))
                continue
            stype = score_types[ci][0]
            if stype == "probability" and not in_unit_interval(fo.y_score):
                stype = "score"
            vm = evaluate_variant(y_h, fo.y_pred, fo.y_score, atoms=full.atoms[test],
                                  n_atoms=full.n_atoms, partitions=full.partitions,
                                  folds=np.zeros(len(test), np.int64), n_folds=1,
                                  clusters=None if full.clusters is None else full.clusters[test],
                                  min_group_size=policy.min_group_size, confidence=confidence,
                                  seed=policy.seed, label=f"{fo.name}@holdout",
                                  probability=stype == "probability")
            variants.append(VariantResult(**base, status="PASS", performance=vm.performance,
                                          fairness=vm.fairness, attributes=vm.attributes,
                                          folds=vm.folds, score_type=stype))
    variants.sort(key=lambda v: names.index(v.name))
    variants = _significance(variants, policy, clustered=full.clusters is not None)
    gates = evaluate_gates(variants, policy, fairness_names)
    settings = policy.proxy_screen
    gates += proxy_gates(screen, variants, severity=settings.severity if settings else "warn",
                         first_index=len(policy.gates))
    variants = [v if v.status == "ERROR" else v.model_copy(
        update={"status": variant_status([g for g in gates if g.variant == v.name])})
        for v in variants]
    return Holdout(fraction=float(policy.validation.holdout), rows=int(len(test)),
                   favorable_rate=float(y_h.mean()), variants=variants, gates=gates)


def _holdout_verdict(holdout: Holdout, selected: str | None) -> Verdict:
    """The verdict judged on the holdout figures of the variant cross-validation selected."""
    v = next((v for v in holdout.variants if v.name == selected), None)
    if v is None:
        return _verdict([], None, [])
    where = f"on the holdout ({holdout.rows} rows)"
    if v.status in ("PASS", "WARN"):
        return _verdict([v], selected, holdout.gates, where)
    if v.status == "INSUFFICIENT":
        return Verdict(status="INSUFFICIENT", exit_code=5, selected=None, message=(
            f"'{selected}', selected by cross-validation, cannot be shown to pass {where}: a "
            "required gate could not be decided (groups too small or a class missing)"))
    failing = [g for g in holdout.gates if g.variant == selected and g.status != "PASS"
               and g.severity == "error"]
    return Verdict(status="FAIL" if v.status == "FAIL" else "ERROR",
                   exit_code=1 if v.status == "FAIL" else 4, selected=None, message=(
        f"'{selected}', selected by cross-validation, does not pass every error-severity gate "
        f"{where}: {'; '.join(map(gate_summary, failing)) or 'it could not be refitted'}"))


def _confidence(policy: Policy) -> Confidence:
    conf = policy.metrics.confidence
    return Confidence(method=conf.method, level=conf.level, resamples=conf.resamples)


def _optuna_trials(cands, trials, searches) -> dict[str, list[int]]:
    """``{searched candidate: [index of each of its trials]}`` for the optuna searches."""
    out: dict[str, list[int]] = {}
    for ci, c in enumerate(cands):
        t = trials.get(c.name)
        if t is not None and searches[t.of].method == "optuna":
            out.setdefault(t.of, []).append(ci)
    return out


def run_optuna(search, name: str, cis: list[int], cands: list, trials: dict, run_grid,
               n_folds: int, *, policy: Policy, data: AuditData, pruned: dict[int, str],
               confidence: Confidence) -> list:
    """Run one optuna search in batches of :data:`~fairsel.candidates.search.OPTUNA_BATCH`
    trials: the batch's settings asked of the study, all its (trial, fold) tasks run at once
    with ``run_grid`` (on the backend's workers, pruned as the grid prunes), then each trial's
    objective (:func:`search_objective`; None if pruned) told back in trial order. The batch
    size does not depend on the backend, so the same policy and seed give the same trials in
    this process, on ``--jobs N`` and on Dask. Updates ``cands`` and ``trials`` in place with
    the settings; returns the trials' task outputs."""
    import dataclasses

    from fairsel.candidates.search import OPTUNA_BATCH, ask, optuna_study, tell

    study = optuna_study(name, policy.seed)
    outputs: list = []
    for at in range(0, len(cis), OPTUNA_BATCH):
        batch, asked = cis[at:at + OPTUNA_BATCH], []
        for ci in batch:
            trial, params = ask(study, search)
            cands[ci] = dataclasses.replace(cands[ci], params={**cands[ci].params, **params})
            trials[cands[ci].name] = dataclasses.replace(trials[cands[ci].name], params=params)
            asked.append(trial)
        # the candidate travels with its tasks: workers hold the grid as it was sent
        got = run_grid([(ci, k, cands[ci]) for ci in batch for k in range(n_folds)])
        outputs += got
        for ci, trial in zip(batch, asked):
            mine = [o for o in got if o[0] == ci]
            value = None if ci in pruned else search_objective(
                mine, search.objective, policy=policy, data=data, confidence=confidence)
            tell(study, trial, value)
    return outputs


def _pooled(parts: list, data: AuditData, policy: Policy, label: str,
            confidence: Confidence):
    """One variant's metrics on the rows of some folds: ``parts`` is ``[(test rows, output)]``."""
    rows = np.concatenate([t for t, _ in parts])
    return evaluate_variant(data.y[rows], np.concatenate([fo.y_pred for _, fo in parts]),
                            np.concatenate([fo.y_score for _, fo in parts]),
                            atoms=data.atoms[rows], n_atoms=data.n_atoms,
                            partitions=data.partitions, folds=np.zeros(len(rows), np.int64),
                            n_folds=1, clusters=None if data.clusters is None
                            else data.clusters[rows], min_group_size=policy.min_group_size,
                            confidence=confidence, seed=policy.seed, label=label)


def _by_variant(outputs: list) -> dict[str, list] | None:
    """A trial's task outputs as ``{variant: [(test rows, output)]}``; None if any failed."""
    out: dict[str, list] = {}
    for _, _, test, outs, err in outputs:
        if err is not None:
            return None
        for fo in outs:
            if fo.error is not None:
                return None
            out.setdefault(fo.name, []).append((test, fo))
    return out


#: What a trial that passes no error gate scores below (objective values lie in [-1, 1]).
_FAILING = -10.0


def search_objective(outputs: list, kind: str, *, policy: Policy, data: AuditData,
                     confidence: Confidence) -> float | None:
    """The value optuna maximises for one trial (None when a fold failed).

    ``performance``: the best ``ranking.objective`` among the trial's variants (in its better
    direction). ``ranking``: the ranking's own rule as one number — a variant failing an
    error-severity gate (or one the policy may not select) scores ``_FAILING`` plus its
    objective; a selectable one scores its objective rounded down to ``ranking.tolerance``
    plus the tolerance times its fairness by ``ranking.fairness_tiebreak`` (in [0, 1), fairer
    higher), so among trials within one tolerance step the fairer wins, and a step up always
    wins. The trial scores its best variant's value.
    """
    import math

    parts = _by_variant(outputs)
    if not parts:
        return None
    r = policy.ranking
    obj_sign = 1.0 if METRICS.get(r.objective).higher_is_better else -1.0
    fairness_names = set(FAIRNESS_NAMES)
    if kind == "performance":
        best = -math.inf
        for name, p in parts.items():
            vm = _pooled(p, data, policy, name, Confidence(method="none"))
            est = vm.performance.get(r.objective) or vm.fairness.get(r.objective)
            if est is not None and est.value is not None:
                best = max(best, obj_sign * est.value)
        return best if math.isfinite(best) else _FAILING
    variants = []
    for name, p in parts.items():
        vm = _pooled(p, data, policy, name, confidence)
        variants.append(VariantResult(
            name=name, candidate=name, kind="search", status="PASS",
            uses_protected_at_decision=bool(data.protected_as_features)
            or p[0][1].uses_protected_at_decision, performance=vm.performance,
            fairness=vm.fairness, attributes=vm.attributes, folds=[]))
    variants = _significance(variants, policy, clustered=data.clusters is not None)
    gates = evaluate_gates(variants, policy, fairness_names)
    tie_hib = METRICS.get(r.fairness_tiebreak).higher_is_better
    allow = policy.mitigation_policy.allow_group_specific_decisions
    best = -math.inf
    for v in variants:
        est = v.performance.get(r.objective) or v.fairness.get(r.objective)
        obj = obj_sign * est.value if est is not None and est.value is not None else -1.0
        status = variant_status([g for g in gates if g.variant == v.name])
        if status not in ("PASS", "WARN") or (v.uses_protected_at_decision and not allow):
            best = max(best, _FAILING + obj)
            continue
        tie = v.fairness.get(r.fairness_tiebreak)
        fair = 0.0 if tie is None or tie.value is None else float(tie.value)
        fair = min(max(fair if tie_hib else 1.0 - fair, 0.0), 0.999)
        step = r.tolerance
        best = max(best, obj + fair * 1e-6 if step <= 0 else
                   math.floor(obj / step) * step + fair * step)
    return best
