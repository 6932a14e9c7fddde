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


def load_results(path) -> AuditResult:
    """Read a results.json written by ``fairsel audit``.

    Raises
    ------
    UsageError
        The file is missing, not JSON, or not a results file of this schema version.
    """
    from pathlib import Path

    from pydantic import ValidationError

    from fairsel.errors import UsageError

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the results file ({exc.strerror})") from None
    try:
        return AuditResult.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise UsageError(f"{path}: not a fairsel results.json (schema {SCHEMA_VERSION}): "
                         f"{where}: {first['msg']}") from None
