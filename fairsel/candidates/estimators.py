"""Registered estimators and the feature preparation fitted inside each fold."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fairsel.registry import Registry
from fairsel.system import usable_cores


@dataclass(frozen=True)
class EstimatorEntry:
    """How to build one estimator family, and how its features must be prepared."""

    name: str
    factory: str  # "module:Class"
    linear: bool  # scaled numbers and one-hot categories (else ordinal codes)
    handles_missing: bool  # NaN in numbers is fine (else median imputation)
    native_categorical: str | None = None  # the fit/init keyword for categorical columns
    defaults: tuple[tuple[str, Any], ...] = ()

    def make(self, params: dict[str, Any], seed: int):
        import importlib

        module, cls = self.factory.split(":")
        klass = getattr(importlib.import_module(module), cls)
        est = klass(**dict(self.defaults))
        valid = est.get_params()
        if "random_state" in valid and "random_state" not in params:
            est.set_params(random_state=seed)
        return est, valid

    @property
    def accepts_weights(self) -> bool:
        return True  # every registered estimator takes sample_weight in fit


#: The parameters that set how many threads one fit starts: scikit-learn's ``n_jobs`` and
#: LightGBM's ``num_threads`` with its aliases.
THREAD_PARAMS = frozenset({"n_jobs", "num_threads", "num_thread", "nthread", "nthreads"})


def bounded_threads(params: dict[str, Any]) -> dict[str, Any]:
    """``params`` with a thread count above the usable cores lowered to them: like ``--jobs``,
    ``n_jobs: 10000`` in a policy must not start ten thousand threads (in each fit, and in
    validate's LightGBM check). Zero and negative counts (the library's "all cores") stay."""
    cores = usable_cores()
    return {k: cores if k in THREAD_PARAMS and isinstance(v, int) and not isinstance(v, bool)
            and v > cores else v for k, v in params.items()}


ESTIMATORS: Registry[EstimatorEntry] = Registry("estimator", "fairsel list estimators")
for _e, _s in [
    (EstimatorEntry("logistic_regression", "sklearn.linear_model:LogisticRegression", True, False,
                    defaults=(("max_iter", 1000),)),
     "scikit-learn LogisticRegression (L2, lbfgs); numbers scaled, categories one-hot"),
    (EstimatorEntry("random_forest", "sklearn.ensemble:RandomForestClassifier", False, False,
                    defaults=(("n_estimators", 200), ("min_samples_leaf", 5), ("n_jobs", 1))),
     "scikit-learn RandomForestClassifier (200 trees, min_samples_leaf 5)"),
    (EstimatorEntry("extra_trees", "sklearn.ensemble:ExtraTreesClassifier", False, False,
                    defaults=(("n_estimators", 200), ("min_samples_leaf", 5), ("n_jobs", 1))),
     "scikit-learn ExtraTreesClassifier (200 trees, min_samples_leaf 5)"),
    (EstimatorEntry("hist_gradient_boosting", "sklearn.ensemble:HistGradientBoostingClassifier",
                    False, True, native_categorical="categorical_features"),
     "scikit-learn HistGradientBoostingClassifier with native categorical support"),
    (EstimatorEntry("decision_tree", "sklearn.tree:DecisionTreeClassifier", False, False,
                    defaults=(("min_samples_leaf", 5),)),
     "scikit-learn DecisionTreeClassifier (min_samples_leaf 5)"),
    (EstimatorEntry("gradient_boosting", "sklearn.ensemble:GradientBoostingClassifier", False,
                    False),
     "scikit-learn GradientBoostingClassifier"),
    (EstimatorEntry("gaussian_nb", "sklearn.naive_bayes:GaussianNB", True, False),
     "scikit-learn GaussianNB; numbers scaled, categories one-hot"),
]:
    ESTIMATORS.register(_e.name, _e, summary=_s)

LIGHTGBM = EstimatorEntry("lightgbm", "lightgbm:LGBMClassifier", False, True,
                          native_categorical="categorical_feature",
                          defaults=(("n_jobs", 1), ("verbose", -1), ("deterministic", True),
                                    ("force_row_wise", True)))


def lightgbm_param_names() -> set[str]:
    """Every name LGBMClassifier accepts: its own arguments and LightGBM's parameter aliases."""
    from lightgbm import LGBMClassifier
    from lightgbm.basic import _ConfigAliases

    names = set(LGBMClassifier().get_params())
    for key, aliases in _ConfigAliases._get_all_param_aliases().items():
        names.add(key)
        names.update(aliases)
    return names


def make_preprocessor(entry: EstimatorEntry, numeric: list[str], categorical: list[str]):
    """Feature preparation fitted on a fold's training rows only (categorical columns first)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

    steps = []
    if categorical:
        if entry.linear:
            enc = OneHotEncoder(handle_unknown="infrequent_if_exist", max_categories=30,
                                sparse_output=False)
        else:
            enc = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1,
                                 encoded_missing_value=-1, max_categories=200)
        steps.append(("cat", enc, categorical))
    if numeric:
        if entry.linear:
            num = make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True),
                                StandardScaler())
        elif entry.handles_missing:
            num = "passthrough"
        else:
            num = SimpleImputer(strategy="median", keep_empty_features=True)
        steps.append(("num", num, numeric))
    return ColumnTransformer(steps, remainder="drop", verbose_feature_names_out=False)
