"""``kind: saved_model`` — a model trained elsewhere, scored once on every row, never refitted.

Formats, recognised by the file's content (its name only breaks ties):

* **skops** (a zip archive; ``skops.io.dump``): loaded with skops' trusted-types check. Types
  skops does not trust by default are refused unless the candidate lists them in
  ``trusted_types`` — after someone has reviewed them — and the refusal names every one.
  ``trusted: true`` does not bypass this check.
* **LightGBM text model** (``Booster.save_model``; starts with ``tree``): a plain-text format
  with no code in it. Binary objectives only. LightGBM's own parser crashes or hangs on damaged
  bytes, so the file's structure is checked first (:mod:`fairsel.candidates.lgbm_text`); a
  defect is refused (exit 4) naming the line and tree.
* **joblib / pickle**: unpickling runs whatever code the file names, so a pickle is loaded only
  when the candidate says ``trusted: true`` *and* gives a ``sha256`` equal to the file's. Any
  other pickle is refused (exit 4) with the reason.

A ``sha256`` given for a skops or LightGBM file is checked too.

Which column is the favorable outcome. A scikit-learn model's ``classes_`` is matched against
``data → favorable`` (``'good'``, or ``0`` for COMPAS-style targets); classes ``{0, 1}`` that
do not contain the favorable value are taken as fairsel's own encoding, 1 = favorable. A
LightGBM booster predicts P(label = 1), taken as P(favorable) unless ``data → favorable`` is 0,
in which case the score is 1 − P(label = 1).

The model's features must be the data's features (``data → features``), with the same names
in the same order; any difference is refused (exit 4) with a list of what is missing, what is
extra, and what is out of order. Categorical columns reach the model as text with missing
values as NaN (the raw data's form), or, for LightGBM, as pandas categoricals with the
categories stored in the model file.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fairsel.candidates.lgbm_text import CheckedModel, load_booster, read_model
from fairsel.errors import ModelError
from fairsel.fileutil import file_sha256

MISSING_TEXT = "(missing)"  # prepare_frame's marker for a missing category

PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".sav", ".pck")
PICKLE_WHY = ("loading a pickle (joblib included) can run any code the file names — unpickling "
              "calls functions, so a tampered or untrusted file can take over the machine")


def sniff_format(path: Path) -> str:
    """``"skops"``, ``"lightgbm"``, ``"pickle"`` or ``"unknown"`` from the first bytes."""
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head.startswith(b"PK\x03\x04"):
        return "skops"
    if head.startswith(b"tree\n") or head.startswith(b"tree\r\n"):
        return "lightgbm"
    # protocol ≥ 2 pickles start with PROTO (0x80); joblib's compressed files with their
    # compressor's magic (zlib 'x', gzip, bz2, xz, lz4)
    if head[:1] == b"\x80" or path.suffix.lower() in PICKLE_SUFFIXES or head[:2] in (
            b"\x1f\x8b", b"BZ", b"x\x01", b"x^", b"x\x9c", b"x\xda") \
            or head.startswith(b"\xfd7zXZ") or head.startswith(b"\x04\x22\x4d\x18"):
        return "pickle"
    return "unknown"


@dataclass
class SavedModelCandidate:
    """A loaded model and what fairsel needs to score the audit's rows with it."""

    name: str
    kind: str
    path: Path
    format: str
    model: Any
    threshold: float
    features: list[str]
    categorical: list[str]
    favorable: str | None
    sha256: str
    notes: list[str] = field(default_factory=list)

    trainable = False
    uses_protected_at_decision = False

    def score_all(self, X: pd.DataFrame) -> np.ndarray:
        """P(favorable) for every row of ``X`` (the data's features, in the data's order).

        Raises
        ------
        ModelError
            The model's features differ from the data's, or scoring fails, or the scores
            are not finite.
        """
        check_features(self.name, self.path, model_features(self.model, self.format),
                       list(X.columns), n_in=getattr(self.model, "n_features_in_", None))
        try:
            if self.format == "lightgbm":
                scores = self._score_lightgbm(X)
            else:
                scores = self._score_sklearn(X)
        except ModelError:
            raise
        except Exception as exc:  # noqa: BLE001 — the library's words, with ours around them
            raise ModelError(f"{self.path}: candidate '{self.name}': the model failed to score "
                             f"the data: {type(exc).__name__}: {_first_line(exc)}") from None
        scores = np.asarray(scores, dtype=np.float64).reshape(-1)
        if len(scores) != len(X):
            raise ModelError(f"{self.path}: candidate '{self.name}': the model returned "
                             f"{len(scores)} scores for {len(X)} rows")
        bad = ~np.isfinite(scores)
        if bad.any():
            raise ModelError(f"{self.path}: candidate '{self.name}': the model returned "
                             f"{int(bad.sum())} missing or infinite score(s), first at data "
                             f"row(s) {', '.join(str(i) for i in np.flatnonzero(bad)[:5])}")
        return scores

    def _raw_frame(self, X: pd.DataFrame) -> pd.DataFrame:
        X = X.copy()
        for c in self.categorical:
            if c in X.columns:
                X[c] = X[c].where(X[c] != MISSING_TEXT, np.nan)
        return X

    def sklearn_input(self, X: pd.DataFrame):
        """``X`` as the scikit-learn model reads it: missing categories as NaN, and an array
        where the model kept no feature names."""
        Xr = self._raw_frame(X)
        if getattr(self.model, "feature_names_in_", None) is None:
            return Xr.to_numpy()
        return Xr

    def _score_sklearn(self, X: pd.DataFrame) -> np.ndarray:
        model = self.model
        if not hasattr(model, "predict_proba"):
            raise ModelError(f"{self.path}: candidate '{self.name}': the model "
                             f"({type(model).__name__}) has no predict_proba; fairsel needs the "
                             "probability of the favorable outcome")
        column = self.favorable_index()
        Xr = self.sklearn_input(X)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=UserWarning)
            proba = np.asarray(model.predict_proba(Xr))
        return proba[:, column]

    def _score_lightgbm(self, X: pd.DataFrame) -> np.ndarray:
        p = self.model.predict(self.lightgbm_frame(X))
        return 1.0 - p if self.favorable_is_zero else p

    @property
    def favorable_is_zero(self) -> bool:
        """A LightGBM booster's P(label = 1) is of the unfavorable outcome (favorable: 0)."""
        return _is_zero(self.favorable)

    def favorable_index(self) -> int:
        """Index of the favorable class among a scikit-learn model's ``classes_``."""
        return favorable_column(list(getattr(self.model, "classes_", [0, 1])), self.favorable,
                                self.name, self.path)

    def lightgbm_frame(self, X: pd.DataFrame) -> pd.DataFrame:
        """``X`` as the LightGBM booster reads it: text columns as the pandas categoricals
        stored in the model file, missing values as NaN."""
        booster = self.model
        cats = list(getattr(booster, "pandas_categorical", None) or [])
        Xr = self._raw_frame(X)
        text_cols = [c for c in Xr.columns if not pd.api.types.is_numeric_dtype(Xr[c])]
        if len(text_cols) != len(cats):
            raise ModelError(
                f"{self.path}: candidate '{self.name}': the data has {len(text_cols)} text "
                f"(categorical) feature(s) ({', '.join(text_cols) or 'none'}) but the LightGBM "
                f"model was trained with {len(cats)} pandas categorical column(s); train it on "
                "a DataFrame whose text columns have the category dtype")
        for c, levels in zip(text_cols, cats):
            Xr[c] = pd.Categorical(Xr[c], categories=levels)
        return Xr


def _is_zero(value: str | None) -> bool:
    try:
        return value is not None and float(value) == 0.0
    except ValueError:
        return False


def _same_label(a: object, b: str | None) -> bool:
    if b is None:
        return False
    if str(a) == b:
        return True
    try:
        return float(a) == float(b)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def favorable_column(classes: list, favorable: str | None, name: str, path: Path) -> int:
    """Index of the favorable class in ``classes`` (see the module docstring)."""
    if len(classes) != 2:
        raise ModelError(f"{path}: candidate '{name}': the model has {len(classes)} classes "
                         f"({classes}); fairsel audits binary classifiers")
    for i, c in enumerate(classes):
        if _same_label(c, favorable):
            return i
    if {str(c) for c in classes} <= {"0", "1", "False", "True"}:
        return [str(c) for c in classes].index("1" if "1" in map(str, classes) else "True")
    raise ModelError(f"{path}: candidate '{name}': the model's classes {classes} do not include "
                     f"the favorable value {favorable!r} (data → favorable); train the model on "
                     "the same labels, or with 1 = favorable")


def model_features(model: Any, fmt: str) -> list[str] | None:
    """The feature names a model was trained on, in order (``None`` when it kept none)."""
    if fmt == "lightgbm":
        return list(model.feature_name())
    names = getattr(model, "feature_names_in_", None)
    return [str(n) for n in names] if names is not None else None


def check_features(name: str, path: Path, model_cols: list[str] | None, data_cols: list[str],
                   *, n_in: int | None = None) -> None:
    """Refuse (ModelError) unless the model's features are the data's, in the same order."""
    if model_cols is None:
        if n_in is not None and n_in != len(data_cols):
            raise ModelError(f"{path}: candidate '{name}': the model takes {n_in} features and "
                             f"kept no names; the data has {len(data_cols)} "
                             f"({', '.join(data_cols)})")
        return
    if model_cols == data_cols:
        return
    lines = []
    missing = [c for c in model_cols if c not in data_cols]
    extra = [c for c in data_cols if c not in model_cols]
    if missing:
        lines.append(f"the model needs {len(missing)} feature(s) the data's features lack: "
                     + ", ".join(missing))
    if extra:
        lines.append(f"the data has {len(extra)} feature(s) the model was not trained on: "
                     + ", ".join(extra))
    if not missing and not extra:
        moved = [f"'{c}' is feature {model_cols.index(c) + 1} in the model, {i + 1} in the data"
                 for i, c in enumerate(data_cols) if model_cols.index(c) != i]
        lines.append("same features in a different order: " + "; ".join(moved[:10])
                     + (f"; … ({len(moved)} in all)" if len(moved) > 10 else ""))
    raise ModelError(f"{path}: candidate '{name}': the model's features do not match the data "
                     "(data → features): " + "; ".join(lines)
                     + ". Set data → features to the model's features, in its order: ["
                     + ", ".join(model_cols) + "]")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def load_skops(path: Path, name: str, trusted_types: list[str]) -> Any:
    """Load a skops file, refusing types outside skops' defaults and ``trusted_types``."""
    import skops.io as sio

    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as exc:  # noqa: BLE001
        raise ModelError(f"{path}: candidate '{name}': cannot read the file as a skops model: "
                         f"{type(exc).__name__}: {_first_line(exc)}") from None
    refused = sorted(t for t in untrusted if t not in set(trusted_types))
    if refused:
        raise ModelError(
            f"{path}: candidate '{name}': the skops file contains {len(refused)} type(s) that "
            f"skops does not trust by default and the policy does not list: "
            + ", ".join(refused)
            + ". Loading them could run their code. Review them; if you trust them, list them "
              "under the candidate's trusted_types (e.g. trusted_types: ["
            + ", ".join(repr(t) for t in refused) + "])")
    try:
        return sio.load(path, trusted=sorted(untrusted))
    except Exception as exc:  # noqa: BLE001
        raise ModelError(f"{path}: candidate '{name}': skops could not load the model: "
                         f"{type(exc).__name__}: {_first_line(exc)}") from None


def load_lightgbm(path: Path, name: str, model: CheckedModel | None = None) -> Any:
    """Load a LightGBM text model (binary objectives only) after checking its structure.

    LightGBM's native parser is not safe on damaged or hostile bytes (it can crash or hang the
    process), so the file is read once and checked by :mod:`fairsel.candidates.lgbm_text`;
    LightGBM then parses the checked text, never the path. ``model``: the file already read
    and checked (so the bytes hashed are the bytes loaded).
    """
    where = f"{path}: candidate '{name}'"
    if model is None:
        model = read_model(path, where)
    objective = model.objective
    if objective is not None and objective.split()[0] not in ("binary", "cross_entropy",
                                                              "xentropy"):
        raise ModelError(f"{where}: the LightGBM model's objective is '{objective}'; fairsel "
                         "audits binary classifiers (objective binary)")
    if model.num_class != 1:
        raise ModelError(f"{where}: the LightGBM model has num_class={model.num_class} (one "
                         "score per class); fairsel audits binary classifiers with one score, "
                         "P(label = 1) (objective binary)")
    return load_booster(model, where)


def check_pickle_trust(path: Path, name: str, *, trusted: bool, expected: str | None,
                       actual: str) -> None:
    """Refuse a pickle unless it is trusted and pinned by a matching sha256."""
    fix = (f"Prefer a format that cannot run code (skops: skops.io.dump; LightGBM: "
           f"Booster.save_model). To load this file anyway, confirm where it comes from, then "
           f"set trusted: true and sha256: {actual} on the candidate")
    if not trusted or expected is None:
        missing = " and ".join(x for x in ["trusted: true" if not trusted else "",
                                           "a sha256" if expected is None else ""] if x)
        raise ModelError(f"{path}: candidate '{name}': refused to load a pickle/joblib file "
                         f"without {missing}: {PICKLE_WHY}. {fix}")
    if expected.strip().lower() != actual:
        raise ModelError(f"{path}: candidate '{name}': refused to load the pickle/joblib file: "
                         f"its sha256 is {actual}, but the policy's sha256 is "
                         f"{expected.strip().lower()}; the file is not the one that was "
                         f"trusted ({PICKLE_WHY})")


def make_saved(spec, ctx) -> SavedModelCandidate:
    """Factory for ``kind: saved_model``: check trust, load, and describe the model.

    Raises
    ------
    ModelError
        Missing or unreadable file, refused pickle, untrusted skops types, wrong sha256,
        unsupported format (exit 4).
    """
    path = ctx.resolve(spec.path)
    name = spec.name
    if not path.exists():
        raise ModelError(f"{path}: candidate '{name}': model file not found (paths in a policy "
                         "are relative to the policy file)")
    if path.is_dir():
        raise ModelError(f"{path}: candidate '{name}': is a folder; expected a skops, LightGBM "
                         "text, or (trusted) joblib/pickle file")
    if not path.is_file():  # a pipe or device: reading it could wait forever
        raise ModelError(f"{path}: candidate '{name}': is not a regular file (a pipe, device "
                         "or socket); expected a skops, LightGBM text, or (trusted) "
                         "joblib/pickle file")
    fmt = sniff_format(path)
    checked = None
    if fmt == "lightgbm":  # read and checked once; the sha256 is of the bytes LightGBM parses
        checked = read_model(path, f"{path}: candidate '{name}'")
        actual = checked.sha256
    else:
        actual = file_sha256(path)
    if fmt == "pickle":
        check_pickle_trust(path, name, trusted=spec.trusted, expected=spec.sha256, actual=actual)
    elif spec.sha256 is not None and spec.sha256.strip().lower() != actual:
        raise ModelError(f"{path}: candidate '{name}': its sha256 is {actual}, but the policy's "
                         f"sha256 is {spec.sha256.strip().lower()}; the file has changed since "
                         "it was pinned")
    if fmt == "skops":
        model = load_skops(path, name, list(spec.trusted_types))
    elif fmt == "lightgbm":
        model = load_lightgbm(path, name, checked)
    elif fmt == "pickle":
        import joblib

        try:
            model = joblib.load(path)
        except Exception as exc:  # noqa: BLE001
            raise ModelError(f"{path}: candidate '{name}': cannot load the trusted pickle: "
                             f"{type(exc).__name__}: {_first_line(exc)}") from None
    else:
        raise ModelError(f"{path}: candidate '{name}': not a model format fairsel reads; "
                         "expected a skops file (.skops), a LightGBM text model "
                         "(Booster.save_model) or, with trusted: true and sha256, a "
                         "joblib/pickle file")
    extra = ctx.extra or {}
    return SavedModelCandidate(name=name, kind=spec.kind, path=path, format=fmt, model=model,
                               threshold=spec.threshold, features=list(ctx.features),
                               categorical=list(ctx.categorical),
                               favorable=extra.get("favorable"), sha256=actual)
