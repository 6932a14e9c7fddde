"""The policy file, version 1: every key, its type and its default (defaults live only here)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from fairsel.policy.limits import MAX_BIN_EDGES, MAX_GROUPS

Scalar = str | bool | int | float


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class RowFilter(Spec):
    """Rows to exclude before the audit, counted and reported with ``reason``."""

    reason: str = Field(description=(
        "Why these rows are left out (required); the count of rows excluded is reported with "
        "it in results.json (data.excluded) and the report."))
    column: str = Field(description="The column the condition tests.")
    equals: Scalar | list[Scalar] | None = Field(None, description=(
        "Exclude rows whose value equals this value, or any value of this list. Exactly one "
        "of equals, outside, below, above, missing is set."))
    # a list, not a tuple: strict mode refuses YAML's lists for tuples
    outside: list[float] | None = Field(None, min_length=2, max_length=2, description=(
        "[low, high] with low ≤ high: exclude rows whose numeric value is below low or above "
        "high."))
    below: float | None = Field(None, description="Exclude rows whose numeric value is below "
                                                  "this number (strictly).")
    above: float | None = Field(None, description="Exclude rows whose numeric value is above "
                                                  "this number (strictly).")
    missing: bool | None = Field(None, description="true: exclude rows where the column is "
                                                   "empty (missing).")


class DataSpec(Spec):
    """The table to audit: where it is, its outcome, and which columns the models use."""

    path: str = Field(description=(
        "The data file, CSV or Parquet (by its extension), relative to the policy file; or, "
        "for a predictions-only audit, a folder of Parquet files or a glob (data/*.parquet), "
        "read in chunks (see chunk_rows)."))
    target: str = Field(description="The column holding the true outcome.")
    favorable: Scalar = Field(description=(
        "The target value that is the favorable outcome (credit granted, hired): the positive "
        "class of every metric. Quote text values YAML would read otherwise ('yes', 'no')."))
    favorable_label: str | None = Field(None, max_length=200, description=(
        "What the favorable value means, in words, for the report (\"did not reoffend within "
        "two years\" for two_year_recid = 0); without it the report shows the value alone."))
    id: str | None = Field(None, description=(
        "A column of unique row ids (default: none; the row number is used). Required by "
        "candidates of kind predictions, which are joined on it."))
    features: Literal["auto"] | list[str] = Field("auto", description=(
        "The columns trained models use: 'auto' (default) = every column except the target, "
        "id, validation.groups, protected columns and exclude; or an explicit list (a "
        "protected column listed here is used as a feature, and every output says so)."))
    exclude: list[str] = Field(default_factory=list, description=(
        "Columns never used as features (default: none)."))
    exclude_rows: list[RowFilter] = Field(default_factory=list, description=(
        "Rows to leave out before the audit, each with its reason; every excluded row is "
        "counted with the reason (default: none)."))
    encoding: str = Field("utf-8", description=(
        "The text encoding of a CSV data file (Python's codec names: utf-8, latin-1, cp1252, "
        "utf-16, ...); a UTF-8 byte-order mark is skipped. A file that does not decode is "
        "refused with the byte offset and line of the first byte that does not. Parquet files "
        "are always UTF-8 and ignore it."))
    chunk_rows: int | None = Field(None, ge=1, description=(
        "Read the data in chunks of this many rows and merge per-chunk counts (a "
        "predictions-only audit of data larger than memory: every candidate of kind "
        "predictions, its scores a column of the data). A folder or glob of Parquet files in "
        "data.path is always read this way (default: 1,000,000 rows a chunk); with one file, "
        "only when this is set. Counts, rates, gates and significance equal those of the whole "
        "table; ROC AUC is exact when the files hold at most 10,000,000 rows, else from a fine "
        "score histogram whose largest error results.json states (data.chunked). Each file is "
        "a task on the audit's backend (--jobs, Dask)."))
    proxies: list[str] = Field(default_factory=list, description=(
        "Features known to stand in for a protected attribute (zip_code, first name): always "
        "reported in the proxy screen, whatever their figures. Each must be a feature."))


class ProtectedSpec(Spec):
    """A protected attribute to audit: its groups are compared with each other."""

    column: str = Field(description="The data column holding the attribute.")
    name: str | None = Field(None, description=(
        "A display name for the attribute in every output (default: the column name)."))
    reference: Scalar | None = Field(None, description=(
        "The reference (privileged) group: each group is compared with it (aif360's "
        "convention; the headline is the worst group). Default: none — ratios are the "
        "smallest group rate over the largest and differences the largest minus the smallest "
        "(fairlearn's convention)."))
    bins: list[float] | None = Field(None, description=(
        "Increasing edges that bucket a numeric attribute into groups [a, b); at most "
        f"{MAX_BIN_EDGES} edges."))
    labels: list[str] | None = Field(None, description=(
        "Names of the bins, one per interval (len(bins) - 1); only with bins. Default: the "
        "intervals written as [a, b)."))

    @property
    def display_name(self) -> str:
        return self.name or self.column


class ValidationSpec(Spec):
    """How rows are split into cross-validation folds (every figure is out-of-fold)."""

    scheme: Literal["stratified_group_kfold", "group_kfold", "stratified_kfold",
                    "leave_one_group_out"] = Field("stratified_group_kfold", description=(
        "The fold scheme (scikit-learn's splitters): stratified_group_kfold (default; keeps "
        "the outcome's share per fold and, with groups, each cluster in one fold), "
        "group_kfold and leave_one_group_out (need groups), stratified_kfold (no groups)."))
    folds: int = Field(5, ge=2, description=(
        "Number of folds, 2 or more (default 5); ignored by leave_one_group_out."))
    groups: str | None = Field(None, description=(
        "A cluster column (branch, hospital, household) whose rows always stay in one fold; "
        "the bootstrap then resamples clusters, not rows. Default: none (rows are "
        "independent)."))
    holdout: float | None = Field(None, gt=0, le=0.5, description=(
        "A share of the rows (above 0, at most 0.5) kept out of every fit and every choice "
        "as a final test split, grouped (validation.groups kept whole) and stratified by "
        "outcome like the folds. Cross-validation, the search, mitigation and the ranking use "
        "the other rows; the selected variant (and the runner-up within ranking.tolerance) is "
        "then refitted on all of them and measured once on the holdout, with intervals and "
        "gates, and the verdict is judged on those holdout figures. Default: none (with more "
        "than 10 variants the selected one's figures are then flagged optimistic)."))


CandidateKind = Literal["sklearn", "lightgbm", "saved_model", "predictions", "mlflow"]


class ParamRangeSpec(Spec):
    """A numeric range a search draws a parameter from."""

    low: float = Field(description="The smallest value (inclusive).")
    high: float = Field(description="The largest value (inclusive); above low.")
    log: bool = Field(False, description=(
        "true: draw uniformly on a log scale (low must be above 0), as for learning rates."))
    integer: bool = Field(False, description=(
        "true: whole numbers only (low and high must be whole numbers); e.g. "
        "min_child_samples."))


class SearchSpec(Spec):
    """A search space: the candidate becomes one trial candidate per parameter setting."""

    method: Literal["random", "grid", "optuna"] = Field("random", description=(
        "random (default): trials draws from the space, seeded by the policy's seed; grid: "
        "every combination of the listed values (ranges are not allowed; trials caps the "
        "count, in grid order); optuna: optuna's TPE sampler steered by search.objective "
        "(needs the optional extra: pip install \"fairsel[search]\")."))
    trials: int = Field(20, ge=1, le=1000, description=(
        "How many trials (default 20, at most 1000); each is a candidate named "
        "<name>#NN (gbm#07), cross-validated in the same folds, mitigated, gated and ranked "
        "with every other variant."))
    params: dict[str, list[Any] | ParamRangeSpec] = Field(min_length=1, description=(
        "parameter -> its values: a list of choices ([15, 31, 63]), or a range {low, high, "
        "log, integer}. Names and values are checked like params before any fit (each choice, "
        "and both ends of a range); the candidate's params hold the fixed ones, and a "
        "parameter may not be in both."))
    objective: Literal["performance", "ranking"] = Field("performance", description=(
        "What optuna maximises: performance (default) = ranking.objective on the trial's "
        "pooled out-of-fold predictions; ranking = the ranking's own rule: a trial failing "
        "an error-severity gate scores below every passing one, and among passing ones "
        "within ranking.tolerance of the best the fairer by ranking.fairness_tiebreak wins. "
        "Random and grid search ignore it (every trial is ranked by the ranking anyway)."))
    prune: bool = Field(False, description=(
        "true: a trial whose first folds (half of them, rounded down, at least one) already "
        "miss an error-severity gate by more than prune_margin stops there; it is reported "
        "as pruned (with the gate and figure) and never selected. Default false."))
    prune_margin: float = Field(0.05, ge=0, description=(
        "How far (in the gated metric's units, default 0.05) a trial's figure on its first "
        "folds must lie beyond an error gate's threshold for the trial to be pruned."))


class CandidateSpec(Spec):
    """A model to audit: trained by fairsel in each fold, or made elsewhere."""

    name: str = Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$", description=(
        "A unique name (letters, digits, _ . -); mitigated variants are named after it, e.g. "
        "gbm+reweighing."))
    kind: CandidateKind = Field(description=(
        "sklearn or lightgbm: trained in each fold; saved_model: a model trained elsewhere "
        "(skops, LightGBM text, or a trusted joblib/pickle), evaluated without refitting; "
        "predictions: scores or decisions made elsewhere, joined on data.id; mlflow: an MLflow "
        "pyfunc model (trusted: true)."))
    estimator: str | None = Field(None, description=(
        "kind sklearn only (required there): a registered estimator name "
        "(fairsel list estimators)."))
    params: dict[str, Any] = Field(default_factory=dict, description=(
        "kind sklearn or lightgbm: constructor parameters of the estimator, checked by "
        "scikit-learn's or LightGBM's own validation (default: the library's defaults)."))
    path: str | None = Field(None, description=(
        "kinds saved_model, predictions, mlflow (required there): the model file or folder, or "
        "the predictions file (CSV or Parquet), relative to the policy file."))
    score_column: str | None = Field(None, description=(
        "kind predictions: the column of scores (one of score_column and decision_column is "
        "required)."))
    decision_column: str | None = Field(None, description=(
        "kind predictions: a column of hard decisions, 1 (or true) = the favorable decision "
        "(0 with higher_is_favorable: false); instead of score_column, without threshold. "
        "The 0/1 decisions then also serve as the scores (AUC, Brier score)."))
    higher_is_favorable: bool = Field(True, description=(
        "kind predictions: true (default) when a higher score means the favorable outcome; "
        "the decision is favorable when score >= threshold. false for a risk score (higher = "
        "unfavorable, e.g. a recidivism decile): the decision is favorable when score < "
        "threshold, strictly below (a score equal to the threshold is unfavorable), and the "
        "scores are turned round (1 − score for scores in [0, 1], −score otherwise) so that "
        "AUC and rates read in the favorable direction."))
    threshold: float = Field(0.5, description=(
        "The score at which the decision turns favorable (default 0.5): favorable when score "
        ">= threshold, or score < threshold (strictly) with higher_is_favorable: false. In "
        "the score's own units (for a decile 1–10, e.g. 5). Not with decision_column."))
    trusted: bool = Field(False, description=(
        "kinds saved_model, mlflow: true vouches that loading the file may run code. Required "
        "for joblib/pickle files (with sha256) and for mlflow models; default false."))
    sha256: str | None = Field(None, description=(
        "kind saved_model: the file's expected SHA-256 (hex); required with trusted: true for "
        "joblib/pickle files, which are refused when the digest differs."))
    trusted_types: list[str] = Field(default_factory=list, description=(
        "kind saved_model, skops files: fully qualified type names to load besides skops' "
        "trusted list (default: none; any other type is refused)."))
    search: SearchSpec | None = Field(None, description=(
        "kinds sklearn and lightgbm: a search space; the candidate is replaced by its trials "
        "(<name>#01, <name>#02, ...), each with params plus one setting of the space. "
        "Default: none (the candidate is trained with params alone)."))
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
    "sklearn": {"estimator", "params", "threshold", "score_type", "search"},
    "lightgbm": {"params", "threshold", "score_type", "search"},
    "saved_model": {"path", "threshold", "trusted", "sha256", "trusted_types", "score_type"},
    "predictions": {"path", "score_column", "decision_column", "higher_is_favorable",
                    "threshold", "score_type"},
    "mlflow": {"path", "threshold", "trusted", "score_type"},
}


class MitigationSpec(Spec):
    """A mitigation: adds a mitigated variant of each candidate it applies to."""

    kind: str = Field(description=(
        "A registered mitigation (fairsel list mitigations): reweighing, threshold, "
        "reductions or postprocessing."))
    constraint: Literal["demographic_parity", "equal_opportunity", "equalized_odds"] | None = \
        Field(None, description=(
            "The fairness criterion to equalise (threshold, reductions, postprocessing). "
            "Default: demographic_parity (equalized_odds for postprocessing's "
            "calibrated_equalized_odds)."))
    tolerance: float | None = Field(None, ge=0, description=(
        "threshold and reject_option: the largest gap allowed between group rates of the "
        "constraint, a rate difference ≥ 0 (default 0.05)."))
    epsilon: float | None = Field(None, gt=0, description=(
        "reductions: the bound of fairlearn ExponentiatedGradient's constraint (its eps), "
        "> 0 (default 0.01)."))
    method: str | None = Field(None, description=(
        "postprocessing only (required there): calibrated_equalized_odds or reject_option "
        "(aif360)."))
    candidates: list[str] | None = Field(None, description=(
        "Names of the candidates to mitigate. Default: every candidate the kind can act on "
        "(reweighing and reductions: trained candidates whose estimator takes sample weights; "
        "threshold and postprocessing: every candidate, as they need only scores)."))
    attributes: list[str] | None = Field(None, description=(
        "Protected attributes (display names) whose intersection the mitigation equalises. "
        "Default: every protected attribute (postprocessing: the first)."))
    grid_size: int | None = Field(None, ge=2, le=1000, description=(
        "reject_option: points of its search grid, 2–1000 (default 20)."))


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
    """Confidence intervals of every figure."""

    method: Literal["bootstrap", "none"] = Field("bootstrap", description=(
        "bootstrap (default): intervals from resampling the out-of-fold predictions (clusters "
        "when validation.groups is set); none: no intervals (decision: ci_bound then reads "
        "INSUFFICIENT)."))
    level: float = Field(0.95, gt=0.5, lt=1.0, description=(
        "Confidence level of the intervals, between 0.5 and 1 (default 0.95)."))
    resamples: int = Field(1000, ge=1, le=100_000, description=(
        "Bootstrap replicates, 1–100,000 (default 1000); more give steadier bounds and take "
        "longer."))


class SignificanceSpec(Spec):
    """Significance tests of each group against the reference, with multiple-testing control."""

    test: Literal["auto", "z", "fisher"] = Field("auto", description=(
        "The two-proportion test of each eligible group against the reference (declared, or "
        "the group with the highest rate) in selection rate, TPR and FPR, on the pooled "
        "out-of-fold counts: auto (default) = Fisher's exact test where a cell of the 2×2 "
        "table has an expected count under 5, else the two-sided pooled z-test; z; fisher. "
        "With validation.groups each group's counts are deflated by its design effect (from the "
        "cluster bootstrap) before testing."))
    adjust: Literal["holm", "bh", "none"] = Field("holm", description=(
        "How p-values are adjusted over every variant × attribute × group × rate of the "
        "audit: holm (default; family-wise error rate), bh (Benjamini–Hochberg; false "
        "discovery rate) or none."))
    alpha: float = Field(0.05, gt=0, lt=1, description=(
        "Significance level for the adjusted p-values, between 0 and 1 (default 0.05)."))


class MetricsSpec(Spec):
    """What to measure for every variant (fairsel list metrics gives each name's formula)."""

    performance: list[str] = Field(
        default_factory=lambda: ["roc_auc", "balanced_accuracy", "f1", "brier_score"],
        description=("Performance metrics, measured on all rows and per group (default: "
                     "roc_auc, balanced_accuracy, f1, brier_score)."))
    fairness: list[str] = Field(default_factory=lambda: [
        "disparate_impact", "demographic_parity_difference", "equal_opportunity_difference",
        "equalized_odds_difference"], description=(
        "Fairness metrics, each a disparity of group rates within every protected attribute and "
        "intersection (default: disparate_impact, demographic_parity_difference, "
        "equal_opportunity_difference, equalized_odds_difference)."))
    confidence: ConfidenceSpec = Field(default_factory=ConfidenceSpec, description=(
        "Confidence intervals (default: bootstrap, level 0.95, 1000 resamples)."))
    significance: SignificanceSpec = Field(default_factory=SignificanceSpec, description=(
        "Significance tests of group differences (default: test auto, adjust holm, alpha "
        "0.05)."))


class GateSpec(Spec):
    """A threshold a variant must meet; min, max or both."""

    metric: str = Field(description=(
        "A metric name (fairsel list metrics). A fairness gate is judged on each protected "
        "attribute and intersection, the variant's figure being the worst of them."))
    min: float | None = Field(None, description=(
        "The figure must be ≥ min (a value exactly at min passes), e.g. 0.8 for "
        "disparate_impact (the four-fifths rule). Default: none."))
    max: float | None = Field(None, description=(
        "The figure must be ≤ max (a value exactly at max passes), e.g. 0.1 for a difference. "
        "Default: none."))
    severity: Literal["error", "warn"] = Field("error", description=(
        "error (default): a variant failing it cannot be selected and the audit exits 1 when "
        "none passes; warn: reported as WARN, exit 1 only with --fail-on warn."))
    attributes: list[str] | None = Field(None, description=(
        "Fairness gates: judge only these attributes or intersections (display names; an "
        "intersection written 'sex × age'). Default: every attribute and intersection."))
    require_significance: bool = Field(False, description=(
        "Fairness gates on selection rate, TPR/FNR or FPR/TNR: true = a missed threshold "
        "FAILs only when the difference behind it is also significant after adjustment "
        "(metrics.significance; the EEOC practice of pairing the four-fifths rule with a "
        "statistical test); a miss that is not significant reads WARN with 'not "
        "significant'. Default false: the threshold alone decides."))
    relative_to_overall: bool = Field(False, description=(
        "Performance gates on a group rate (balanced_accuracy, accuracy, tpr, ...): true = "
        "judge every group's value divided by the variant's overall value, on each attribute "
        "and intersection (or those in attributes), instead of the overall value; the worst "
        "group decides. min: 0.95 with balanced_accuracy reads 'every group's balanced "
        "accuracy ≥ 0.95 × the overall'. A group whose rate rests on fewer than "
        "min_group_size people is left out. Default false."))


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
    max_rows: int = Field(20_000, ge=100, description=(
        "Rows the all-features model is cross-validated on, drawn with the seed when the data "
        "has more (the one-feature figures use every row)."))
    bins: int = Field(10, ge=2, le=100, description="Quantile bins of a numeric feature.")
    exclude_flagged: bool = Field(False, description=(
        "true: add a variant of each trainable candidate trained without the features the "
        "screen flags (named '<candidate>+no_proxies', ranked with the others: the less "
        "discriminatory alternative a lending reviewer asks for; its proxy_feature_auc gate "
        "leaves those features out). Default false. Nothing is added when no feature is "
        "flagged."))


class SlicesSpec(Spec):
    """Worst-slice discovery: conjunctions of feature conditions where a variant fails."""

    depth: int = Field(2, ge=1, le=3, description=(
        "The most conditions a slice combines, 1 to 3 (default 2: every pair of features)."))
    bins: int = Field(5, ge=2, le=20, description=(
        "Quantile bins of a numeric feature (default 5); missing values are a level of their "
        "own."))
    min_support: float = Field(0.01, ge=0, lt=1, description=(
        "The smallest share of the rows a slice must hold (default 0.01); min_rows applies "
        "too."))
    min_rows: int = Field(30, ge=1, description=(
        "The fewest rows a slice must hold (default 30), whatever min_support says."))
    metrics: list[Literal["error_rate", "fnr", "fpr", "selection_rate"]] = Field(
        default_factory=lambda: ["error_rate", "fnr", "fpr", "selection_rate"], min_length=1,
        description=("The rates each slice is compared on with the rest of the data (default: "
                     "error_rate, fnr, fpr, selection_rate); the first heads the report and "
                     "summary.md."))
    top: int = Field(10, ge=1, le=100, description=(
        "Slices reported per variant and metric, the largest significant detriment first "
        "(default 10)."))
    alpha: float = Field(0.05, gt=0, lt=1, description=(
        "Level of the Benjamini–Hochberg adjusted p-values, over every slice × metric tested "
        "for a variant (default 0.05)."))
    variants: int = Field(3, ge=1, le=20, description=(
        "How many variants are analysed: the selected one (or the first of the ranking) and "
        "the next ones of the ranking, this many in all (default 3)."))


class ExplainSpec(Spec):
    """SHAP explanations out of fold: which features drive each variant's scores and gaps."""

    variants: int = Field(3, ge=0, le=20, description=(
        "How many of the ranking's best variants are explained (default 3); the selected "
        "one always is, first (0: the selected one only)."))
    rows: int = Field(2000, ge=10, le=200_000, description=(
        "The most rows explained per variant, in all folds together (default 2,000), drawn "
        "with the seed, stratified by fold and protected group so that small groups are "
        "represented; each row is explained by the model of the fold it was a test row of."))


class RankingSpec(Spec):
    """How passing variants are ordered and one is selected."""

    objective: str = Field("roc_auc", description=(
        "The performance metric to optimise (default roc_auc), in its better direction."))
    tolerance: float = Field(0.01, ge=0, description=(
        "Among passing variants within this distance of the best objective value (in the "
        "metric's units, default 0.01), the fairest is selected."))
    fairness_tiebreak: str = Field("disparate_impact", description=(
        "The fairness metric that chooses among variants within tolerance (default "
        "disparate_impact), in its fairer direction."))


class SignoffSpec(Spec):
    """A sign-off line of the report's document control page."""

    role: str = Field(description="The signatory's role (e.g. Model owner, Approver).")
    name: str | None = Field(None, description="The signatory's name (default: left blank "
                                               "to fill in).")


class ReportSpec(Spec):
    """The outputs and the HTML/PDF report."""

    title: str | None = Field(None, description="The report's title (default: the policy's "
                                                "name).")
    output: str | None = Field(None, description=(
        "The output folder, relative to the policy file (default: reports/<name> in the "
        "current folder); --output overrides it."))
    formats: list[str] = Field(default_factory=lambda: ["html", "pdf", "json", "junit",
                                                         "markdown"], description=(
        "Outputs to write (fairsel list formats; default: html, pdf, json, junit, markdown); "
        "results.json and leaderboard.csv are always written. --format overrides it."))
    paper: Literal["A4", "Letter"] = Field("A4", description="The PDF's paper size: A4 "
                                                             "(default) or Letter.")
    organisation: str | None = Field(None, description="The organisation named on the cover "
                                                       "(default: none).")
    system: str | None = Field(None, description="The system or decision audited, named on "
                                                 "the cover (default: none).")
    # model-card fields: shown on the cover only when set
    intended_use: str | None = Field(None, description=(
        "What the model is for and who uses its decisions (a model card's intended use), "
        "shown on the cover (default: none, not shown)."))
    out_of_scope: str | None = Field(None, description=(
        "Uses the model is not meant or validated for (out-of-scope uses), shown on the "
        "cover (default: none, not shown)."))
    owner: str | None = Field(None, description=(
        "The person or team accountable for the model (the model owner), shown on the cover "
        "(default: none, not shown; the sign-off blocks are separate)."))
    data_period: str | None = Field(None, description=(
        "The period the audited data covers, in free text (e.g. \"loans applied for in "
        "2023-01 to 2024-06\"), shown on the cover (default: none, not shown)."))
    limitations: list[Annotated[str, Field(min_length=1, max_length=1000)]] = Field(
        default_factory=list, max_length=20, description=(
            "Limitations the policy's author knows of and the audit cannot see in the data "
            "(how a protected attribute was recorded, how the rows were sampled), each a "
            "sentence or two, shown first in the report's Limitations section under \"Stated "
            "by the policy\" (default: none)."))
    signoff: list[SignoffSpec] = Field(default_factory=list, description=(
        "Sign-off blocks of the report's document control page, one per signatory. Default: "
        "blocks for the usual roles (Model owner, Independent validator, Approver)."))
    leaderboard_top: int = Field(20, ge=1, description=(
        "How many variants the report's leaderboard lists, best ranked first (default 20); "
        "the rest are summarised in one line (counts by status, pruned trials, the range of "
        "the objective). leaderboard.csv and results.json always hold every variant."))
    templates: str | None = Field(None, description=(
        "A folder of report templates whose files replace the shipped ones (e.g. "
        "_cover.html.j2, report.css); rendered in Jinja2's sandbox. Default: the shipped "
        "templates."))


class ComplianceInfoSpec(Spec):
    """Facts a regulator's summary states that the data cannot tell (compliance templates)."""

    audit_date: str | None = Field(None, max_length=100, description=(
        "The date of the bias audit (e.g. 2026-12-07), stated in the hiring_ll144 summary. "
        "Default: the date the audit ran."))
    data_source: str | None = Field(None, max_length=500, description=(
        "Where the audited data comes from (the employer's applicants, a vendor's pooled "
        "data, test data), in words. Default: the data file's name."))
    data_period: str | None = Field(None, max_length=200, description=(
        "The period the data covers (e.g. 2025-01-01 to 2025-12-31). Default: not stated."))
    data_kind: Literal["historical", "test"] | None = Field(None, description=(
        "Whether the audited data is historical or test data; the compliance section of every "
        "template states it. historical: under hiring_ll144, data from the tool's real use; "
        "under lending and generic, past applications and their recorded outcomes. test: "
        "data gathered or made for the audit, with test_data_reason saying why; NYC Local Law "
        "144 (hiring_ll144) accepts it only where historical data is insufficient. Default: "
        "not stated."))
    test_data_reason: str | None = Field(None, max_length=500, description=(
        "With data_kind: test, why historical data was not used. Default: none."))
    distribution_date: str | None = Field(None, max_length=100, description=(
        "The date the tool was first distributed or used (LL144's distribution date). "
        "Default: not stated."))
    tool: str | None = Field(None, max_length=200, description=(
        "The automated employment decision tool's name, as the summary names it. Default: "
        "report.system, else the selected variant's name."))


class ExecutionSpec(Spec):
    """Where the (candidate, variant, fold) grid runs; --backend and --scheduler override it."""

    backend: Literal["local", "dask"] = Field("local", description=(
        "local (default): in fairsel's process, or --jobs N worker processes (at most one per "
        "core); dask: every (candidate, fold) fit-and-score is a Dask task (needs "
        "pip install 'fairsel[dask]'). The same policy and seed give the same results.json "
        "on either."))
    address: str | None = Field(None, description=(
        "The Dask scheduler's address (tcp://host:8786) with backend dask; none or 'local' "
        "(default) starts a local cluster sized to the machine (one single-threaded worker "
        "per core) and closes it at the end. The workers must have fairsel installed."))


class CompareSpec(Spec):
    """Allowances for ``fairsel compare``; with none set, fairsel's documented defaults apply."""

    max_drop: dict[str, float] = Field(default_factory=dict, description=(
        "metric -> the largest drop allowed (baseline − candidate, in the metric's units), "
        "for metrics where higher is better (roc_auc, disparate_impact). With neither "
        "max_drop nor max_increase set: 0.01 for performance and 0.02 for fairness metrics."))
    max_increase: dict[str, float] = Field(default_factory=dict, description=(
        "metric -> the largest increase allowed (candidate − baseline), for metrics where "
        "lower is better (equal_opportunity_difference, brier_score)."))
    judge: Literal["point", "uncertainty"] = Field(
        "point", description="point: a change beyond its allowance fails; uncertainty: it fails "
        "only when the whole interval of the change lies beyond the allowance, else warns")


class Policy(Spec):
    """A validated policy file (version 1). Paths are relative to the file itself."""

    version: Literal[1] = Field(description="The policy format's version: 1 (required).")
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$", description=(
        "Names the run and its outputs (letters, digits, _ . -; default output folder "
        "reports/<name>)."))
    description: str | None = Field(None, description="What the audit is for, shown in the "
                                                       "report (default: none).")
    # numpy and scikit-learn refuse other seeds
    seed: int = Field(0, ge=0, le=2**32 - 1, description=(
        "The seed of every random choice (folds, models, bootstrap), 0 to 2^32 − 1 (default "
        "0): the same inputs and seed give the same results.json."))
    data: DataSpec = Field(description="The data to audit.")
    protected: list[ProtectedSpec] = Field(min_length=1, description=(
        "The protected attributes to audit (at least one)."))
    intersections: bool | int = Field(True, description=(
        "Which combinations of the protected attributes to audit besides each attribute: true "
        "= every combination, false = none, N (2 or more) = combinations of up to N attributes "
        "(2 = pairs). An audit measures at most "
        f"{MAX_GROUPS:,} groups (attributes plus intersection cells found in the data); above "
        "that it stops with an error."))
    min_group_size: int = Field(30, ge=1, description=(
        "The fewest people a group's rate may rest on to enter a disparity, gate, headline or "
        "finding (default 30). It counts each rate's denominator: rows for the selection "
        "rate, actual positives for TPR/FNR, actual negatives for FPR/TNR, predicted "
        "positives for precision. A smaller rate is still reported with its fraction (2/22); "
        "an attribute left with fewer than two eligible rates reads INSUFFICIENT."))
    validation: ValidationSpec = Field(default_factory=ValidationSpec, description=(
        "Cross-validation (default: stratified_group_kfold, 5 folds, no cluster column)."))
    candidates: list[CandidateSpec] = Field(min_length=1, description=(
        "The models to audit (at least one)."))
    mitigation: list[MitigationSpec] = Field(default_factory=list, description=(
        "Mitigations, each adding a variant of the candidates it applies to, ranked with the "
        "others (default: none)."))
    mitigation_policy: MitigationPolicySpec = Field(
        default_factory=MitigationPolicySpec, description=(
            "Which mitigated variants may be selected (default: none that decides using the "
            "protected attribute)."))
    metrics: MetricsSpec = Field(default_factory=MetricsSpec, description=(
        "The metrics to measure and their confidence intervals."))
    gates: list[GateSpec] = Field(default_factory=list, description=(
        "Thresholds every variant is judged against (default: none; every variant passes)."))
    decision: Literal["point", "ci_bound"] = Field("point", description=(
        "How a gate is judged: point (default) on the estimate; ci_bound on its interval — a "
        "min gate on the lower bound, a max gate on the upper bound, so a variant passes only "
        "when the evidence shows it complies."))
    ranking: RankingSpec = Field(default_factory=RankingSpec, description=(
        "How the selected variant is chosen among those passing every error gate."))
    report: ReportSpec = Field(default_factory=ReportSpec, description="Outputs and report "
                                                                       "settings.")
    compare: CompareSpec = Field(default_factory=CompareSpec, description=(
        "Allowances of fairsel compare when this policy is given to it (default: 0.01 for "
        "performance and 0.02 for fairness metrics, judged on the point change)."))
    compliance: Literal["generic", "lending", "hiring_ll144"] | None = Field(None, description=(
        "A regulatory template (fairsel list compliance): default gates and metrics, refusals "
        "and a section of its own in the report. generic: demographic_parity_ratio ≥ 0.8, "
        "equal_opportunity_difference and equalized_odds_difference ≤ 0.10, every group's "
        "balanced accuracy ≥ 0.95 × overall. lending (ECOA / Regulation B adverse-impact "
        "review): disparate_impact ≥ 0.8 with require_significance, adverse impact ratios "
        "with the four-fifths indicator and their tests, the less-discriminatory-alternative "
        "table; protected attributes as features and group-specific decisions are refused. "
        "hiring_ll144 (NYC Local Law 144 bias audit summary): impact ratios (and scoring-rate "
        "impact ratios for scores) by each protected attribute (sex, race/ethnicity) and their "
        "intersection, unknown categories counted, categories under 2% of the data excluded "
        "from the ratios; disparate_impact ≥ 0.8 as a warning; group-specific thresholds are "
        "refused. A gate the policy writes on a metric replaces the template's gate on that "
        "metric, and metrics.fairness written in the policy replaces the template's list. "
        "Default: none (no template)."))
    compliance_info: ComplianceInfoSpec = Field(
        default_factory=ComplianceInfoSpec, description=(
            "Audit date, data source and period, historical or test data, distribution date: "
            "stated in the compliance section (the hiring_ll144 summary states each, or says "
            "it is not stated)."))
    proxies: ProxiesSpec | bool = Field(default_factory=ProxiesSpec, description=(
        "The proxy screen (on by default): per protected attribute, each feature's normalised "
        "mutual information and one-feature AUC, and the cross-validated AUC of a model of all "
        "features; the bounds become gates named proxy_feature_auc and proxy_all_auc. false "
        "turns it off; true takes the defaults."))
    slices: SlicesSpec | bool = Field(default_factory=SlicesSpec, description=(
        "Worst-slice discovery (on by default): over every feature and protected attribute, "
        "each conjunction of up to depth conditions (a category or a quantile bin) with "
        "enough rows is compared with the rest in error rate, FNR, FPR and selection rate, "
        "with an interval and a test (Benjamini–Hochberg over every test); the worst "
        "significant slices are reported for the selected variant and the next of the "
        "ranking. false turns it off; true takes the defaults."))

    execution: ExecutionSpec = Field(default_factory=ExecutionSpec, description=(
        "Where the audit's fits run (default: the local backend); not recorded in "
        "results.json, whose figures are the same on every backend."))

    explain: ExplainSpec | bool = Field(default_factory=ExplainSpec, description=(
        "SHAP explanations (on by default): for the selected variant and the best-ranked "
        "others, each fold's model explains a sample of that fold's test rows; the report "
        "shows global importance, per-group contributions, the gap between groups decomposed "
        "per feature, and the main reasons of unfavorable decisions. false turns it off; true "
        "takes the defaults."))

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
    def slice_search(self) -> SlicesSpec | None:
        """Worst-slice discovery's settings, or None when ``slices: false``."""
        if self.slices is True:
            return SlicesSpec()
        return self.slices or None

    @property
    def explain_settings(self) -> ExplainSpec | None:
        """The explanations' settings, or None when ``explain: false``."""
        if self.explain is True:
            return ExplainSpec()
        return self.explain or None

    @property
    def title(self) -> str:
        return self.report.title or self.name

    def output_dir(self) -> Path:
        """``report.output``, or ``reports/<name>`` in the current folder."""
        return self.resolve(self.report.output) if self.report.output else Path("reports") / self.name
