"""The "Limitations and assumptions" section's view model (``_limitations.html.j2``).
"""

from __future__ import annotations

from fairsel.report.facts import allows_group_specific_decisions, small_rate_examples
from fairsel.report.fmt import named_and_left
from fairsel.report.section import SectionView
from fairsel.report.tables import leaderboard_columns
from fairsel.results import AuditResult


def limitations_view(result: AuditResult) -> list[dict[str, str]]:
    d = result.data
    items: list[dict[str, str]] = []
    # what the policy's author states (report.limitations): the audit cannot see it in the data
    stated = ((result.policy or {}).get("report") or {}).get("limitations") or []
    if stated:
        items.append({"title": "Stated by the policy",
                      "text": " ".join(str(x).strip() for x in stated)})
    small = [(a.attribute, g.group, g.n) for a in d.attributes for g in a.groups if "small" in g.flags]
    if small:
        named, left = named_and_left(small, 12)
        listed = "; ".join(f"{a}: '{g}' (n = {n:,})" for a, g, n in named)
        more = f"; and {left} more" if left else ""
        items.append({"title": "Small groups",
                      "text": f"{len(small)} group(s) or intersection cell(s) have fewer than "
                              f"{result.min_group_size} rows ({listed}{more}). Their rates are "
                              "reported with wide intervals but they are left out of every "
                              "disparity, so no gate speaks for them."})
    else:
        items.append({"title": "Small groups",
                      "text": f"Every group has at least {result.min_group_size} rows; groups "
                              "that are not recorded in the data cannot be audited at all."})
    small_rates = small_rate_examples(result)
    if small_rates:
        name, n_small, shown = small_rates
        items.append({"title": "Rates on few people",
                      "text": f"{n_small} of the selection rates, TPRs, FPRs, FNRs and "
                              f"precisions of '{name}' (the variant this report leads "
                              "with; the other variants' are in their own group tables) on groups "
                              f"with enough rows {'rests' if n_small == 1 else 'rest'} on fewer than "
                              f"{result.min_group_size} people — the count the rate divides by: "
                              "actual positives for TPR and FNR, actual negatives for FPR, "
                              "predicted positives for precision (for example "
                              f"{shown}). They are reported with their fraction but take no part "
                              "in any disparity, gate or headline."})
    unknown = [(a.attribute, g.n) for a in d.attributes if a.kind == "attribute"
               for g in a.groups if "unknown" in g.flags]
    if unknown:
        items.append({"title": "Missing protected values",
                      "text": "; ".join(f"{n:,} row(s) have no recorded {a}" for a, n in unknown)
                              + ". They form the group 'unknown', audited like any other; the "
                              "people in it may belong to any group, so its rates do not tell "
                              "how the missing members of each group were treated."})
    else:
        items.append({"title": "Missing protected values",
                      "text": "No protected value is missing. The audit relies on the recorded "
                              "values being correct: self-reported or inferred attributes can be "
                              "wrong in ways the audit cannot detect."})
    excl = sum(e.count for e in d.excluded)
    if excl:
        items.append({"title": "Excluded rows",
                      "text": f"{excl:,} row(s) were excluded before the audit (see Data and "
                              "scope); the results hold for the remaining population only."})
    if d.protected_as_features:
        items.append({"title": "Protected attributes used as features",
                      "text": "The models see " + ", ".join(d.protected_as_features) +
                              " as input features; check whether that is lawful for this use."})
    gsd = [v.name for v in result.variants if v.uses_protected_at_decision]
    if gsd:
        items.append({"title": "Group-specific decisions",
                      "text": "These variants decide with the protected attribute (for example "
                              "group thresholds): " + ", ".join(gsd) + ". Such decisions may be "
                              "unlawful in some jurisdictions even when they reduce disparities."
                              + (" The policy forbids them: they are reported but not "
                                 "selectable." if not allows_group_specific_decisions(result)
                                 else " The policy allows them to be selected.")})
    scores = [v.name for v in result.variants if v.unavailable]
    if scores:
        # recidivism (review12): "blank in the leaderboard", which had no such column
        perf, _ = leaderboard_columns(result)
        missing = {m for v in result.variants for m in v.unavailable}
        where = ("null in results.json, blank in the leaderboard" if missing & set(perf)
                 else "null in results.json")
        items.append({"title": "Calibration not assessed",
                      "text": "The scores of " + ", ".join(f"'{n}'" for n in scores) + " are "
                              "not probabilities (score_type: score: a ranking score such as a "
                              "risk decile, on its own scale). Brier score and calibration error "
                              "compare a score with the 0/1 outcome as if it were a probability, "
                              f"so they are not computed for them ({where}); whether a given "
                              "score means the same risk in every group is not assessed."})
    if result.confidence.get("method") != "bootstrap":
        items.append({"title": "No confidence intervals",
                      "text": "The policy turned intervals off: every figure is a point estimate "
                              "whose uncertainty is not shown."})
    cluster = result.validation.groups
    items.append({"title": "Independence of rows",
                  "text": ("Intervals and folds treat clusters of '" + cluster + "' as "
                           "independent units; dependence across clusters is not modelled.")
                  if cluster else
                  ("Intervals and folds treat rows as independent. Rows that belong together "
                   "(a household, a branch, the same person more than once) make the intervals too narrow; "
                   "name a cluster column under validation → groups when they exist.")})
    # the proxy screen tests the features in the data for stand-ins (review8: this said the
    # audit tests none, beside a Proxies section that does)
    stand_ins = ("Its proxy screen tests only the features in the data for stand-ins for a "
                 "protected attribute (see Proxies); it does not see stand-ins outside them, "
                 if result.analysis.proxies is not None else
                 "It does not test features that stand in for a protected attribute "
                 "(postcode, name, occupation), ")
    items.append({"title": "What the audit cannot see",
                  "text": "It measures outcomes against the labels in the data: if past "
                          "decisions were biased, the labels carry that bias and a model that "
                          "reproduces them can look accurate and fair. " + stand_ins
                          + "attributes that are not recorded, people the data does not "
                          "include, or how the population and the model will drift after "
                          "deployment. "
                          "The figures estimate performance on data like this sample, "
                          "not on a different period or market."})
    items.append({"title": "Thresholds and metrics",
                  "text": "Gate thresholds and the choice of fairness metrics come from the "
                          "policy; some fairness criteria cannot hold together when base rates "
                          "differ between groups, so passing these gates does not establish "
                          "fairness in every sense."})
    if result.failures:
        items.append({"title": "Candidates not evaluated",
                      "text": f"{len(result.failures)} failure(s) were recorded; those variants "
                              "are reported but not judged."})
    return items


VIEW = SectionView("limitations", lambda result, o: limitations_view(result),
                   "Limitations and assumptions")
