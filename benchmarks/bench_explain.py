"""Explanations' cost against shap's own explainer call (issue 10, part 1).

On ``--rows`` rows of fairsel's synthetic lending data, one fold's model of each candidate
(LightGBM with the audit's defaults, logistic regression) is fitted on 4/5 of the rows, and
``--explain`` rows of the other fifth are explained twice:

- fairsel: ``explain_variant`` — preparing the rows, the SHAP values, one-hot parts summed
  back to the policy's columns, and every summary of results.json (importance, per-group
  contributions, disparity attribution, adverse-action reasons);
- shap: the same rows prepared by the fold's preprocessing (shap explains the estimator on
  the numbers it was fitted on), then the explainer shap offers for the model built and
  called on them (``TreeExplainer(booster).shap_values`` for LightGBM; ``LinearExplainer``
  with an independent masker of 1,000 of the fold's prepared training rows for logistic
  regression).

The values of both are checked to agree (1e-9). Prints the median of ``--repeat`` timings
(CPU seconds) and the ratio fairsel / shap; the target is at most 1.5. Exit 0 when every
ratio meets it, 1 otherwise.

    python benchmarks/bench_explain.py --rows 100000 --explain 2000
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TARGET = 1.5


def _cpu(fn, repeat: int):
    times, out = [], None
    for _ in range(repeat):
        c = time.process_time()
        out = fn()
        times.append(time.process_time() - c)
    return out, statistics.median(times)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--explain", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    import shap

    from benchmarks._common import load_average
    from fairsel.analysis.explain import (
        GroupCodes,
        Sample,
        VariantInput,
        column_owners,
        explain_out_of_fold,
        explain_variant,
    )
    from fairsel.candidates import prepare_frame
    from fairsel.candidates.estimators import ESTIMATORS, LIGHTGBM
    from fairsel.candidates.trainable import TrainableCandidate
    from fairsel.synthetic import make_lending

    numeric = ["age", "income", "loan_amount", "debt_to_income", "credit_history_years",
               "prior_defaults"]
    categorical = ["region", "employment", "purpose"]
    features = categorical + numeric
    df = make_lending(args.rows, seed=args.seed)
    X = prepare_frame(df[features], categorical)
    y = (df["approved"] == "yes").to_numpy().astype(np.int8)
    folds = np.random.default_rng(args.seed).integers(0, 5, args.rows)
    train = np.flatnonzero(folds != 0)
    test = np.flatnonzero(folds == 0)
    rows = np.sort(np.random.default_rng(args.seed).choice(test, args.explain, replace=False))
    sample = Sample(rows=rows, weights=np.ones(len(rows)))
    groups = []
    for col in ("race", "sex"):
        values = df[col].fillna("unknown").to_numpy()
        labels = tuple(sorted(set(values)))
        groups.append(GroupCodes(col, labels, np.searchsorted(np.array(labels), values)))

    print(f"bench_explain: {args.rows:,} rows, {args.explain:,} explained, median of "
          f"{args.repeat}; {load_average()}")
    ok = True
    for name, entry in (("lightgbm", LIGHTGBM),
                        ("logistic_regression", ESTIMATORS.get("logistic_regression"))):
        cand = TrainableCandidate(name=name, kind="lightgbm" if name == "lightgbm" else "sklearn",
                                  entry=entry, params={}, seed=args.seed, threshold=0.5,
                                  numeric=numeric, categorical=categorical)
        model = cand.fit(X.iloc[train], y[train])
        spec = VariantInput(variant=name, model_of=name, note=None, models={0: model},
                            y_pred=(cand.score(model, X) >= 0.5).astype(np.int8))
        prepare, est = model.named_steps["prepare"], model.named_steps["model"]
        bg_rows = np.sort(np.random.default_rng([args.seed + 0, 0xB6]).choice(
            train, 1000, replace=False))

        def theirs():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                xt = prepare.transform(X.iloc[rows])  # shap explains prepared rows
                if name == "lightgbm":
                    return np.asarray(shap.TreeExplainer(est.booster_).shap_values(xt))
                bg = prepare.transform(X.iloc[bg_rows])
                return shap.LinearExplainer(est, shap.maskers.Independent(
                    bg, max_samples=len(bg))).shap_values(xt)

        def ours():
            return explain_variant(spec, X=X, folds=folds, sample=sample, groups=groups,
                                   features=features, flags={}, seed=args.seed)

        theirs()  # warm both (imports, first calls)
        ours()
        ref, t_shap = _cpu(theirs, args.repeat)
        _, t_ours = _cpu(ours, args.repeat)
        # the same values: fairsel's per column against shap's parts summed back
        ex = explain_out_of_fold({0: model}, X=X, folds=folds, sample=sample,
                                 features=features, seed=args.seed)
        owners = column_owners(prepare, features)
        summed = np.zeros((len(rows), len(features)))
        np.add.at(summed.T, owners, np.asarray(ref).reshape(len(rows), -1).T)
        agree = np.allclose(ex.values, summed, atol=1e-9)
        ratio = t_ours / t_shap
        ok &= agree and ratio <= TARGET
        print(f"{name:>20}: fairsel {t_ours * 1000:8.1f} ms CPU, shap {t_shap * 1000:8.1f} ms "
              f"CPU, ratio {ratio:.2f} (target ≤ {TARGET}); values agree: "
              f"{'yes' if agree else 'NO'}")
    print(f"RESULT: bench_explain rows={args.rows} explain={args.explain} "
          f"{'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
