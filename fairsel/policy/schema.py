"""The policy file, version 1: every key, its type and its default (defaults live only here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from fairsel.policy.limits import MAX_BIN_EDGES, MAX_GROUPS

Scalar = str | bool | int | float


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class RowFilter(Spec):
    """Rows to exclude before the audit, counted and reported with ``reason``."""

    reason: str
    column: str
    equals: Scalar | list[Scalar] | None = None
    # a list, not a tuple: strict mode refuses YAML's lists for tuples
    outside: list[float] | None = Field(None, min_length=2, max_length=2)
    below: float | None = None
    above: float | None = None
    missing: bool | None = None


class DataSpec(Spec):
    path: str
    target: str
    favorable: Scalar
    id: str | None = None
    features: Literal["auto"] | list[str] = "auto"
    exclude: list[str] = Field(default_factory=list)
    exclude_rows: list[RowFilter] = Field(default_factory=list)
    encoding: str = Field("utf-8", description=(
        "The text encoding of a CSV data file (Python's codec names: utf-8, latin-1, cp1252, "
        "utf-16, ...); a UTF-8 byte-order mark is skipped. A file that does not decode is "
        "refused with the byte offset and line of the first byte that does not. Parquet files "
        "are always UTF-8 and ignore it."))
    proxies: list[str] = Field(default_factory=list, description=(
        "Features known to stand in for a protected attribute (zip_code, first name): always "
        "reported in the proxy screen, whatever their figures. Each must be a feature."))


class ProtectedSpec(Spec):
    column: str
    name: str | None = None
    reference: Scalar | None = None
    bins: list[float] | None = Field(None, description=(
        "Increasing edges that bucket a numeric attribute into groups [a, b); at most "
        f"{MAX_BIN_EDGES} edges."))
    labels: list[str] | None = None

    @property
    def display_name(self) -> str:
        return self.name or self.column


class ValidationSpec(Spec):
    scheme: Literal["stratified_group_kfold", "group_kfold", "stratified_kfold",
                    "leave_one_group_out"] = "stratified_group_kfold"
    folds: int = Field(5, ge=2)
    groups: str | None = None


CandidateKind = Literal["sklearn", "lightgbm", "saved_model", "predictions", "mlflow"]


class CandidateSpec(Spec):
    name: str = Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
    kind: CandidateKind
    estimator: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    path: str | None = None
    score_column: str | None = None
    decision_column: str | None = None
    higher_is_favorable: bool = True
    threshold: float = 0.5
    trusted: bool = False
    sha256: str | None = None
    trusted_types: list[str] = Field(default_factory=list)
    score_type: Literal["probability", "score"] | None = Field(
        None, description=(
            "What the candidate's scores are. 'probability': the probability of the favorable "
            "outcome, in [0, 1] (Brier score and calibration error are computed; a score outside "
            "[0, 1] is a data error, exit 3). 'score': a ranking score on any scale, such as a "
            "risk decile (Brier score and calibration error are not defined and are reported as "
            "null, with the reason). Default: inferred — trained candidates (sklearn, lightgbm) "
            "and saved models give probabilities; for predictions, scores that all lie in [0, 1] "
            "are read as probabilities, any score outside [0, 1] makes them scores."))


#: Which optional candidate keys each kind may use (others are an error naming the key).
CANDIDATE_KEYS: dict[str, set[str]] = {
    "sklearn": {"estimator", "params", "threshold", "score_type"},
    "lightgbm": {"params", "threshold", "score_type"},
    "saved_model": {"path", "threshold", "trusted", "sha256", "trusted_types", "score_type"},
    "predictions": {"path", "score_column", "decision_column", "higher_is_favorable",
                    "threshold", "score_type"},
    "mlflow": {"path", "threshold", "trusted", "score_type"},
}


class MitigationSpec(Spec):
    kind: str
    constraint: Literal["demographic_parity", "equal_opportunity", "equalized_odds"] | None = None
    tolerance: float | None = Field(None, ge=0)
    epsilon: float | None = Field(None, gt=0)
    method: str | None = None
    candidates: list[str] | None = None
    attributes: list[str] | None = None  # protected attributes whose intersection it equalises
    grid_size: int | None = Field(None, ge=2, le=1000)  # reject_option's search grid


class MitigationPolicySpec(Spec):
    allow_group_specific_decisions: bool = Field(
        False, description=(
            "Whether a variant that decides using the protected attribute (group-specific "
            "thresholds, aif360 post-processing, or a model given the attribute as a feature) may "
            "be selected. Default false: such variants are still measured, ranked and shown, but "
            "never selected, because deciding by group is disparate treatment, unlawful in many "
            "jurisdictions (e.g. US lending and employment law). Set true only where the law "
            "and the organisation allow it. (The first release defaulted to true.)"))


class ConfidenceSpec(Spec):
    method: Literal["bootstrap", "none"] = "bootstrap"
    level: float = Field(0.95, gt=0.5, lt=1.0)
    resamples: int = Field(1000, ge=1, le=100_000)


class MetricsSpec(Spec):
    performance: list[str] = Field(
        default_factory=lambda: ["roc_auc", "balanced_accuracy", "f1", "brier_score"])
    fairness: list[str] = Field(default_factory=lambda: [
        "disparate_impact", "demographic_parity_difference", "equal_opportunity_difference",
        "equalized_odds_difference"])
    confidence: ConfidenceSpec = Field(default_factory=ConfidenceSpec)


class GateSpec(Spec):
    metric: str
    min: float | None = None
    max: float | None = None
    severity: Literal["error", "warn"] = "error"
    attributes: list[str] | None = None


class ProxiesSpec(Spec):
    """The proxy screen: how well each protected attribute can be recovered from the features."""

    max_feature_auc: float = Field(0.70, ge=0.5, le=1.0, description=(
        "A feature whose one-feature AUC for a protected attribute (macro one-vs-rest, out of "
        "fold) exceeds this is flagged as a proxy, named in the gate's message."))
    max_all_auc: float = Field(0.80, ge=0.5, le=1.0, description=(
        "An attribute whose cross-validated AUC from all features together (LightGBM, the "
        "audit's folds) exceeds this is flagged."))
    severity: Literal["error", "warn"] = Field("warn", description=(
        "warn (default): a flag makes every variant's proxy gates WARN; error: FAIL."))
    max_rows: int = Field(50_000, ge=100, description=(
        "Rows the all-features model is cross-validated on, drawn with the seed when the data "
        "has more (the one-feature figures use every row)."))
    bins: int = Field(10, ge=2, le=100, description="Quantile bins of a numeric feature.")


class RankingSpec(Spec):
    objective: str = "roc_auc"
    tolerance: float = Field(0.01, ge=0)
    fairness_tiebreak: str = "disparate_impact"


class SignoffSpec(Spec):
    role: str
    name: str | None = None


class ReportSpec(Spec):
    title: str | None = None
    output: str | None = None
    formats: list[str] = Field(default_factory=lambda: ["html", "pdf", "json", "junit",
                                                         "markdown"])
    paper: Literal["A4", "Letter"] = "A4"
    organisation: str | None = None
    system: str | None = None
    signoff: list[SignoffSpec] = Field(default_factory=list)
    templates: str | None = None


class CompareSpec(Spec):
    """Allowances for ``fairsel compare``; with none set, fairsel's documented defaults apply."""

    max_drop: dict[str, float] = Field(default_factory=dict)
    max_increase: dict[str, float] = Field(default_factory=dict)
    judge: Literal["point", "uncertainty"] = Field(
        "point", description="point: a change beyond its allowance fails; uncertainty: it fails "
        "only when the whole interval of the change lies beyond the allowance, else warns")


class Policy(Spec):
    """A validated policy file (version 1). Paths are relative to the file itself."""

    version: Literal[1]
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    description: str | None = None
    seed: int = Field(0, ge=0, le=2**32 - 1)  # numpy and scikit-learn refuse other seeds
    data: DataSpec
    protected: list[ProtectedSpec] = Field(min_length=1)
    intersections: bool | int = Field(True, description=(
        "Which combinations of the protected attributes to audit besides each attribute: true "
        "= every combination, false = none, N (2 or more) = combinations of up to N attributes "
        "(2 = pairs). An audit measures at most "
        f"{MAX_GROUPS:,} groups (attributes plus intersection cells found in the data); above "
        "that it stops with an error."))
    min_group_size: int = Field(30, ge=1)
    validation: ValidationSpec = Field(default_factory=ValidationSpec)
    candidates: list[CandidateSpec] = Field(min_length=1)
    mitigation: list[MitigationSpec] = Field(default_factory=list)
    mitigation_policy: MitigationPolicySpec = Field(default_factory=MitigationPolicySpec)
    metrics: MetricsSpec = Field(default_factory=MetricsSpec)
    gates: list[GateSpec] = Field(default_factory=list)
    decision: Literal["point", "ci_bound"] = "point"
    ranking: RankingSpec = Field(default_factory=RankingSpec)
    report: ReportSpec = Field(default_factory=ReportSpec)
    compare: CompareSpec = Field(default_factory=CompareSpec)
    proxies: ProxiesSpec | bool = Field(default_factory=ProxiesSpec, description=(
        "The proxy screen (on by default): per protected attribute, each feature's normalised "
        "mutual information and one-feature AUC, and the cross-validated AUC of a model of all "
        "features; the bounds become gates named proxy_feature_auc and proxy_all_auc. false "
        "turns it off; true takes the defaults."))

    _path: Path = PrivateAttr(default=Path("policy.yaml"))
    _text: str = PrivateAttr(default="")
    _sha256: str = PrivateAttr(default="")

    @property
    def path(self) -> Path:
        """The policy file this was read from."""
        return self._path

    @property
    def text(self) -> str:
        return self._text

    @property
    def sha256(self) -> str:
        return self._sha256

    def resolve(self, relative: str | Path) -> Path:
        """A path named in the policy, relative to the policy file's folder."""
        import os

        p = Path(relative).expanduser()
        return p if p.is_absolute() else Path(os.path.normpath(self._path.parent / p))

    @property
    def intersection_depth(self) -> int:
        """The most attributes an audited intersection combines (0 or 1: none)."""
        if self.intersections is True:
            return len(self.protected)
        return 0 if self.intersections is False else int(self.intersections)

    @property
    def proxy_screen(self) -> ProxiesSpec | None:
        """The proxy screen's settings, or None when ``proxies: false``."""
        if self.proxies is True:
            return ProxiesSpec()
        return self.proxies or None

    @property
    def title(self) -> str:
        return self.report.title or self.name

    def output_dir(self) -> Path:
        """``report.output``, or ``reports/<name>`` in the current folder."""
        return self.resolve(self.report.output) if self.report.output else Path("reports") / self.name
