"""NYC Local Law 144 bias-audit arithmetic: impact ratios and scoring rates (pure numpy).

The rules (DCWP, 6 RCNY § 5-300/5-301):

* selection rate of a category = selected / n; impact ratio = its selection rate over the
  selection rate of the *most selected* category;
* for a tool that scores, the scoring rate of a category = the share of it scored *above the
  median score of the full sample*; its impact ratio is over the highest scoring rate. A score
  equal to the median is not above it: those ties are counted and reported;
* individuals of an unknown category are counted and shown, never compared;
* a category under 2% of the data may be left out of the impact ratios; its n and rate are
  still shown and the exclusion stated.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fairsel.partition import Partition, is_missing_group
from fairsel.results import ImpactRow, ImpactTable, Ll144Summary


def is_unknown(label: str) -> bool:
    """A category that is, or (for an intersection) has a part that is, unknown
    (:func:`fairsel.partition.is_missing_group`)."""
    return is_missing_group(label)


def impact_rows(labels: Sequence[str], n: Sequence[int], selected: Sequence[int], *,
                min_share: float, ties: Sequence[int] | None = None
                ) -> tuple[list[ImpactRow], str | None]:
    """The rows of one impact-ratio table and its most selected category.

    ``n`` and ``selected`` are per category; the share of each is ``n / sum(n)`` (the unknown
    category included in the total). A category is compared unless it is unknown, empty, or
    under ``min_share`` of the rows; impact ratio = rate / the highest compared rate (null
    when that rate is 0: nothing to compare against).
    """
    n_arr = np.asarray(n, dtype=np.int64)
    sel = np.asarray(selected, dtype=np.int64)
    total = int(n_arr.sum())
    share = n_arr / total if total else np.zeros(len(n_arr))
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(n_arr > 0, sel / np.where(n_arr > 0, n_arr, 1), np.nan)
    unknown = np.array([is_unknown(lb) for lb in labels], dtype=bool)
    excluded = (share < min_share) & ~unknown & (n_arr > 0)
    compared = ~unknown & ~excluded & (n_arr > 0)
    most: str | None = None
    top = 0.0
    if compared.any():
        k = int(np.flatnonzero(compared)[np.argmax(rate[compared])])
        most, top = labels[k], float(rate[k])
    rows = []
    for i, label in enumerate(labels):
        ir = float(rate[i] / top) if compared[i] and top > 0 else None
        rows.append(ImpactRow(
            group=label, n=int(n_arr[i]), share=float(share[i]), selected=int(sel[i]),
            rate=None if np.isnan(rate[i]) else float(rate[i]),
            ties=None if ties is None else int(ties[i]), impact_ratio=ir,
            excluded=bool(excluded[i]), unknown=bool(unknown[i])))
    return rows, most


def impact_table(partition: Partition, codes: np.ndarray, hits: np.ndarray, *, basis: str,
                 min_share: float, ties: np.ndarray | None = None) -> ImpactTable:
    """One attribute's (or intersection's) table from each row's group code and 0/1 hit."""
    k = partition.n_groups
    n = np.bincount(codes, minlength=k)
    sel = np.bincount(codes, weights=hits, minlength=k).round().astype(np.int64)
    tie = None if ties is None else np.bincount(codes, weights=ties, minlength=k).round()
    rows, most = impact_rows(partition.labels, n, sel, min_share=min_share, ties=tie)
    return ImpactTable(attribute=partition.name, kind=partition.kind, basis=basis,  # type: ignore[arg-type]
                       most_selected=most, unknown_n=sum(r.n for r in rows if r.unknown),
                       excluded=[r.group for r in rows if r.excluded], rows=rows)


def scoring_hits(y_score: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(above, at, median): each row scored strictly above the full sample's median, each
    row scored exactly at it, and the median."""
    s = np.asarray(y_score, dtype=np.float64)
    median = float(np.median(s))
    return (s > median).astype(np.int8), (s == median).astype(np.int8), median


def ll144_summary(variant: str, y_score: np.ndarray, y_pred: np.ndarray,
                  partitions: Sequence[Partition], atoms: np.ndarray, *,
                  min_share: float, scores: bool) -> Ll144Summary:
    """Selection-rate (and, with ``scores``, scoring-rate) impact ratios of one variant on
    every attribute and intersection. Rows without a prediction (NaN score) are left out."""
    keep = np.isfinite(np.asarray(y_score, dtype=np.float64))
    s, d, a = y_score[keep], np.asarray(y_pred)[keep], atoms[keep]
    above = at = None
    median = None
    if scores:
        above, at, median = scoring_hits(s)
    selection, scoring = [], []
    for part in partitions:
        codes = part.codes(a)
        selection.append(impact_table(part, codes, d, basis="selection_rate",
                                      min_share=min_share))
        if above is not None:
            scoring.append(impact_table(part, codes, above, basis="scoring_rate",
                                        min_share=min_share, ties=at))
    return Ll144Summary(variant=variant, rows=int(keep.sum()), min_share=min_share,
                        median_score=median, ties_at_median=None if at is None else int(at.sum()),
                        selection=selection, scoring=scoring)
