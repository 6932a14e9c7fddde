"""The audit's results as frozen, validated data: what results.json holds and renderers read.

These are pydantic models rather than plain dataclasses so that ``results.json`` round-trips
(``AuditResult.model_validate_json``) and its JSON Schema comes from the same definitions
(``fairsel schema results``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = "1.0"

Status = Literal["PASS", "WARN", "FAIL", "INSUFFICIENT", "ERROR"]
STATUSES: tuple[str, ...] = ("PASS", "WARN", "FAIL", "INSUFFICIENT", "ERROR")
#: From best to worst, for sorting and for the worst status of several.
STATUS_ORDER: dict[str, int] = {"PASS": 0, "WARN": 1, "INSUFFICIENT": 2, "FAIL": 3, "ERROR": 4}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Estimate(_Frozen):
    """A figure with its confidence interval (``ci`` is ``None`` when none was computed)."""

    value: float | None
    ci: tuple[float | None, float | None] | None = None


class Headline(_Frozen):
    """A fairness metric for a variant: the worst over attributes, and where it occurs."""

    value: float | None
    ci: tuple[float | None, float | None] | None = None
    attribute: str | None = None
    by_attribute: dict[str, Estimate] = Field(default_factory=dict)


class GroupRow(_Frozen):
    """Counts and rates of one group (or intersection cell) of one attribute.

    ``fractions`` gives each rate that is one count over another as ``[k, n]`` (FNR 2 of 22
    actual positives: ``[2, 22]``). ``small_rates`` names the rates whose denominator is below
    ``min_group_size``: they are reported but enter no disparity, gate or headline.
    """

    group: str
    n: int
    tp: int
    fp: int
    tn: int
    fn: int
    flags: list[str] = Field(default_factory=list)
    rates: dict[str, Estimate] = Field(default_factory=dict)
    fractions: dict[str, tuple[int, int]] = Field(
        default_factory=dict, description="rate -> [count, denominator], e.g. fnr [2, 22]")
    small_rates: list[str] = Field(
        default_factory=list, description="rates whose denominator is below min_group_size: "
                                          "reported, never compared")


class AttributeMetrics(_Frozen):
    """One protected attribute or one intersection of attributes, for one variant."""

    attribute: str
    columns: list[str]
    kind: Literal["attribute", "intersection"]
    reference: str | None
    reference_rule: Literal["declared", "fairlearn_min_max"]
    groups: list[GroupRow]
    eligible_groups: list[str]
    fairness: dict[str, Estimate] = Field(default_factory=dict)


class FoldMetrics(_Frozen):
    """One fold's figures, on the same groups as the pooled figures.

    ``small_cells`` marks, per rate and attribute, the groups that take part in the pooled
    disparity but whose denominator in this fold is below ``min_group_size`` (they are kept in
    the fold's figure, or left out only where the fold has none of them, i.e. the rate is
    undefined there).
    """

    fold: int
    n: int
    performance: dict[str, float | None]
    fairness: dict[str, dict[str, float | None]]
    small_cells: dict[str, dict[str, list[str]]] = Field(
        default_factory=dict, description="rate -> attribute -> groups of the pooled figure "
                                          "whose count in this fold is below min_group_size")


class GateResult(_Frozen):
    """One gate judged on one variant (and, inside, on each attribute)."""

    gate: int
    metric: str
    variant: str
    min: float | None
    max: float | None
    severity: Literal["error", "warn"]
    decision: Literal["point", "ci_bound"]
    status: Status
    observed: float | None
    ci: tuple[float | None, float | None] | None = None
    attribute: str | None = None
    by_attribute: dict[str, Status] = Field(default_factory=dict)
    gap: float | None = None
    message: str


class Failure(_Frozen):
    """A candidate (or variant) that could not be evaluated: where and why."""

    candidate: str
    variant: str
    stage: str
    fold: int | None
    message: str


class VariantResult(_Frozen):
    """A candidate or a mitigated variant of it, with everything measured about it."""

    name: str
    candidate: str
    kind: str
    mitigation: str | None = None
    base: str | None = None
    uses_protected_at_decision: bool = False
    protected_as_features: list[str] = Field(default_factory=list)
    score_type: Literal["probability", "score"] = Field(
        "probability", description="whether the scores are probabilities (candidates[].score_type)")
    unavailable: dict[str, str] = Field(
        default_factory=dict, description="metric -> why it is null for this variant (Brier "
                                          "score and calibration error of a score)")
    status: Status
    rank: int | None = None
    performance: dict[str, Estimate]
    fairness: dict[str, Headline]
    attributes: list[AttributeMetrics]
    folds: list[FoldMetrics]
    details: dict[str, Any] = Field(default_factory=dict)


class GroupSize(_Frozen):
    group: str
    n: int
    favorable: int
    favorable_rate: float | None
    flags: list[str] = Field(default_factory=list)


class AttributeSummary(_Frozen):
    attribute: str
    columns: list[str]
    kind: Literal["attribute", "intersection"]
    reference: str | None
    groups: list[GroupSize]


class Exclusion(_Frozen):
    reason: str
    count: int


class DataSummary(_Frozen):
    path: str
    format: str
    rows_read: int
    rows_used: int
    excluded: list[Exclusion]
    target: str
    favorable: str
    favorable_rate: float
    features: list[str]
    protected_as_features: list[str]
    attributes: list[AttributeSummary]
    cluster_column: str | None
    n_clusters: int | None


class ValidationSummary(_Frozen):
    scheme: str
    folds: int
    groups: str | None
    fold_sizes: list[int]
    seed: int


class Ranking(_Frozen):
    selected: str | None
    order: list[str]
    objective: str
    tolerance: float
    fairness_tiebreak: str
    reasons: list[str]


class Verdict(_Frozen):
    status: Status
    exit_code: int
    selected: str | None
    message: str


class Provenance(_Frozen):
    policy_path: str
    policy_sha256: str
    data_sha256: str
    seed: int
    fairsel_version: str
    python: str
    platform: str
    packages: dict[str, str]
    started: str
    finished: str
    duration_seconds: float
    timings: dict[str, float] = Field(default_factory=dict)


class ProxyFeature(_Frozen):
    """One feature screened as a proxy of one protected attribute."""

    feature: str
    kind: Literal["numeric", "categorical"]
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

    attribute: str
    columns: list[str] = Field(description="the attribute's own columns (never screened)")
    groups: list[str] = Field(description="the groups to recover (the group 'unknown' is left "
                                          "out: missing values are not a group to predict)")
    rows: int = Field(description="rows of a known group screened")
    features_screened: int
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


class ProxyScreen(_Frozen):
    """The proxy screen (policy key ``proxies``): each protected attribute's recoverability."""

    max_feature_auc: float
    max_all_auc: float
    bins: int = Field(description="quantile bins of a numeric feature")
    max_rows: int = Field(description="row cap of the all-features model")
    declared: list[str] = Field(default_factory=list, description="data.proxies")
    model: dict[str, Any] = Field(default_factory=dict,
                                  description="LightGBM parameters of the all-features model")
    attributes: list[ProxyAttribute]


class Analysis(_Frozen):
    """The analysis layer's findings (each part null when the policy turns it off)."""

    proxies: ProxyScreen | None = Field(None, description="the proxy screen (policy: proxies)")


class AuditResult(_Frozen):
    """Everything an audit found; the reports are a function of this alone."""

    schema_version: str = SCHEMA_VERSION
    name: str
    title: str
    description: str | None
    verdict: Verdict
    policy: dict[str, Any]
    policy_text: str
    data: DataSummary
    validation: ValidationSummary
    metrics: dict[str, list[str]]
    confidence: dict[str, Any]
    min_group_size: int
    variants: list[VariantResult]
    gates: list[GateResult]
    failures: list[Failure]
    ranking: Ranking
    provenance: Provenance
    analysis: Analysis = Field(default_factory=Analysis, description=(
        "why a model is unfair and what stands in for a protected attribute (the proxy screen)"))

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
