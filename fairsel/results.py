"""The audit's results as frozen, validated data: what results.json holds and renderers read.

These are pydantic models rather than plain dataclasses so that ``results.json`` round-trips
(``AuditResult.model_validate_json``) and its JSON Schema comes from the same definitions
(``fairsel schema results``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from fairsel.policy.gate_text import (RELATIVE_MARK, gate_rule,  # noqa: F401 — re-exported
                                      gate_subject, threshold_text)

SCHEMA_VERSION = "1.0"

Status = Literal["PASS", "WARN", "FAIL", "INSUFFICIENT", "ERROR"]
STATUSES: tuple[str, ...] = ("PASS", "WARN", "FAIL", "INSUFFICIENT", "ERROR")
#: From best to worst, for sorting and for the worst status of several.
STATUS_ORDER: dict[str, int] = {"PASS": 0, "WARN": 1, "INSUFFICIENT": 2, "FAIL": 3, "ERROR": 4}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


_CI = "[lower, upper] confidence interval at the level of confidence.level (null when none was computed, e.g. confidence.method: none; a bound is null where it is undefined)"


class Estimate(_Frozen):
    """A figure with its confidence interval (``ci`` is null when none was computed)."""

    value: float | None = Field(description=(
        "The estimate on the pooled out-of-fold predictions; null when undefined (a rate "
        "whose denominator is 0, a disparity with fewer than two eligible groups) or not "
        "applicable (Brier score of a score, see unavailable)."))
    ci: tuple[float | None, float | None] | None = Field(None, description=_CI)


class Headline(_Frozen):
    """A fairness metric for a variant: the worst over attributes, and where it occurs."""

    value: float | None = Field(description=(
        "The worst value over the attributes and intersections (the smallest ratio, the "
        "largest difference); null when no attribute has two eligible groups to compare."))
    ci: tuple[float | None, float | None] | None = Field(None, description=_CI)
    attribute: str | None = Field(None, description=(
        "The attribute or intersection the headline value comes from (null with no value)."))
    by_attribute: dict[str, Estimate] = Field(default_factory=dict, description=(
        "attribute or intersection name -> its value of the metric."))


class GroupTest(_Frozen):
    """One group against its attribute's reference group in one rate (metrics.significance)."""

    reference: str = Field(description=(
        "The group compared with: the declared reference (protected[].reference) or, where "
        "none is declared, the eligible group with the highest rate."))
    test: Literal["z", "fisher"] = Field(description=(
        "z: two-sided pooled two-proportion z-test; fisher: Fisher's exact test (test: auto "
        "uses it where a cell of the 2×2 table has an expected count under 5)."))
    p: float = Field(description="The test's two-sided p-value, unadjusted.")
    p_adjusted: float = Field(description=(
        "The p-value adjusted over every variant × attribute × group × rate of the audit "
        "(metrics.significance.adjust: Holm, Benjamini–Hochberg or none)."))


class GroupRow(_Frozen):
    """Counts and rates of one group (or intersection cell) of one attribute.

    ``fractions`` gives each rate that is one count over another as ``[k, n]`` (FNR 2 of 22
    actual positives: ``[2, 22]``). ``small_rates`` names the rates whose denominator is below
    ``min_group_size``: they are reported but enter no disparity, gate or headline.
    """

    group: str = Field(description=(
        "The group's label (an intersection cell joins its parts with ' × '; missing values "
        "form the group 'unknown')."))
    n: int = Field(description="Rows of the group (tp + fp + tn + fn).")
    tp: int = Field(description="True positives: favorable outcome, favorable decision.")
    fp: int = Field(description="False positives: unfavorable outcome, favorable decision.")
    tn: int = Field(description="True negatives: unfavorable outcome, unfavorable decision.")
    fn: int = Field(description="False negatives: favorable outcome, unfavorable decision.")
    flags: list[str] = Field(default_factory=list, description=(
        "Any of: empty (no rows), small (fewer rows than min_group_size), "
        "no_favorable_outcome, no_unfavorable_outcome, unknown (a missing-value group: 'unknown', or an intersection cell with an 'unknown' part)."))
    rates: dict[str, Estimate] = Field(default_factory=dict, description=(
        "rate -> estimate: selection_rate, base_rate, tpr, fpr, fnr, tnr, precision, accuracy, "
        "balanced_accuracy, f1, roc_auc, brier_score, calibration_error (fairsel list "
        "metrics); null where the denominator is 0 (0/0 is undefined, never 0)."))
    fractions: dict[str, tuple[int, int]] = Field(
        default_factory=dict, description="rate -> [count, denominator], e.g. fnr [2, 22]")
    small_rates: list[str] = Field(
        default_factory=list, description="rates whose denominator is below min_group_size: "
                                          "reported, never compared")
    significance: dict[str, GroupTest] = Field(default_factory=dict, description=(
        "rate (selection_rate, tpr, fpr) -> this group's test against the reference group; "
        "absent for the reference itself and for ineligible rates (with validation.groups "
        "the counts are deflated by the rates' design effects before testing)."))


class AttributeMetrics(_Frozen):
    """One protected attribute or one intersection of attributes, for one variant."""

    attribute: str = Field(description=(
        "The attribute's display name (protected[].name or its column), or an intersection's "
        "names joined with ' × '."))
    columns: list[str] = Field(description="The data columns it is built from.")
    kind: Literal["attribute", "intersection"] = Field(description=(
        "attribute: one protected attribute; intersection: a combination of them."))
    reference: str | None = Field(description=(
        "The declared reference group (protected[].reference), or null."))
    reference_rule: Literal["declared", "fairlearn_min_max"] = Field(description=(
        "declared: each group is compared with the reference; fairlearn_min_max: smallest "
        "group rate over the largest (ratios), largest minus smallest (differences)."))
    groups: list[GroupRow] = Field(description="Every group, eligible or not.")
    eligible_groups: list[str] = Field(description=(
        "Groups whose selection rate rests on at least min_group_size rows (other rates: see "
        "each group's small_rates)."))
    fairness: dict[str, Estimate] = Field(default_factory=dict, description=(
        "fairness metric -> its value on this attribute (null when fewer than two eligible "
        "groups, or an ineligible reference)."))


class FoldMetrics(_Frozen):
    """One fold's figures, on the same groups as the pooled figures.

    ``small_cells`` marks, per rate and attribute, the groups that take part in the pooled
    disparity but whose denominator in this fold is below ``min_group_size`` (they are kept in
    the fold's figure, or left out only where the fold has none of them, i.e. the rate is
    undefined there).
    """

    fold: int = Field(description="The fold's number, from 0.")
    n: int = Field(description="Test rows of the fold.")
    performance: dict[str, float | None] = Field(description=(
        "performance metric -> its value on the fold's test rows (null where undefined)."))
    fairness: dict[str, dict[str, float | None]] = Field(description=(
        "fairness metric -> attribute -> its value on the fold's test rows, on the pooled "
        "figure's eligible groups."))
    small_cells: dict[str, dict[str, list[str]]] = Field(
        default_factory=dict, description="rate -> attribute -> groups of the pooled figure "
                                          "whose count in this fold is below min_group_size")


class GateResult(_Frozen):
    """One gate judged on one variant (and, inside, on each attribute)."""

    gate: int = Field(description="The gate's index in the policy's gates list, from 0 "
                                  "(the report calls it G1, G2, ...).")
    metric: str = Field(description="The metric gated (gates[].metric).")
    variant: str = Field(description="The variant judged.")
    min: float | None = Field(description="The gate's lower threshold (gates[].min), or null.")
    max: float | None = Field(description="The gate's upper threshold (gates[].max), or null.")
    severity: Literal["error", "warn"] = Field(description="gates[].severity.")
    relative_to_overall: bool = Field(False, description=(
        "gates[].relative_to_overall: the value judged is each group's figure over the "
        "overall one (balanced_accuracy ÷ overall), not the metric itself."))
    decision: Literal["point", "ci_bound"] = Field(description=(
        "The policy's decision rule: point (the estimate) or ci_bound (the interval's bound)."))
    status: Status = Field(description=(
        "PASS; FAIL (an error gate not met) or WARN (a warn gate not met); INSUFFICIENT (it "
        "could not be decided: groups too small, a class missing, no interval under "
        "ci_bound); ERROR (the variant could not be evaluated)."))
    observed: float | None = Field(description=(
        "The value judged: the variant's figure, for a fairness metric the worst attribute's "
        "(the one farthest beyond the threshold, or closest to it when all pass)."))
    ci: tuple[float | None, float | None] | None = Field(None, description=_CI)
    attribute: str | None = Field(None, description=(
        "Fairness gates: the attribute or intersection the observed value comes from."))
    by_attribute: dict[str, Status] = Field(default_factory=dict, description=(
        "Fairness gates: attribute or intersection -> its status."))
    gap: float | None = Field(None, description=(
        "How far the judged value (or bound) lies beyond the threshold, in the metric's "
        "units; 0 when it passes, null when undecided."))
    p_adjusted: float | None = Field(None, description=(
        "Fairness gates on selection rate, TPR/FNR or FPR/TNR: the smallest adjusted p-value "
        "of the judged attribute's groups against its reference in the rates the metric is "
        "built on (null when there is no test)."))
    significant: bool | None = Field(None, description=(
        "Whether p_adjusted ≤ metrics.significance.alpha (null without a test). With "
        "gates[].require_significance a missed threshold FAILs only where the difference is "
        "significant; otherwise the gate reads WARN (not significant)."))
    message: str = Field(description="A one-line explanation (value, interval, threshold, "
                                     "failing and undecided attributes).")


class Failure(_Frozen):
    """A candidate (or variant) that could not be evaluated: where and why."""

    candidate: str = Field(description="The candidate (candidates[].name).")
    variant: str = Field(description="The variant that failed (the candidate's own name, or "
                                     "a mitigated variant's).")
    stage: str = Field(description="Where it failed: fit (training or scoring) or mitigation.")
    fold: int | None = Field(description="The fold it failed in (from 0), or null.")
    message: str = Field(description="The error, as raised.")


class TrialInfo(_Frozen):
    """The search trial a candidate is (candidates[].search)."""

    of: str = Field(description="The searched candidate (candidates[].name).")
    number: int = Field(description="The trial's number, from 1 (gbm#07 is trial 7).")
    params: dict[str, Any] = Field(description=(
        "The searched parameters' values in this trial (the candidate's fixed params apply "
        "too)."))
    pruned: bool = Field(False, description=(
        "Whether the trial was stopped after its first folds (search.prune): it missed an "
        "error-severity gate there by more than search.prune_margin; never selected."))
    pruned_reason: str | None = Field(None, description=(
        "The gate and the figure that pruned it, or null."))


class VariantResult(_Frozen):
    """A candidate or a mitigated variant of it, with everything measured about it."""

    name: str = Field(description=(
        "The variant's name: the candidate's, or <candidate>+<mitigation> (e.g. "
        "gbm+threshold[demographic_parity])."))
    candidate: str = Field(description="The candidate it comes from (candidates[].name).")
    kind: str = Field(description="The candidate's kind (candidates[].kind).")
    mitigation: str | None = Field(None, description=(
        "The mitigation that made it (e.g. reweighing, threshold[equalized_odds]), or null "
        "for the candidate itself."))
    base: str | None = Field(None, description="The variant it mitigates, or null.")
    uses_protected_at_decision: bool = Field(False, description=(
        "Whether it decides using a protected attribute (group thresholds, post-processing, "
        "or protected columns as features): disparate treatment; such a variant is selected "
        "only with mitigation_policy.allow_group_specific_decisions: true."))
    protected_as_features: list[str] = Field(default_factory=list, description=(
        "Protected columns the models use as features (data.features lists them)."))
    score_type: Literal["probability", "score"] = Field(
        "probability", description="whether the scores are probabilities (candidates[].score_type)")
    unavailable: dict[str, str] = Field(
        default_factory=dict, description="metric -> why it is null for this variant (Brier "
                                          "score and calibration error of a score)")
    status: Status = Field(description=(
        "From its gates: FAIL when an error gate fails; INSUFFICIENT when an error gate is "
        "undecided; WARN when a warn gate fails or is undecided; PASS otherwise; ERROR when it "
        "could not be evaluated (see failures)."))
    rank: int | None = Field(None, description=(
        "Its position in ranking.order, from 1 (null when not ranked)."))
    performance: dict[str, Estimate] = Field(description=(
        "performance metric -> its value on all pooled out-of-fold predictions (every metric "
        "fairsel computes, not only those the policy lists)."))
    fairness: dict[str, Headline] = Field(description=(
        "fairness metric -> its headline: the worst over the attributes and intersections."))
    attributes: list[AttributeMetrics] = Field(description=(
        "Per attribute and intersection: every group's counts and rates, and the fairness "
        "metrics."))
    folds: list[FoldMetrics] = Field(description="Per-fold figures, for their spread.")
    details: dict[str, Any] = Field(default_factory=dict, description=(
        "What a mitigation fitted, per key and fold (e.g. reweighing weights, group "
        "thresholds): key -> fold -> value."))
    trial: TrialInfo | None = Field(None, description=(
        "The search trial its candidate is (params, pruned), or null for a candidate the "
        "policy lists with fixed params."))


class GroupSize(_Frozen):
    """A group's size and favorable outcomes in the audited data (no model involved)."""

    group: str = Field(description="The group's label.")
    n: int = Field(description="Rows of the group.")
    favorable: int = Field(description="Rows whose true outcome is favorable.")
    favorable_rate: float | None = Field(description="favorable / n (null for an empty group).")
    flags: list[str] = Field(default_factory=list, description=(
        "Any of: small (fewer rows than min_group_size), unknown (a missing-value group: 'unknown', or an intersection cell with an 'unknown' part)."))


class AttributeSummary(_Frozen):
    """One attribute or intersection in the audited data."""

    attribute: str = Field(description="The attribute's or intersection's name.")
    columns: list[str] = Field(description="The data columns it is built from.")
    kind: Literal["attribute", "intersection"] = Field(description="attribute or "
                                                                   "intersection.")
    reference: str | None = Field(description="The declared reference group, or null.")
    groups: list[GroupSize] = Field(description="Every group with its size.")


class Exclusion(_Frozen):
    """Rows left out of the audit for one reason."""

    reason: str = Field(description=(
        "Why (data.exclude_rows[].reason, or fairsel's own, e.g. a missing target)."))
    count: int = Field(description="Rows excluded for it.")


class ChunkedRead(_Frozen):
    """How a dataset larger than memory was read: in chunks, per-chunk counts merged."""

    files: int = Field(description="Parquet files read (data.path a folder or glob).")
    chunk_rows: int = Field(description="Rows a chunk holds at most (data.chunk_rows).")
    chunks: int = Field(description="Chunks read.")
    folds: str = Field(description="How rows were assigned to folds.")
    auc: dict[str, str] = Field(description=(
        "variant -> how its ROC AUCs were computed: exact (the scores fitted in memory) or "
        "histogram (a score histogram of auc_bins bins per group and outcome)."))
    auc_bins: int = Field(description="Bins of the score histogram.")
    auc_max_error: dict[str, float] = Field(description=(
        "variant -> the largest possible error of any of its ROC AUCs (overall, per group, per "
        "fold): half the share of positive–negative pairs in one histogram bin; 0 when exact."))
    skipped: list[str] = Field(default_factory=list, description=(
        "Analyses that need every row in memory and were not run (proxies, slices, explain)."))


class DataSummary(_Frozen):
    """The data audited."""

    path: str = Field(description="The data file's path (volatile).")
    format: str = Field(description="csv or parquet.")
    rows_read: int = Field(description="Rows in the file.")
    rows_used: int = Field(description="Rows audited (rows_read minus the excluded).")
    excluded: list[Exclusion] = Field(description="Rows left out, per reason.")
    target: str = Field(description="The target column (data.target).")
    favorable: str = Field(description="The favorable target value, as text (data.favorable).")
    favorable_rate: float = Field(description="Share of audited rows with the favorable "
                                              "outcome, in [0, 1].")
    features: list[str] = Field(description="The feature columns trained models use.")
    protected_as_features: list[str] = Field(description=(
        "Protected columns among the features (every output says so)."))
    attributes: list[AttributeSummary] = Field(description=(
        "The protected attributes and intersections, with their groups' sizes."))
    cluster_column: str | None = Field(description="validation.groups, or null.")
    n_clusters: int | None = Field(description="Distinct clusters in cluster_column, or null.")
    chunked: ChunkedRead | None = Field(None, description=(
        "Set when the data was read in chunks (data.path a folder or glob of Parquet files, or "
        "data.chunk_rows): how, and how exact its ROC AUCs are; null otherwise."))


class ValidationSummary(_Frozen):
    """How the rows were split into folds."""

    scheme: str = Field(description="validation.scheme.")
    folds: int = Field(description="Number of folds made.")
    groups: str | None = Field(description="The cluster column (validation.groups), or null.")
    fold_sizes: list[int] = Field(description="Test rows in each fold.")
    seed: int = Field(description="The seed of the split (the policy's seed).")


class PassedOver(_Frozen):
    """Why the ranking did not select one variant."""

    reason: Literal["not_passing", "decides_with_protected", "less_fair", "lower_objective"] = \
        Field(description="not_passing: fails or cannot pass an error-severity gate; "
                          "decides_with_protected: uses the protected attribute at decision time, "
                          "which the policy forbids; less_fair: within the tolerance of the best "
                          "objective of a selectable variant but less fair by the tie-break "
                          "than the selected variant; lower_objective: outside the tolerance of "
                          "the best objective of a selectable variant (the text names it)")
    text: str = Field(description="the reason in words, as the report states it")


class Ranking(_Frozen):
    """Which variant is selected, and why."""

    selected: str | None = Field(description=(
        "The selected variant, or null when none passes every error-severity gate (or none "
        "that passes may be selected)."))
    order: list[str] = Field(description=(
        "Every variant, best first: passing ones by the objective (the fairest first among "
        "those within tolerance of the best), then the others, closest to passing first."))
    objective: str = Field(description="ranking.objective.")
    tolerance: float = Field(description="ranking.tolerance, in the objective's units.")
    fairness_tiebreak: str = Field(description="ranking.fairness_tiebreak.")
    reasons: list[str] = Field(description="Sentences explaining the choice.")
    passed_over: dict[str, PassedOver] = Field(
        default_factory=dict, description="variant -> why it was not selected (every variant "
                                          "but the selected one)")


class Verdict(_Frozen):
    """The audit's outcome, and the exit code fairsel audit returns for it."""

    status: Status = Field(description=(
        "The selected variant's status (PASS or WARN); FAIL when no variant passes; "
        "INSUFFICIENT when none can be shown to pass because a required gate is undecided."))
    exit_code: int = Field(description=(
        "The exit code of this verdict: 0 (a variant is selected), 1 (FAIL) or 5 "
        "(INSUFFICIENT); fairsel audit --fail-on warn exits 1 on a WARN verdict."))
    selected: str | None = Field(description="The selected variant, or null.")
    message: str = Field(description="The verdict in one sentence.")


class Provenance(_Frozen):
    """What produced this result: inputs' hashes, versions, times."""

    policy_path: str = Field(description="The policy file's absolute path (volatile).")
    policy_sha256: str = Field(description="SHA-256 of the policy file's bytes.")
    data_sha256: str = Field(description="SHA-256 of the data file's bytes.")
    seed: int = Field(description="The policy's seed.")
    fairsel_version: str = Field(description="The fairsel version that ran the audit.")
    python: str = Field(description="The Python version (volatile).")
    platform: str = Field(description="The operating system and machine (volatile).")
    packages: dict[str, str] = Field(description=(
        "package -> installed version ('not installed' when absent) (volatile)."))
    started: str = Field(description="Start time, ISO 8601 UTC (volatile).")
    finished: str = Field(description="End time, ISO 8601 UTC (volatile).")
    duration_seconds: float = Field(description="Wall time of the audit, seconds (volatile).")
    timings: dict[str, float] = Field(default_factory=dict, description=(
        "stage -> seconds (load_and_split, fit, metrics, proxies, holdout when they run, total) "
        "(volatile)."))


class ProxyFeature(_Frozen):
    """One feature screened as a proxy of one protected attribute."""

    feature: str = Field(description="The feature (a column of the data).")
    kind: Literal["numeric", "categorical"] = Field(description=(
        "numeric (cut into quantile bins for the screen) or categorical."))
    levels: int = Field(description="categories, or quantile bins of a numeric (missing values "
                                    "a level of their own), the NMI and AUC are computed on")
    nmi: float = Field(description="normalised mutual information with the attribute "
                                   "(arithmetic normalisation, as scikit-learn's "
                                   "normalized_mutual_info_score), in [0, 1]")
    auc: float | None = Field(description=(
        "macro one-vs-rest AUC of a one-feature model: each row scored, for each group, by the "
        "group's share among the other folds' rows of its category or bin; about 0.5 or "
        "below: no signal"))
    declared: bool = Field(False, description="named in the policy's data.proxies")
    flagged: bool = Field(False, description="auc above proxies.max_feature_auc")


class ProxyAttribute(_Frozen):
    """How recoverable one protected attribute is from the features."""

    attribute: str = Field(description="The protected attribute (or intersection) screened.")
    columns: list[str] = Field(description="the attribute's own columns (never screened)")
    groups: list[str] = Field(description="the groups to recover (the group 'unknown' is left "
                                          "out: missing values are not a group to predict)")
    rows: int = Field(description="rows of a known group screened")
    features_screened: int = Field(description="How many features were screened against it.")
    excluded_features: list[str] = Field(
        default_factory=list, description="features that are the attribute's own column: "
                                          "not screened (they are the attribute)")
    features: list[ProxyFeature] = Field(description=(
        "the features with the highest AUC (up to 10), plus every declared or flagged feature, "
        "highest AUC first"))
    flagged: list[str] = Field(default_factory=list,
                               description="features whose AUC exceeds max_feature_auc")
    all_features_auc: float | None = Field(description=(
        "cross-validated macro one-vs-rest AUC of a LightGBM model predicting the attribute "
        "from all screened features together, each fold scored by a model fitted on the other "
        "folds (the audit's folds)"))
    all_features_rows: int = Field(description="rows the all-features model used (at most "
                                               "max_rows, drawn with the seed)")
    all_features_flagged: bool = Field(False, description="all_features_auc above max_all_auc")
    insufficient: str | None = Field(None, description=(
        "why nothing is flagged for this attribute whatever its figures (fewer than two "
        "groups of at least min_group_size rows): its proxy gates read INSUFFICIENT; null "
        "when the screen could judge it"))


class ProxyScreen(_Frozen):
    """The proxy screen (policy key ``proxies``): each protected attribute's recoverability."""

    max_feature_auc: float = Field(description="proxies.max_feature_auc: the bound on one feature's AUC.")
    max_all_auc: float = Field(description="proxies.max_all_auc: the bound on the all-features AUC.")
    bins: int = Field(description="quantile bins of a numeric feature")
    max_rows: int = Field(description="row cap of the all-features model")
    declared: list[str] = Field(default_factory=list, description="data.proxies")
    model: dict[str, Any] = Field(default_factory=dict,
                                  description="LightGBM parameters of the all-features model")
    attributes: list[ProxyAttribute] = Field(description="One entry per protected attribute.")


class SliceCondition(_Frozen):
    """One condition of a slice: a feature's category, or a quantile bin of a numeric."""

    feature: str = Field(description="The feature (or protected attribute) the condition is on.")
    kind: Literal["categorical", "numeric", "protected"] = Field(description=(
        "categorical (a category), numeric (a quantile bin) or protected (a group of a "
        "protected attribute)"))
    value: str | None = Field(None, description="the category or group (null for a numeric bin, "
                                                "or for missing values)")
    low: float | None = Field(None, description="a numeric bin's lower bound (included; null: "
                                                "unbounded or missing values)")
    high: float | None = Field(None, description="a numeric bin's upper bound (excluded; null: "
                                                 "unbounded or missing values)")
    missing: bool = Field(False, description="the condition is 'the value is missing'")
    text: str = Field(description="the condition as read: 'purpose = business', "
                                  "'25 ≤ age < 32', 'income missing'")


class Slice(_Frozen):
    """A slice whose rate differs significantly, to its detriment, from the rest's."""

    conditions: list[SliceCondition] = Field(description="the conjunction that defines the slice")
    text: str = Field(description="the conditions joined with ' ∧ '")
    metric: str = Field(description="error_rate, fnr, fpr or selection_rate")
    rows: int = Field(description="rows in the slice")
    k: int = Field(description="the rate's numerator in the slice (errors, false negatives, ...)")
    n: int = Field(description="the rate's denominator in the slice (rows, actual positives, "
                               "actual negatives)")
    rate: float = Field(description="k / n in the slice")
    rest_k: int = Field(description="the rate's numerator outside the slice")
    rest_n: int = Field(description="the rate's denominator outside the slice")
    rest_rate: float = Field(description="rest_k / rest_n: the rate outside the slice")
    difference: float = Field(description="rate − rest_rate")
    ci: list[float] = Field(description=(
        "interval of the difference (Newcombe's hybrid score interval from the two Wilson "
        "intervals, at metrics.confidence.level)"))
    p_value: float = Field(description="two-proportion test of slice against rest (the "
                                       "pooled z-test, or Fisher's exact test where a cell's "
                                       "expected count is under 5)")
    p_adjusted: float = Field(description="Benjamini–Hochberg adjusted over every test of the "
                                          "variant (tested)")
    counts: dict[str, int] = Field(description="tn, fp, fn, tp in the slice")
    groups: dict[str, dict[str, int]] = Field(default_factory=dict, description=(
        "protected attribute -> group -> rows of the slice in that group"))


class VariantSlices(_Frozen):
    """One variant's worst slices."""

    variant: str = Field(description="The variant analysed.")
    tested: int = Field(description="tests run (slices × metrics with rows on both sides): the "
                                    "family of the Benjamini–Hochberg adjustment")
    significant: int = Field(description="tests whose adjusted p is at most alpha, in either "
                                         "direction")
    top: dict[str, list[Slice]] = Field(description=(
        "metric -> up to slices.top slices, worst first: adjusted p ≤ alpha and the slice worse "
        "than the rest (a higher error rate, FNR or FPR; a lower selection rate), ordered by "
        "the interval's bound nearest zero (the smallest detriment the data support), then "
        "the difference"))


class SliceAnalysis(_Frozen):
    """Worst-slice discovery (policy key ``slices``): where, beyond the declared groups, the
    model's errors or decisions differ from the rest of the data."""

    depth: int = Field(description="slices.depth: the most conditions a slice combines")
    bins: int = Field(description="slices.bins: quantile bins of a numeric feature")
    min_rows: int = Field(description="the fewest rows a slice needs: the larger of "
                                      "slices.min_support × rows and slices.min_rows")
    metrics: list[str] = Field(description="slices.metrics: the rates compared")
    alpha: float = Field(description="slices.alpha: the level of the adjusted p-values")
    level: float = Field(description="the intervals' confidence level (metrics.confidence.level)")
    features: list[str] = Field(description="the features and protected attributes searched")
    slices: int = Field(description="distinct slices with enough rows (a conjunction with the "
                                    "same rows as one of its parts is not counted twice)")
    variants: list[VariantSlices] = Field(description=(
        "the variants analysed: the selected one and the next of the ranking "
        "(slices.variants in all)"))


class GroupContributions(_Frozen):
    """One group's mean margin and mean SHAP value per feature, in the explained sample."""

    group: str = Field(description="The group.")
    rows: int = Field(description="Sampled rows of the group that were explained.")
    mean_margin: float | None = Field(description=(
        "The group's mean margin (the model's own output in the explanation's units), "
        "weighted back to the group's rows; null with no sampled row."))
    mean_shap: dict[str, float] = Field(default_factory=dict, description=(
        "feature -> the group's mean SHAP value (weighted), for the variant's top features by "
        "mean |SHAP| and '(other features)' summing the rest."))


class AttributeContributions(_Frozen):
    """Every group of one protected attribute (or intersection)."""

    attribute: str = Field(description="The protected attribute or intersection.")
    groups: list[GroupContributions] = Field(description="One entry per group.")


class DisparityAttribution(_Frozen):
    """The gap between a group's and its reference's mean margin, decomposed per feature."""

    attribute: str = Field(description="The protected attribute or intersection.")
    group: str = Field(description="The group compared.")
    reference: str = Field(description=(
        "The group it is compared with: the declared reference (protected[].reference), else "
        "the group with the highest mean margin."))
    gap: float = Field(description=(
        "mean margin of group − mean margin of reference (negative: the group's scores are "
        "lower), from the models' own outputs."))
    baseline: float = Field(description=(
        "The part of the gap from the fold models' expected values (the groups' rows are "
        "spread unevenly over the folds); 0 with one model."))
    contributions: dict[str, float] = Field(description=(
        "feature -> its share of the gap (mean SHAP of group − of reference), largest "
        "magnitude first; baseline plus these sum to the gap (SHAP's additivity)."))


class ReasonCount(_Frozen):
    """How often one feature is among the reasons for unfavorable decisions of a group."""

    feature: str = Field(description="The feature.")
    main: float = Field(description=(
        "Share (weighted) of the group's unfavorable decisions in the sample whose main "
        "reason (the most negative SHAP value) is this feature."))
    top: float = Field(description="Share whose top 4 reasons include this feature.")
    flag: Literal["protected", "proxy"] | None = Field(None, description=(
        "protected: the feature is a protected attribute's column; proxy: it is declared "
        "in data.proxies or flagged by the proxy screen; null otherwise."))


class GroupReasons(_Frozen):
    """The adverse-action reasons of one group's unfavorable decisions."""

    attribute: str = Field(description="The protected attribute or intersection.")
    group: str = Field(description="The group.")
    unfavorable: int = Field(description="Unfavorable decisions of the group in the sample.")
    flagged: float = Field(description=(
        "Share (weighted) of them with a protected attribute or a proxy among the top 4 "
        "reasons."))
    reasons: list[ReasonCount] = Field(description=(
        "Features that are the main reason of at least one decision, most frequent first "
        "(up to 10), plus every flagged feature among the top 4 reasons."))


class VariantExplanation(_Frozen):
    """SHAP values of one variant's fold models on their own test rows, summarised."""

    variant: str = Field(description="The explained variant.")
    model: str = Field(description=(
        "The variant whose fold models are explained: the variant itself, or its base when "
        "the mitigation acts after the margin (group thresholds, post-processing)."))
    note: str | None = Field(None, description="Why the base model is explained, or null.")
    explainer: Literal["tree", "linear", "permutation"] = Field(description=(
        "Tree SHAP (LightGBM's own, as shap's TreeExplainer calls it; shap's TreeExplainer for "
        "scikit-learn trees), shap's linear explainer's values (linear models, background: the "
        "fold's training rows) or permutation SHAP as shap's PermutationExplainer (any other "
        "model, "
        "a bounded background of the fold's training rows)."))
    units: Literal["log-odds", "probability"] = Field(description=(
        "The units of the margin and of every SHAP value: log-odds of the favorable outcome, "
        "or probability for models without a log-odds output (random forests, single trees)."))
    rows: int = Field(description="Rows explained, each by the model of its own test fold.")
    rows_by_fold: list[int] = Field(description="Rows explained per fold.")
    row_cap: str | None = Field(None, description=(
        "Why fewer rows than explain.rows were explained (a model costly to explain per row: "
        "a large forest, the permutation explainer), or null."))
    additivity_error: float = Field(description=(
        "The largest |margin − expected value − sum of SHAP values| over the rows explained "
        "(0 up to rounding: SHAP values add up to the model's output)."))
    importance: dict[str, float] = Field(description=(
        "feature -> weighted mean |SHAP| over the sample (global importance), largest first; "
        "every feature."))
    groups: list[AttributeContributions] = Field(description=(
        "Per protected attribute and intersection, each group's mean margin and mean SHAP "
        "per feature."))
    disparities: list[DisparityAttribution] = Field(description=(
        "Per attribute and intersection, each group against the reference: the gap in mean "
        "margin decomposed per feature."))
    reasons: list[GroupReasons] = Field(description=(
        "Per attribute and group, the adverse-action reasons of its unfavorable decisions."))


class SkippedExplanation(_Frozen):
    """A variant that was to be explained and could not be."""

    variant: str = Field(description="The variant.")
    reason: str = Field(description="Why it is not explained.")


class Explanations(_Frozen):
    """SHAP explanations out of fold (policy key ``explain``)."""

    variants: int = Field(description="explain.variants: how many of the ranking's best "
                                      "variants are explained (the selected one always is).")
    rows: int = Field(description="explain.rows: the most rows explained per variant, in all "
                                  "folds together.")
    top_features: int = Field(description=(
        "How many features per group are kept (by global importance); the rest are summed "
        "as '(other features)'."))
    sampling: str = Field(description=(
        "How the rows are drawn: stratified by fold and protected-group cell, small cells "
        "kept whole, with the policy's seed; means are weighted back to the data's counts."))
    explained: list[VariantExplanation] = Field(description="One entry per explained variant "
                                                            "(the selected one first).")
    skipped: list[SkippedExplanation] = Field(default_factory=list, description=(
        "Variants that were to be explained and could not be (fixed candidates, "
        "randomised mixtures, failed variants)."))


class Analysis(_Frozen):
    """The analysis layer's findings (each part null when the policy turns it off)."""

    proxies: ProxyScreen | None = Field(None, description="the proxy screen (policy: proxies)")
    slices: SliceAnalysis | None = Field(None, description=(
        "worst-slice discovery (policy: slices)"))
    explanations: Explanations | None = Field(None, description=(
        "SHAP explanations of the selected and best-ranked variants, out of fold (policy: "
        "explain; shap's version is in provenance.packages)"))


class ImpactRow(_Frozen):
    """One category of an LL144 impact-ratio table."""

    group: str = Field(description="The category (an intersection joins its parts with ' × ').")
    n: int = Field(description="Individuals in the category (rows with a prediction).")
    share: float = Field(description="n over every row of the table, unknown included, in [0, 1].")
    selected: int = Field(description=(
        "Selection table: individuals selected (favorable decision). Scoring table: "
        "individuals scored strictly above the full sample's median score."))
    rate: float | None = Field(description=(
        "selected / n: the selection rate, or the scoring rate (null for an empty category)."))
    ties: int | None = Field(None, description=(
        "Scoring table: individuals whose score equals the median exactly (not counted as "
        "above it); null in a selection table."))
    impact_ratio: float | None = Field(description=(
        "rate / the rate of the most selected category among those compared; null for an "
        "unknown or excluded category (see excluded, unknown)."))
    excluded: bool = Field(False, description=(
        "Left out of the impact ratios because the category is under min_share of the data "
        "(its n and rate are still shown)."))
    unknown: bool = Field(False, description=(
        "The unknown category (missing values; for an intersection, any unknown part): "
        "counted, never compared."))


class ImpactTable(_Frozen):
    """Impact ratios of one protected attribute or intersection (NYC LL144 bias audit)."""

    attribute: str = Field(description="The attribute or intersection.")
    kind: Literal["attribute", "intersection"] = Field(description="attribute or intersection.")
    basis: Literal["selection_rate", "scoring_rate"] = Field(description=(
        "selection_rate: share selected; scoring_rate: share scored above the full sample's "
        "median score (LL144's variant for tools that score)."))
    most_selected: str | None = Field(description=(
        "The category with the highest rate among those compared: every impact ratio's "
        "denominator (null when none is compared)."))
    unknown_n: int = Field(description="Individuals in an unknown category.")
    excluded: list[str] = Field(default_factory=list, description=(
        "Categories left out of the impact ratios for being under min_share of the data."))
    rows: list[ImpactRow] = Field(description="Every category, in the data's order.")


class Ll144Summary(_Frozen):
    """NYC Local Law 144 bias audit figures of the audited tool (compliance: hiring_ll144)."""

    variant: str = Field(description=(
        "The variant audited as the tool: the selected one, else the best-ranked."))
    rows: int = Field(description="Individuals with a prediction.")
    min_share: float = Field(description=(
        "Categories under this share of the data may be left out of the impact ratios (0.02)."))
    median_score: float | None = Field(description=(
        "The full sample's median score (favorable direction), or null when the tool gives "
        "decisions only."))
    ties_at_median: int | None = Field(description=(
        "Individuals whose score equals the median exactly (not above it), or null."))
    selection: list[ImpactTable] = Field(description=(
        "Selection-rate impact ratios: each attribute, then each intersection."))
    scoring: list[ImpactTable] = Field(default_factory=list, description=(
        "Scoring-rate impact ratios (score-based tools only; empty for decisions only)."))


class AdverseImpactRow(_Frozen):
    """One group's adverse impact ratio against its attribute's reference group."""

    group: str = Field(description="The group.")
    n: int = Field(description="Rows of the group.")
    selection_rate: float | None = Field(description="Share given the favorable decision.")
    air: float | None = Field(description=(
        "Adverse impact ratio: selection_rate / the reference group's (null for the "
        "reference, or a group too small to compare)."))
    below_four_fifths: bool | None = Field(description=(
        "air < 0.8 (the four-fifths indicator); null without an air."))
    test: Literal["z", "fisher"] | None = Field(None, description=(
        "The significance test of the selection-rate difference (metrics.significance)."))
    p: float | None = Field(None, description="Its p-value, unadjusted.")
    p_adjusted: float | None = Field(None, description="Its adjusted p-value.")
    significant: bool | None = Field(None, description=(
        "p_adjusted ≤ metrics.significance.alpha; null without a test."))
    small: bool = Field(False, description=(
        "Fewer rows than min_group_size: shown, not compared."))


class AdverseImpactTable(_Frozen):
    """Adverse impact ratios of one attribute or intersection (compliance: lending)."""

    attribute: str = Field(description="The attribute or intersection.")
    kind: Literal["attribute", "intersection"] = Field(description="attribute or intersection.")
    reference: str | None = Field(description=(
        "The reference group: the declared one, else the eligible group with the highest "
        "selection rate (null when none is eligible)."))
    rows: list[AdverseImpactRow] = Field(description="Every group.")


class Alternative(_Frozen):
    """A variant within the ranking tolerance of the best performance (the LDA search)."""

    variant: str = Field(description="The variant.")
    objective: float | None = Field(description="Its value of ranking.objective.")
    status: Status = Field(description="Its gate status.")
    disparities: dict[str, float | None] = Field(description=(
        "fairness metric (the template's, metrics.fairness) -> its headline value."))
    selected: bool = Field(description="Whether the ranking selected it.")
    why: str = Field(description=(
        "Why it was (or was not) chosen: the ranking's own reason (ranking.passed_over, or "
        "ranking.reasons joined for the selected variant)."))


class LendingReview(_Frozen):
    """Adverse impact review (ECOA / Regulation B) of the selected variant, and the LDA table."""

    variant: str = Field(description="The variant reviewed: the selected one, else the "
                                     "best-ranked.")
    alpha: float = Field(description="metrics.significance.alpha.")
    tables: list[AdverseImpactTable] = Field(description="Per attribute and intersection.")
    best_objective: float | None = Field(description=(
        "The best value of ranking.objective over every evaluated variant."))
    best_selectable_objective: float | None = Field(default=None, description=(
        "The best value of ranking.objective among the variants the ranking may select (the "
        "selected one and those set aside only by the tolerance or the tie-break): the figure "
        "the ranking's tolerance counts from. Null when nothing was selected."))
    tolerance: float = Field(description="ranking.tolerance.")
    alternatives: list[Alternative] = Field(description=(
        "Every variant whose objective lies within the tolerance of the best, or of the best "
        "selectable, best first."))


class ComplianceResult(_Frozen):
    """The compliance template's figures (policy key ``compliance``)."""

    template: Literal["generic", "lending", "hiring_ll144"] = Field(description="The template.")
    variant: str | None = Field(None, description=(
        "The variant audited as the tool: the selected one, else the best-ranked that could "
        "be evaluated (null when none could)."))
    title: str = Field(description="The regime's name, as the report's section title.")
    template_gates: list[int] = Field(default_factory=list, description=(
        "Indices (in gates) of the gates the template added (those the policy did not "
        "write on the same metric)."))
    info: dict[str, str | None] = Field(default_factory=dict, description=(
        "compliance_info as the policy states it (null = not stated): audit_date, "
        "data_source, data_period, data_kind, test_data_reason, distribution_date, tool."))
    ll144: Ll144Summary | None = Field(None, description="hiring_ll144's tables, else null.")
    lending: LendingReview | None = Field(None, description="lending's review, else null.")


class Holdout(_Frozen):
    """The final test split (validation.holdout) and the figures measured once on it."""

    fraction: float = Field(description="validation.holdout: the share of rows asked for.")
    rows: int = Field(description=(
        "Rows in the holdout: kept out of every fit and choice (the other rows are "
        "data.rows_used minus these)."))
    favorable_rate: float = Field(description="Share of holdout rows with the favorable "
                                              "outcome.")
    variants: list[VariantResult] = Field(description=(
        "The selected variant and the runner-up within ranking.tolerance, each refitted on "
        "all non-holdout rows and measured on the holdout rows (one fold: folds holds it), "
        "with intervals; status from the gates below."))
    gates: list[GateResult] = Field(description="Every gate judged on the holdout figures.")


class Selection(_Frozen):
    """How far the selected variant's figures can be trusted after choosing among many."""

    variants: int = Field(description="Variants compared by the ranking (trials and "
                                      "mitigated variants included).")
    trials: int = Field(description="Search trials among the candidates (0 without search).")
    pruned: int = Field(0, description="Trials pruned after their first folds.")
    optimistic: bool = Field(description=(
        "true when more than 10 variants were compared without a holdout: the selected "
        "variant's cross-validated figures were used to choose it, so they flatter it."))
    note: str | None = Field(None, description=(
        "What optimistic means here, as the report states it; null when not optimistic."))
    holdout: Holdout | None = Field(None, description=(
        "The holdout's figures (validation.holdout), or null without a holdout. With a "
        "holdout the verdict is judged on them."))


class AuditResult(_Frozen):
    """Everything an audit found; the reports are a function of this alone."""

    schema_version: str = Field(SCHEMA_VERSION, description=(
        "MAJOR.MINOR version of this format; a reader refuses another major version."))
    name: str = Field(description="The policy's name.")
    title: str = Field(description="report.title, or the policy's name.")
    description: str | None = Field(description="The policy's description, or null.")
    verdict: Verdict = Field(description="The outcome and its exit code.")
    policy: dict[str, Any] = Field(description=(
        "The policy as the audit ran it, every default filled in (valid against fairsel "
        "schema policy)."))
    policy_text: str = Field(description="The policy file's text, as read.")
    data: DataSummary = Field(description=(
        "The data audited: file, rows read, used and excluded, target, features, and the "
        "size of every protected group."))
    validation: ValidationSummary = Field(description="The folds.")
    metrics: dict[str, list[str]] = Field(description=(
        "performance and fairness: the metrics the policy lists (metrics.performance, "
        "metrics.fairness)."))
    confidence: dict[str, Any] = Field(description=(
        "metrics.confidence as run: method, level, resamples."))
    min_group_size: int = Field(description="The policy's min_group_size.")
    variants: list[VariantResult] = Field(description=(
        "Every candidate and mitigated variant, with everything measured about it."))
    gates: list[GateResult] = Field(description="Every gate judged on every variant.")
    failures: list[Failure] = Field(description="Candidates or variants that could not be "
                                                "evaluated.")
    ranking: Ranking = Field(description="The ranking and the selected variant.")
    provenance: Provenance = Field(description="Hashes, versions and times.")
    analysis: Analysis = Field(default_factory=Analysis, description=(
        "why a model is unfair (SHAP explanations), where it fails (worst slices) and what "
        "stands in for a protected attribute (the proxy screen)"))
    compliance: ComplianceResult | None = Field(None, description=(
        "The compliance template's figures (policy key compliance), or null without one."))
    selection: Selection | None = Field(None, description=(
        "How many variants were compared, whether the selected one's figures are optimistic, "
        "and the holdout's figures (null in results written before this field existed)."))

    def variant(self, name: str) -> VariantResult:
        for v in self.variants:
            if v.name == name:
                return v
        raise KeyError(name)


#: Fields that change from run to run with identical inputs (removed before comparing results).
VOLATILE_FIELDS: tuple[str, ...] = (
    "provenance.started", "provenance.finished", "provenance.duration_seconds",
    "provenance.timings", "provenance.policy_path", "provenance.python", "provenance.platform",
    "provenance.packages", "data.path",
)


#: The largest magnitude a number in results.json may have (rates are in [0, 1], counts are
#: rows, durations seconds): anything bigger was not written by fairsel.
MAX_MAGNITUDE = 1e15
#: Rates and scores of a group, and their interval bounds, lie in [0, 1] (this much rounding).
_RATE_SLACK = 1e-9
#: Figures of an audit that are mean errors of the scores, not rates: not negative, unbounded.
_SCORE_ERRORS = ("brier_score", "calibration_error")


class _NonFinite:
    """Where json.loads met NaN, Infinity or -Infinity (kept to report its path)."""

    def __init__(self, text: str) -> None:
        self.text = text


#: The most decimals a figure gets to show which side of a threshold it is on; a figure closer
#: to the threshold than that is written as the side it is on, ``<\u00a00.8`` or ``>\u00a00.8``.
MAX_DECIMALS = 6

#: How close (relative) a figure is to a threshold when it *is* the threshold: floating-point
#: rounding of a ratio of counts (a disparate impact of exactly 4/5 computed as
#: 0.7999999999999999) is 1e-16, and two different ratios of counts a gate could see differ by
#: far more than 1e-12 unless both groups have hundreds of thousands of rows.
AT_THRESHOLD = 1e-12


def at_threshold(x: float | None, threshold: float | None) -> bool:
    """Whether ``x`` is ``threshold`` up to floating-point rounding (:data:`AT_THRESHOLD`): a
    gate counts it as meeting an inclusive bound, and the outputs write it as the threshold."""
    if x is None or threshold is None:
        return False
    return abs(x - threshold) <= AT_THRESHOLD * max(1.0, abs(threshold))


def figure_text(x: float, digits: int = 3, *, near=(), spec: str = "f") -> str:
    """``x`` with ``digits`` decimals (``spec`` "g": significant digits), and more where it
    would otherwise read as one of the thresholds ``near`` it is not: 0.7999 against a
    threshold of 0.8 is "0.7999", never "0.800", so the reader sees which side it is on. At
    most :data:`MAX_DECIMALS` (or ``digits`` if more): a figure that would still read as the
    threshold is written as the side it is on, ``<\u00a00.8`` for 0.7999999999999999.

    A figure that is the threshold up to floating-point rounding (:func:`at_threshold`) is
    written as the threshold: a disparate impact of exactly 4/5 computed as 0.7999999999999999
    reads "0.800", and meets "≥ 0.8".

    The one rule every output follows (report, leaderboard, summary.md, junit.xml, the
    terminal, the gates' messages); the caller writes an undefined figure its own way.
    """
    cap = max(digits, MAX_DECIMALS)
    for t in near:
        if at_threshold(x, t):  # the threshold itself, up to floating-point rounding
            return f"{t:.{digits}{spec}}"
    for t in near:
        if t is not None and x != t and f"{x:.{cap}{spec}}" == f"{t:.{cap}{spec}}":
            return f"{'<' if x < t else '>'}\u00a0{t:g}"
    d = digits
    while d < cap and any(t is not None and x != t and f"{x:.{d}{spec}}" == f"{t:.{d}{spec}}"
                          for t in near):
        d += 1
    return f"{x:.{d}{spec}}"


#: What is said of a variant selected under a policy that sets no error-severity gate (every
#: gate warns): "passes every error-severity gate" would be true of nothing. The verdict
#: (audit), the ranking's reasons and the report's cover all say this one sentence.
def no_error_gate(what: str = "its selection") -> str:
    """:data:`NO_ERROR_GATE`, of ``what`` ("any of the 3 variant(s)" in the ranking's reasons)."""
    return f"the policy sets no error-severity gate, so no gate could block {what}"


NO_ERROR_GATE = no_error_gate()


def json_path(loc) -> str:
    """``("variants", 0, "performance")`` → ``variants[0].performance``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(the top level)"


def _numbers(node, loc=()):
    """Every (path, number) in a parsed JSON document, NaN and infinities included."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _numbers(v, (*loc, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _numbers(v, (*loc, i))
    elif isinstance(node, (_NonFinite, float)) or (isinstance(node, int)
                                                   and not isinstance(node, bool)):
        yield loc, node


def _check_version(version) -> str | None:
    """What is wrong with ``schema_version`` for this fairsel, or None."""
    import re

    current = int(SCHEMA_VERSION.split(".")[0])
    if not isinstance(version, str) or not re.fullmatch(r"\d{1,6}\.\d{1,6}", version):
        shown = repr(version)[:80]
        return (f"schema_version: {shown} is not a results schema version (expected "
                f"MAJOR.MINOR, such as {SCHEMA_VERSION})")
    major = int(version.split(".")[0])
    if major > current:
        return (f"schema_version: {version} is newer than this fairsel reads "
                f"({current}.x); it was written by a newer fairsel: upgrade fairsel "
                "(pip install -U fairsel) to read it")
    if major < current:
        return (f"schema_version: {version} is older than this fairsel reads ({current}.x); "
                "re-run the audit with this fairsel")
    return None


def _check_content(result: AuditResult) -> list[str]:
    """Contradictions a valid results.json never has (a tampered or hand-edited file)."""
    import math

    problems: list[str] = []
    names = [v.name for v in result.variants]
    known = set(names)

    def rate(loc: tuple, value: float | None) -> None:
        if value is not None and not (-_RATE_SLACK <= value <= 1 + _RATE_SLACK):
            problems.append(f"{json_path(loc)}: {value!r} is not a rate (expected a number "
                            "in [0, 1])")

    def name(loc: tuple, value: str | None) -> None:
        if value is not None and value not in known:
            problems.append(f"{json_path(loc)}: '{value[:80]}' is not a variant of this "
                            f"result (the variants are: {', '.join(names)[:300]})")

    if len(known) != len(names):
        problems.append("variants: two variants have the same name")
    name(("ranking", "selected"), result.ranking.selected)
    name(("verdict", "selected"), result.verdict.selected)
    for i, n in enumerate(result.ranking.order):
        name(("ranking", "order", i), n)
    for i, g in enumerate(result.gates):
        name(("gates", i, "variant"), g.variant)
    rate(("data", "favorable_rate"), result.data.favorable_rate)
    level = result.confidence.get("level")
    if level is not None and (isinstance(level, bool) or not isinstance(level, (int, float))
                              or not 0 < level < 1):
        problems.append(f"confidence.level: {str(level)[:40]!r} is not a confidence level "
                        "(expected a number between 0 and 1)")
    for a, attr in enumerate(result.data.attributes):
        for g, grp in enumerate(attr.groups):
            rate(("data", "attributes", a, "groups", g, "favorable_rate"), grp.favorable_rate)
            if grp.n < 0 or not 0 <= grp.favorable <= grp.n:
                problems.append(f"{json_path(('data', 'attributes', a, 'groups', g))}: counts "
                                f"n = {grp.n}, favorable = {grp.favorable} are impossible")
    def figure(loc: tuple, metric: str, value: float | None, fairness: bool) -> None:
        # rates lie in [0, 1]; a difference of two rates in [-1, 1]; a ratio of two rates and
        # a mean score error are not negative (Brier score and calibration error exceed 1 when
        # the scores are not probabilities)
        if value is None:
            return
        if fairness:
            lo, hi = (-1.0, 1.0) if metric.endswith("_difference") else (0.0, math.inf)
        else:
            lo, hi = (0.0, math.inf) if metric in _SCORE_ERRORS else (0.0, 1.0)
        if not (lo - _RATE_SLACK <= value <= hi + _RATE_SLACK):
            problems.append(f"{json_path(loc)}: {value!r} is impossible for {metric} (expected "
                            f"a number in [{lo:g}, {hi:g}])")

    screen = result.analysis.proxies
    for a, pa in enumerate(screen.attributes if screen else []):
        loc = ("analysis", "proxies", "attributes", a)
        rate((*loc, "all_features_auc"), pa.all_features_auc)
        for f, feat in enumerate(pa.features):
            rate((*loc, "features", f, "auc"), feat.auc)
            rate((*loc, "features", f, "nmi"), feat.nmi)
    for v, var in enumerate(result.variants):
        name(("variants", v, "base"), var.base)
        for kind, figures in (("performance", var.performance), ("fairness", var.fairness)):
            for metric, est in figures.items():
                fair = kind == "fairness"
                figure(("variants", v, kind, metric, "value"), metric, est.value, fair)
                for j, bound in enumerate(est.ci or ()):
                    figure(("variants", v, kind, metric, "ci", j), metric, bound, fair)
        for a, attr in enumerate(var.attributes):
            for g, row in enumerate(attr.groups):
                loc = ("variants", v, "attributes", a, "groups", g)
                if min(row.n, row.tp, row.fp, row.tn, row.fn) < 0:
                    problems.append(f"{json_path(loc)}: a negative count")
                for key, est in row.rates.items():
                    figure((*loc, "rates", key, "value"), key, est.value, False)
                    for j, bound in enumerate(est.ci or ()):
                        figure((*loc, "rates", key, "ci", j), key, bound, False)
    return problems


def load_results(path) -> AuditResult:
    """Read and check a results.json written by ``fairsel audit`` (for ``render``, ``compare``).

    The file must be UTF-8 JSON with finite numbers of sensible size, of a schema version this
    fairsel reads (the same major version), valid against ``fairsel schema results`` (its
    embedded policy against ``fairsel schema policy``), and consistent (the selected variant exists, rates lie in [0, 1], counts are not negative).

    Raises
    ------
    UsageError
        The file is missing, not UTF-8, not JSON, of another schema version, or invalid or
        tampered: the message names the file and the JSON path of the first problem.
    """
    import json
    import math
    from pathlib import Path

    from pydantic import ValidationError

    from fairsel.errors import UsageError

    path = Path(path)
    what = f"not a fairsel results.json (schema {SCHEMA_VERSION})"
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the results file ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: {what}: byte {exc.start} is not UTF-8 ({exc.reason}); "
                         "fairsel writes results.json as UTF-8 JSON") from None
    try:
        data = json.loads(text, parse_constant=_NonFinite)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}: {what}: not valid JSON at line {exc.lineno}, column "
                         f"{exc.colno} ({exc.msg})") from None
    except RecursionError:
        raise UsageError(f"{path}: {what}: nested too deeply") from None
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        raise UsageError(f"{path}: {what}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}: {what}: expected a JSON object, found "
                         f"{type(data).__name__}")
    # a missing schema_version reads as the current one, as the schema's default says
    problem = _check_version(data["schema_version"]) if "schema_version" in data else None
    if problem:
        raise UsageError(f"{path}: {what}: {problem}")
    for loc, number in _numbers(data):
        if isinstance(number, _NonFinite) or (isinstance(number, float)
                                              and not math.isfinite(number)):
            shown = number.text if isinstance(number, _NonFinite) else repr(number)
            raise UsageError(f"{path}: {what}: {json_path(loc)}: {shown} is not a finite "
                             "number")
        if abs(number) > MAX_MAGNITUDE:
            shown = f"{number:.6g}" if isinstance(number, float) else \
                f"an integer of {len(str(number))} digits"
            raise UsageError(f"{path}: {what}: {json_path(loc)}: {shown} is out of range "
                             f"(no figure of an audit exceeds {MAX_MAGNITUDE:.0e})")
    try:
        result = AuditResult.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        first = errors[0]
        more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
        raise UsageError(f"{path}: {what}: {json_path(first['loc'])}: {first['msg']}"
                         f"{more}") from None
    from fairsel.policy.schema import Policy

    try:  # the embedded policy is what the audit ran with: the policy schema holds for it
        Policy.model_validate(result.policy)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise UsageError(f"{path}: {what}: {json_path(('policy', *first['loc']))}: "
                         f"{first['msg']}") from None
    problems = _check_content(result)
    if problems:
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        raise UsageError(f"{path}: {what}: {problems[0]}{more}")
    return result
