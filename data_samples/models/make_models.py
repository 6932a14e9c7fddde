"""Make the two "trained elsewhere" models that ``policies/champion.yaml`` audits.

Run from the repository root::

    python data_samples/models/make_models.py

Both models are trained on *new* synthetic applications — ``fairsel.synthetic.make_lending``
with 20,000 rows and seed 2024, i.e. other applicants and other branches than the audit's
``data_samples/lending_branches.csv`` (seed 7) — so the audit measures them on data they never
saw, as it would a production model. Their features are the audit's features, in the audit's
order (``data → features: auto`` of ``policies/champion.yaml``).

* ``champion.skops`` — the model in production: a scikit-learn pipeline (imputation,
  scaling, one-hot encoding, logistic regression) saved with ``skops.io.dump``, a format that
  loads without running code. It is trained on the raw labels ``"yes"``/``"no"``; fairsel
  finds the favorable class ``"yes"`` in its ``classes_``.
* ``challenger.lgb.txt`` — a LightGBM model saved with ``Booster.save_model`` (plain text),
  trained with 1 = approved (the favorable outcome) and the text columns as pandas
  categoricals, whose categories the file keeps.

Both files are small (about 10 kB and 140 kB). The LightGBM text file is deterministic (the same
LightGBM version gives the same bytes); a skops archive is not (it stores timestamps and
object ids), so pin its sha256 only after you have made it, if you want to pin it at all.

skops does not trust ``numpy.dtype`` by default (it appears in the scaler and encoder), so the
policy lists it under ``trusted_types``: the explicit extension of the trusted list.
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

FEATURES = ["region", "age", "income", "loan_amount", "debt_to_income", "credit_history_years",
            "prior_defaults", "employment", "purpose"]
CATEGORICAL = ["region", "employment", "purpose"]
NUMERIC = [c for c in FEATURES if c not in CATEGORICAL]


def training_data():
    from fairsel.synthetic import make_lending

    frame = make_lending(20_000, seed=2024)
    return frame[FEATURES], frame["approved"]


def make_champion(X, y, out: Path) -> None:
    import skops.io as sio
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    prep = ColumnTransformer([
        ("num", Pipeline([("impute", SimpleImputer(strategy="median")),
                          ("scale", StandardScaler())]), NUMERIC),
        ("cat", Pipeline([("impute", SimpleImputer(strategy="constant", fill_value="missing")),
                          ("onehot", OneHotEncoder(handle_unknown="ignore"))]), CATEGORICAL),
    ])
    model = Pipeline([("prepare", prep), ("model", LogisticRegression(C=1.0, max_iter=1000))])
    model.fit(X, y)
    sio.dump(model, out, compression=zipfile.ZIP_DEFLATED, compresslevel=9)


def make_challenger(X, y, out: Path) -> None:
    import lightgbm as lgb

    Xc = X.copy()
    for c in CATEGORICAL:
        Xc[c] = Xc[c].astype("category")
    clf = lgb.LGBMClassifier(n_estimators=80, learning_rate=0.08, num_leaves=15,
                             min_child_samples=40, random_state=0, n_jobs=1, verbose=-1,
                             deterministic=True, force_row_wise=True)
    clf.fit(Xc, (y == "yes").astype(int))
    clf.booster_.save_model(str(out))


def main() -> None:
    X, y = training_data()
    make_champion(X, y, HERE / "champion.skops")
    make_challenger(X, y, HERE / "challenger.lgb.txt")
    for name in ("champion.skops", "challenger.lgb.txt"):
        print(f"wrote {HERE / name} ({(HERE / name).stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
