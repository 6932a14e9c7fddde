"""The proxy screen's cost against the fitting it accompanies (issue 10, part 3).

On ``--rows`` rows of fairsel's synthetic lending data (with a planted proxy of race), times
``screen_proxies`` for race and sex (the one-feature figures on every row; the all-features
LightGBM model on at most ``--max-rows`` rows, 5 folds), and, for scale, fitting one default
LightGBM candidate of the audit on one fold's training rows (4/5 of the rows; an audit fits
each candidate once per fold, more with mitigations). Prints CPU and wall seconds, and the
screen's time as a share of 5 such fits (one candidate's cross-validation).

    python benchmarks/bench_proxies.py --rows 1000000
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def _timed(fn):
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--max-rows", type=int, default=50_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    from lightgbm import LGBMClassifier

    from fairsel.analysis.proxies import AttributeCodes, screen_proxies
    from fairsel.candidates import prepare_frame
    from fairsel.synthetic import make_lending, plant_proxy

    features = ["region", "age", "income", "loan_amount", "debt_to_income",
                "credit_history_years", "prior_defaults", "employment", "purpose", "zip_area"]
    categorical = ["region", "employment", "purpose", "zip_area"]
    df = plant_proxy(make_lending(args.rows, seed=args.seed), seed=args.seed)
    X = prepare_frame(df[features], categorical)
    attrs = []
    for col in ("race", "sex"):
        values = df[col].fillna("unknown").to_numpy()
        labels = tuple(sorted(set(values)))
        attrs.append(AttributeCodes(col, np.searchsorted(np.array(labels), values), labels,
                                    (col,)))
    folds = np.random.default_rng(args.seed).integers(0, 5, args.rows)
    screen, wall, cpu = _timed(lambda: screen_proxies(
        X, categorical=categorical, attributes=attrs, folds=folds, seed=args.seed,
        max_rows=args.max_rows))
    for a in screen.attributes:
        top = a.features[0]
        print(f"{a.attribute}: top feature {top.feature} AUC {top.auc:.3f} NMI {top.nmi:.3f}; "
              f"all features AUC {a.all_features_auc:.3f} on {a.all_features_rows:,} rows")
    print(f"proxy screen, {args.rows:,} rows: {cpu:.2f} s CPU, {wall:.2f} s wall")

    train = folds != 0
    M = X.copy()
    for c in categorical:
        M[c] = M[c].astype("category")
    y = (df["approved"] == "yes").to_numpy()
    _, fwall, fcpu = _timed(lambda: LGBMClassifier(n_jobs=1, verbose=-1).fit(
        M[train], y[train]))
    print(f"one LightGBM candidate (defaults, 1 thread), one fold's fit on {train.sum():,} "
          f"rows: {fcpu:.2f} s CPU, {fwall:.2f} s wall")
    print(f"screen / one candidate's 5-fold fit (CPU): {cpu / (5 * fcpu):.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
