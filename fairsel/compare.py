"""The promotion gate between model versions: compare two audits' results.

``compare(baseline, candidate, allowances)`` lines up one variant of each
:class:`~fairsel.results.AuditResult` (by default each audit's selected variant) and, for every
performance metric and every fairness headline both measured, reports the change.

Same data first. Two audits are comparable only when they measured the same thing: the same
target, favorable value, protected attributes (columns, bins, labels, reference, intersections)
and the same data (sha256). Any difference is a :class:`~fairsel.errors.UsageError` (exit 2)
naming each one, baseline value vs candidate value, unless ``allow_different_data`` is set (the
CLI's ``--allow-different-data``); then the comparison is made and every output says so. A new
month of data is different data: its figures mix the model's change with the data's.

Allowances. A metric named in the policy's ``compare`` section is judged against its allowance:

* ``max_drop: {m: a}`` — the regression is ``r = baseline − candidate`` (for metrics where
  higher is better, e.g. ``roc_auc``, ``disparate_impact``);
* ``max_increase: {m: a}`` — ``r = candidate − baseline`` (for metrics where lower is better,
  e.g. ``equal_opportunity_difference``, ``brier_score``).

When the section sets no allowance at all, :data:`DEFAULT_ALLOWANCE` applies to every metric
both audits measured (0.01 for performance, 0.02 for fairness, in each metric's worse
direction), so a compare step always gates something; the outputs say the defaults applied.

Judging (``compare.judge``):

* ``point`` (default) — FAIL when ``r > a``: a regression beyond the allowance fails.
* ``uncertainty`` — when both results carry confidence intervals at level ``L``, each is
  turned into a standard error, ``se = (upper − lower) / (2·z)`` with ``z = Φ⁻¹((1 + L)/2)``,
  and the change gets the interval ``r ± z·√(se_b² + se_c²)`` (the two audits treated as
  independent samples, which widens it when both scored the same rows). FAIL when the whole
  interval lies above the allowance (``r − z·se > a``); WARN when the point change exceeds the
  allowance but the interval reaches back within it (``--fail-on warn`` makes this fail too);
  PASS when ``r ≤ a``. Without intervals the point change decides.

A gated metric that either result could not compute (``None``) FAILs: the gate cannot be shown
to hold. A metric neither result measured is a usage error.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from fairsel.errors import PolicyError, UsageError, did_you_mean
from fairsel.metrics import FAIRNESS_NAMES, METRICS
from fairsel.policy.schema import CompareSpec
from fairsel.results import AuditResult, VariantResult

ChangeStatus = Literal["PASS", "WARN", "FAIL", "NOT_GATED"]
EPS = 1e-12  # float noise: a change equal to its allowance passes

#: The allowance per metric family when the policy's ``compare`` section sets none: every
#: metric both audits measured may worsen by this much (a drop where higher is better, an
#: increase where lower is better).
DEFAULT_ALLOWANCE: dict[str, float] = {"performance": 0.01, "fairness": 0.02}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MetricChange(_Frozen):
    """One metric of the two compared variants."""

    metric: str
    family: Literal["performance", "fairness"]
    higher_is_better: bool
    baseline: float | None
    candidate: float | None
    change: float | None  # candidate − baseline
    baseline_ci: tuple[float | None, float | None] | None = None
    candidate_ci: tuple[float | None, float | None] | None = None
    rule: Literal["max_drop", "max_increase"] | None = None
    allowance: float | None = None
    regression: float | None = None  # in the rule's direction: > 0 is worse
    regression_ci: tuple[float, float] | None = None
    status: ChangeStatus
    message: str


class Comparison(_Frozen):
    """Every metric change between a baseline variant and a candidate variant."""

    baseline: str
    baseline_variant: str
    candidate: str
    candidate_variant: str
    allowances_from: str
    default_allowances: bool = False  # the policy set none: DEFAULT_ALLOWANCE applied
    judge: Literal["point", "uncertainty"] = "point"
    level: float | None
    status: Literal["PASS", "WARN", "FAIL"]
    changes: list[MetricChange]
    allow_different_data: bool = False  # --allow-different-data was given
    differences: list[str] = Field(default_factory=list)  # what the two audits measured apart
    notes: list[str] = Field(default_factory=list)

    def exit_code(self, fail_on: str = "error") -> int:
        """0 or 1: 1 when a change FAILs (or, with ``fail_on="warn"``, WARNs)."""
        if self.status == "FAIL" or (fail_on == "warn" and self.status == "WARN"):
            return 1
        return 0


def check_allowances(spec: CompareSpec, *, where: str) -> None:
    """Unknown metrics, and rules that point the wrong way, are a PolicyError (exit 2)."""
    problems = []
    for rule, table in (("max_drop", spec.max_drop), ("max_increase", spec.max_increase)):
        for name, allowance in table.items():
            key = f"{where}compare → {rule} → {name}"
            if name not in METRICS:
                problems.append(f"{key}: {METRICS.unknown_message(name)}")
                continue
            if allowance < 0 or not math.isfinite(allowance):
                problems.append(f"{key}: expected an allowance ≥ 0, found {allowance}")
            hib = METRICS.get(name).higher_is_better
            if rule == "max_drop" and not hib:
                problems.append(f"{key}: lower is better for {name}, so a drop is an "
                                f"improvement; use max_increase: {{{name}: {allowance:g}}}")
            if rule == "max_increase" and hib:
                problems.append(f"{key}: higher is better for {name}, so an increase is an "
                                f"improvement; use max_drop: {{{name}: {allowance:g}}}")
    if problems:
        raise PolicyError("\n".join(problems))


def data_differences(baseline: AuditResult, candidate: AuditResult) -> list[str]:
    """What makes two audits' figures incomparable, each as "key: baseline X vs candidate Y".

    The target, the favorable value, the protected attributes (columns; for each column its
    bins, labels and reference; intersections) and the data file's sha256.
    """
    out: list[str] = []

    def differ(key: str, b: object, c: object) -> None:
        if b != c:
            out.append(f"{key}: baseline {b!r} vs candidate {c!r}")

    differ("data → target", baseline.data.target, candidate.data.target)
    differ("data → favorable", baseline.data.favorable, candidate.data.favorable)
    pb = {p["column"]: p for p in baseline.policy.get("protected", [])}
    pc = {p["column"]: p for p in candidate.policy.get("protected", [])}
    if sorted(pb) != sorted(pc):
        out.append(f"protected columns: baseline {sorted(pb)} vs candidate {sorted(pc)}")
    for col in (c for c in pb if c in pc):
        for key in ("bins", "labels", "reference"):
            differ(f"protected '{col}' → {key}", pb[col].get(key), pc[col].get(key))
    differ("intersections", baseline.policy.get("intersections"),
           candidate.policy.get("intersections"))
    differ("data sha256", baseline.provenance.data_sha256, candidate.provenance.data_sha256)
    return out


def _refuse_different(diffs: list[str], sources: tuple[str, str]) -> UsageError:
    return UsageError(
        f"{sources[0]} and {sources[1]} are audits of different data, so their changes would "
        "mix the model's with the data's:\n" + "\n".join(f"  - {d}" for d in diffs)
        + "\nCompare audits of the same data, target and protected attributes; to compare "
          "anyway (e.g. a new month of data), pass --allow-different-data, and every output "
          "will say so")


def pick_variant(result: AuditResult, name: str | None, *, which: str) -> tuple[VariantResult, str | None]:
    """The variant to compare: ``name``, else the selected one, else the best-ranked one."""
    if name is not None:
        names = [v.name for v in result.variants]
        if name not in names:
            raise UsageError(f"--{which}-variant: no variant '{name}' in the {which} results"
                             f"{did_you_mean(name, names)}; its variants are: {', '.join(names)}")
        return result.variant(name), None
    if result.ranking.selected:
        return result.variant(result.ranking.selected), None
    usable = [n for n in result.ranking.order if result.variant(n).status != "ERROR"]
    if not usable:
        raise UsageError(f"the {which} results have no variant that could be evaluated; "
                         f"name one with --{which}-variant")
    return result.variant(usable[0]), (f"the {which} audit selected no variant (verdict "
                                       f"{result.verdict.status}); its best-ranked variant "
                                       f"'{usable[0]}' is compared")


def _se(ci, z: float) -> float | None:
    if ci is None or ci[0] is None or ci[1] is None or z <= 0:
        return None
    return max(float(ci[1]) - float(ci[0]), 0.0) / (2.0 * z)


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4g}"


def _judge(metric: str, family: str, hib: bool, b, c, rule: str | None, allowance: float | None,
           z: float | None, judge: str = "point") -> MetricChange:
    bv = b.value if b is not None else None
    cv = c.value if c is not None else None
    b_ci = b.ci if b is not None else None
    c_ci = c.ci if c is not None else None
    change = (cv - bv) if bv is not None and cv is not None else None
    common = dict(metric=metric, family=family, higher_is_better=hib, baseline=bv, candidate=cv,
                  change=change, baseline_ci=b_ci, candidate_ci=c_ci, rule=rule,
                  allowance=allowance)
    if rule is None:
        return MetricChange(**common, status="NOT_GATED",
                            message=f"{metric}: {_fmt(bv)} → {_fmt(cv)} (no allowance set)")
    if change is None:
        missing = "baseline" if bv is None else "candidate"
        return MetricChange(**common, status="FAIL",
                            message=f"{metric}: the {missing} has no value (not computable), so "
                                    f"the {rule} of {allowance:g} cannot be shown to hold")
    reg = -change if rule == "max_drop" else change
    word = "drop" if rule == "max_drop" else "increase"
    se_b, se_c = (_se(b_ci, z), _se(c_ci, z)) if z is not None else (None, None)
    reg_ci = None
    if se_b is not None and se_c is not None:
        half = z * math.sqrt(se_b ** 2 + se_c ** 2)  # type: ignore[operator]
        reg_ci = (reg - half, reg + half)
    base_msg = (f"{metric}: {_fmt(bv)} → {_fmt(cv)}, {word} {_fmt(reg)}"
                + (f" (interval {_fmt(reg_ci[0])} to {_fmt(reg_ci[1])})" if reg_ci else "")
                + f"; allowed {word} {allowance:g}")
    reaches_back = reg_ci is not None and reg_ci[0] <= allowance + EPS
    if reg <= allowance + EPS:
        status: ChangeStatus = "PASS"
        msg = base_msg
    elif judge == "uncertainty" and reaches_back:
        status = "WARN"
        msg = base_msg + "; exceeded at the point estimate, but within the uncertainty"
    else:
        status = "FAIL"
        msg = base_msg + "; regression beyond the allowance"
        if reg_ci is not None and judge == "uncertainty":
            msg += " (the whole interval)"
        elif reaches_back:
            msg += (" (judged on the point estimate; the interval reaches back within the "
                    "allowance: compare → judge: uncertainty judges on the interval)")
    return MetricChange(**common, regression=reg, regression_ci=reg_ci, status=status,
                        message=msg)


def compare(baseline: AuditResult, candidate: AuditResult, allowances: CompareSpec, *,
            allowances_from: str = "policy", baseline_variant: str | None = None,
            candidate_variant: str | None = None, allow_different_data: bool = False,
            sources: tuple[str, str] = ("the baseline", "the candidate")) -> Comparison:
    """Compare the candidate's variant with the baseline's, metric by metric.

    Parameters
    ----------
    baseline, candidate
        Results of the version in production and of the new version.
    allowances
        The policy's ``compare`` section (``max_drop``, ``max_increase``, ``judge``); with no
        allowance set, :data:`DEFAULT_ALLOWANCE` applies to every metric both measured.
    allowances_from
        Where the allowances were read (shown in the output).
    baseline_variant, candidate_variant
        Variants to compare (default: each audit's selected variant).
    allow_different_data
        Compare even when :func:`data_differences` finds differences (they are listed in the
        result and its outputs).
    sources
        How to name the two results in messages (their paths).

    Raises
    ------
    PolicyError
        An allowance names an unknown metric or points the wrong way.
    UsageError
        The audits measured different data, target or attributes (without
        ``allow_different_data``), a named variant does not exist, or a gated metric was
        measured by neither audit.
    """
    check_allowances(allowances, where=f"{allowances_from}: ")
    diffs = data_differences(baseline, candidate)
    if diffs and not allow_different_data:
        raise _refuse_different(diffs, sources)
    bv, note_b = pick_variant(baseline, baseline_variant, which="baseline")
    cv, note_c = pick_variant(candidate, candidate_variant, which="candidate")
    notes = [n for n in (note_b, note_c) if n]
    for which, v in (("baseline", bv), ("candidate", cv)):
        if v.status == "ERROR":
            notes.append(f"the {which} variant '{v.name}' could not be evaluated (status ERROR)")
    lb = baseline.confidence.get("level") if baseline.confidence.get("method") != "none" else None
    lc = candidate.confidence.get("level") if candidate.confidence.get("method") != "none" else None
    level = min(lb, lc) if lb is not None and lc is not None else None
    if lb is not None and lc is not None and lb != lc:
        notes.append(f"the audits' confidence levels differ ({lb} and {lc}); the lower, {level}, "
                     "is used")
    z = NormalDist().inv_cdf((1 + level) / 2) if level is not None else None

    rules: dict[str, tuple[str, float]] = {}
    for m, a in allowances.max_drop.items():
        rules[m] = ("max_drop", a)
    for m, a in allowances.max_increase.items():
        rules[m] = ("max_increase", a)
    defaults = not rules

    # the metrics the audits' policies asked for (the engine may compute more), then any
    # other metric an allowance names
    names: list[tuple[str, str]] = []
    for family in ("performance", "fairness"):
        have = set(getattr(bv, family)) & set(getattr(cv, family))
        listed = candidate.metrics.get(family, []) + baseline.metrics.get(family, [])
        for m in dict.fromkeys([*listed, *(m for m in rules if m in have)]):
            if m in have:
                names.append((m, family))
    measured = {m for m, _ in names}
    unmeasured = [m for m in rules if m not in measured]
    if unmeasured:
        raise UsageError(f"{allowances_from}: compare sets an allowance for "
                         f"{', '.join(unmeasured)}, which the two audits did not both measure "
                         "(add it to metrics → performance or metrics → fairness in the audit "
                         "policy)")
    changes = []
    for m, family in names:
        hib = METRICS.get(m).higher_is_better if m in METRICS else (m not in FAIRNESS_NAMES)
        src_b = bv.performance if family == "performance" else bv.fairness
        src_c = cv.performance if family == "performance" else cv.fairness
        if defaults:
            rules[m] = ("max_drop" if hib else "max_increase", DEFAULT_ALLOWANCE[family])
        rule, allowance = rules.get(m, (None, None))
        changes.append(_judge(m, family, hib, src_b.get(m), src_c.get(m), rule, allowance, z,
                              allowances.judge))
    changes.sort(key=lambda ch: (ch.rule is None, 0))  # gated metrics first, stable otherwise
    statuses = {ch.status for ch in changes}
    status = "FAIL" if "FAIL" in statuses else "WARN" if "WARN" in statuses else "PASS"
    if defaults:
        allowances_from = (f"fairsel's defaults ({allowances_from} sets no compare allowance): "
                           + ", ".join(f"{fam} {a:g}" for fam, a in DEFAULT_ALLOWANCE.items())
                           + " for every metric both audits measured")
    return Comparison(baseline=baseline.name, baseline_variant=bv.name, candidate=candidate.name,
                      candidate_variant=cv.name, allowances_from=allowances_from,
                      default_allowances=defaults, judge=allowances.judge, level=level,
                      status=status, changes=changes, allow_different_data=allow_different_data,
                      differences=diffs, notes=notes)


def different_data_line(cmp: Comparison) -> str | None:
    """The statement every output carries when ``--allow-different-data`` was given."""
    if not cmp.allow_different_data:
        return None
    if not cmp.differences:
        return ("compared with --allow-different-data; the two audits measured the same data, "
                "target and protected attributes")
    return ("compared with --allow-different-data: the two audits differ in "
            + "; ".join(cmp.differences) + ". Changes mix the model's with the data's")


def allowances_of(result: AuditResult) -> CompareSpec:
    """The ``compare`` section of the policy a results.json was made with."""
    return CompareSpec.model_validate(result.policy.get("compare") or {})


def _md(text: object) -> str:
    s = str(text)
    for ch in "\\|`*_<>[]":
        s = s.replace(ch, "\\" + ch)
    return s


def _code(text: str) -> str:
    return "`" + str(text).replace("`", "'") + "`"


def _cell(value: float | None, ci) -> str:
    if value is None:
        return "n/a"
    if ci is not None and ci[0] is not None and ci[1] is not None:
        return f"{value:.4f} ({ci[0]:.4f}–{ci[1]:.4f})"
    return f"{value:.4f}"


def comparison_markdown(cmp: Comparison) -> str:
    """The comparison as Markdown: verdict, then one table row per metric."""
    icon = {"PASS": "✅", "WARN": "⚠️", "FAIL": "❌", "NOT_GATED": ""}
    lines = [f"## fairsel compare: {_md(cmp.candidate)} vs {_md(cmp.baseline)}", ""]
    different = different_data_line(cmp)
    if different:
        lines += [f"⚠️ **{_md(different)}**", ""]
    judged = ("judged on the point estimate" if cmp.judge == "point"
              else "judged on the interval of each change (compare → judge: uncertainty)")
    lines += [f"**{cmp.status}** {icon[cmp.status]} — candidate {_code(cmp.candidate_variant)} "
              f"against baseline {_code(cmp.baseline_variant)}; allowances from "
              f"{_md(cmp.allowances_from)}; {judged}"
              + (f"; intervals at {cmp.level:g}" if cmp.level is not None else ""), ""]
    lines += ["| metric | baseline | candidate | change | allowed | status |",
              "|---|---:|---:|---:|---|---|"]
    for ch in cmp.changes:
        change = "n/a" if ch.change is None else f"{ch.change:+.4f}"
        allowed = "—" if ch.rule is None else (
            f"drop ≤ {ch.allowance:g}" if ch.rule == "max_drop" else f"increase ≤ {ch.allowance:g}")
        status = "" if ch.status == "NOT_GATED" else f"{icon[ch.status]} {ch.status}"
        lines.append(f"| {_code(ch.metric)} | {_cell(ch.baseline, ch.baseline_ci)} | "
                     f"{_cell(ch.candidate, ch.candidate_ci)} | {change} | {allowed} | {status} |")
    bad = [ch for ch in cmp.changes if ch.status in ("FAIL", "WARN")]
    if bad:
        lines += [""] + [f"- {ch.status}: {_md(ch.message)}" for ch in bad]
    if cmp.notes:
        lines += ["", "Notes:", ""] + [f"- {_md(n)}" for n in cmp.notes]
    return "\n".join(lines) + "\n"


__all__ = ["DEFAULT_ALLOWANCE", "Comparison", "MetricChange", "allowances_of",
           "check_allowances", "compare", "comparison_markdown", "data_differences",
           "different_data_line"]
