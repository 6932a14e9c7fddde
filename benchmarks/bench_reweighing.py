"""What reweighing adds to a fold's fitting time, and its weights against aif360's.

Target (the project's issue 4): the ``reweighing`` variant adds **under 5 %** to a fold's
fitting time. On one fold's training rows (80 % of ``--rows`` synthetic lending rows from
``fairsel.synthetic.make_lending``, protected ``sex × race``), for each estimator:

* ``base``: fit the candidate as fairsel does (its pipeline: feature preparation + estimator);
* ``reweighing``: compute the Kamiran & Calders weights over the sex × race cells of the
  training rows (:func:`fairsel.mitigation.reweighing.reweighing_weights`) and fit the same
  candidate with them as ``sample_weight``.

Each is timed ``--repeats`` times, alternating, and the fastest CPU time of each is compared
(CPU time, so other processes on the machine distort it less; wall times are printed too).
The overhead is ``reweighing / base − 1``.

The weights are also computed with aif360's ``Reweighing`` on the same rows (each cell as
the privileged group against the rest, which gives that cell's rows Kamiran & Calders' weight)
and checked to agree to 1e-12; the time of the weight computation alone is printed for both,
with the ratio.

Usage (from the repository root)::

    python benchmarks/bench_reweighing.py                   # 200,000 rows
    python benchmarks/bench_reweighing.py --rows 1000000 --repeats 3

Exit status 0 when the overhead is under 5 % for every estimator and the weights agree.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from fairsel.candidates import make_trainable, prepare_frame  # noqa: E402
from fairsel.mitigation.reweighing import reweighing_weights  # noqa: E402
from fairsel.policy.schema import CandidateSpec  # noqa: E402
from fairsel.synthetic import make_lending  # noqa: E402

FEATURES = ["region", "age", "income", "loan_amount", "debt_to_income", "credit_history_years",
            "prior_defaults", "employment", "purpose"]


def timed(fn):
    c0, w0 = time.process_time(), time.perf_counter()
    out = fn()
    return out, time.process_time() - c0, time.perf_counter() - w0


def aif360_weights(y: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """aif360's Reweighing, once per cell (that cell privileged, the others unprivileged)."""
    import pandas as pd

    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from aif360.algorithms.preprocessing import Reweighing
            from aif360.datasets import BinaryLabelDataset

            frame = pd.DataFrame({"cell": cells.astype(float), "y": y.astype(float)})
            ds = BinaryLabelDataset(df=frame, label_names=["y"], protected_attribute_names=["cell"],
                                    favorable_label=1.0, unfavorable_label=0.0)
            out = np.empty(len(y))
            present = np.unique(cells)
            for c in present:
                rw = Reweighing(unprivileged_groups=[{"cell": float(d)} for d in present if d != c],
                                privileged_groups=[{"cell": float(c)}])
                w = rw.fit_transform(ds).instance_weights
                out[cells == c] = w[cells == c]
            return out
    finally:
        logging.disable(previous)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on "
          f"{os.cpu_count()} cores")

    frame = make_lending(args.rows, seed=args.seed)
    y_all = (frame["approved"] == "yes").to_numpy().astype(np.int8)
    sex = frame["sex"].astype("category").cat.codes.to_numpy()
    race = frame["race"].astype("string").fillna("unknown").astype("category").cat.codes.to_numpy()
    cells_all = (sex.astype(np.int64) * (race.max() + 1) + race).astype(np.int64)
    rng = np.random.default_rng(args.seed)
    train = np.sort(rng.permutation(len(frame))[: int(0.8 * len(frame))])
    X_raw = frame[FEATURES]
    import pandas as pd

    numeric = [c for c in FEATURES if pd.api.types.is_numeric_dtype(X_raw[c])]
    categorical = [c for c in FEATURES if c not in numeric]
    X = prepare_frame(X_raw, categorical).iloc[train]
    y, cells = y_all[train], cells_all[train]
    print(f"{len(train):,} training rows (80 % of {args.rows:,}), {len(np.unique(cells))} "
          "sex × race cells")

    w, c_ours, w_ours = timed(lambda: reweighing_weights(y, cells))
    ref, c_ref, w_ref = timed(lambda: aif360_weights(y, cells))
    agree = bool(np.allclose(w, ref, rtol=1e-12, atol=0))
    n_cells = len(np.unique(cells))
    print(f"weights: fairsel {w_ours * 1e3:.2f} ms, aif360 Reweighing {w_ref * 1e3:.1f} ms "
          f"(wall; {n_cells} calls, one per cell, {w_ref / n_cells * 1e3:.1f} ms each) → "
          f"{w_ref / max(w_ours, 1e-9):.0f}× faster; max |difference| "
          f"{np.max(np.abs(w - ref)):.2e} — {'agree' if agree else 'DISAGREE'}")

    specs = [CandidateSpec(name="gbm", kind="lightgbm",
                           params={"n_estimators": 200, "learning_rate": 0.05}),
             CandidateSpec(name="logreg", kind="sklearn", estimator="logistic_regression")]
    failures = [] if agree else ["weights disagree with aif360's"]
    for spec in specs:
        cand = make_trainable(spec, seed=args.seed, numeric=numeric, categorical=categorical)
        base_cpu, base_wall, rw_cpu, rw_wall = [], [], [], []

        def plain(cand=cand):
            return cand.fit(X, y)

        def reweighed(cand=cand):
            weights = reweighing_weights(y, cells)
            return cand.fit(X, y, sample_weight=weights)

        for _ in range(max(1, args.repeats)):
            _, c, wall = timed(plain)
            base_cpu.append(c)
            base_wall.append(wall)
            _, c, wall = timed(reweighed)
            rw_cpu.append(c)
            rw_wall.append(wall)
        overhead = min(rw_cpu) / min(base_cpu) - 1.0
        print(f"\n{spec.name}: fold fit CPU base {min(base_cpu):.3f} s, with reweighing "
              f"{min(rw_cpu):.3f} s → overhead {overhead * 100:+.1f} % (target < 5 %)")
        print(f"  wall: base {min(base_wall):.3f} s, reweighing {min(rw_wall):.3f} s; "
              f"the weights themselves: {c_ours / min(base_cpu) * 100:.2f} % of the base fit")
        if overhead >= 0.05:
            failures.append(f"{spec.name}: reweighing adds {overhead * 100:.1f} %")
    for f in failures:
        print(f"MISSED: {f}")
    status = "PASS" if not failures else "FAIL"
    print(f"RESULT: reweighing overhead on a fold's fit under 5 % for every estimator, "
          f"weights equal aif360's ({w_ref / max(w_ours, 1e-9):.0f}× faster) — {status}")
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
