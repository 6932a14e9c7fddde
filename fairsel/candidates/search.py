"""Search spaces: a candidate's ``search:`` expanded into trial candidates (``gbm#07``).

Each trial is an ordinary candidate of the same kind, named ``<name>#NN``, whose ``params`` are
the candidate's fixed ``params`` plus one setting of the space. Trials enter the audit's
(candidate, variant, fold) grid like any candidate: the same folds, the same mitigations, the
same gates and ranking. The settings are drawn from the policy's seed and the candidate's name
alone, so the same policy and seed give the same trials.

* ``random``: each parameter drawn independently — a choice uniformly from its list, a range
  uniformly (on a log scale with ``log: true``; rounded with ``integer: true``);
* ``grid``: every combination of the listed values, in order, the first ``trials`` of them;
* ``optuna``: settings proposed by optuna's TPE sampler from the figures of the trials before
  (:func:`optuna_study`; optuna is the optional extra ``fairsel[search]``), asked in batches
  of :data:`OPTUNA_BATCH` trials that run in parallel on the audit's backend.

Every name and value is checked before any fit (:func:`check_search`), as fixed ``params`` are.
"""

from __future__ import annotations

import itertools
import math
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: The optional extra that installs optuna.
OPTUNA_HINT = 'pip install "fairsel[search]"'
#: Trials an optuna search asks at once, runs together on the backend's workers, then tells
#: in trial order. Fixed, not the number of workers: the same policy and seed give the same
#: trials in one process, on ``--jobs N`` and on a Dask cluster of any size.
OPTUNA_BATCH = 4


@dataclass(frozen=True)
class Trial:
    """One setting of a candidate's search space, audited as the candidate ``name``."""

    name: str  # gbm#07
    of: str  # gbm
    number: int  # 7
    params: dict[str, Any] = field(default_factory=dict)  # the searched parameters only


def trial_name(of: str, number: int, trials: int) -> str:
    """``gbm#07``: the candidate's name and the trial's number, zero-padded to the count."""
    return f"{of}#{number:0{max(2, len(str(trials)))}d}"


def _is_range(values: Any) -> bool:
    return not isinstance(values, list)


def _value(x: float) -> float:
    """A drawn float kept to 6 significant digits: readable in results.json, and exact."""
    return float(f"{x:.6g}")


def draw(values: Any, rng: np.random.Generator) -> Any:
    """One value of a parameter: a choice from a list, or a draw from a range."""
    if not _is_range(values):
        return values[int(rng.integers(len(values)))]
    lo, hi = float(values.low), float(values.high)
    if values.log:
        x = math.exp(rng.uniform(math.log(lo), math.log(hi)))
    else:
        x = rng.uniform(lo, hi)
    if values.integer:
        return int(min(max(round(x), math.ceil(lo)), math.floor(hi)))
    return min(max(_value(x), lo), hi)


def trial_rng(seed: int, name: str) -> np.random.Generator:
    """The random stream of one candidate's search: from the policy's seed and its name."""
    return np.random.default_rng([int(seed), zlib.crc32(name.encode("utf-8"))])


def settings(name: str, search, seed: int) -> list[dict[str, Any]]:
    """The parameter settings of a random or grid search, in trial order."""
    space = search.params
    if search.method == "grid":
        names = list(space)
        combos = itertools.product(*(space[n] for n in names))
        return [dict(zip(names, c)) for c in itertools.islice(combos, search.trials)]
    rng = trial_rng(seed, name)
    return [{n: draw(v, rng) for n, v in space.items()} for _ in range(search.trials)]


def expand(spec, seed: int) -> list[tuple[Any, Trial]]:
    """A candidate with ``search`` → its trials, each ``(candidate spec, Trial)``.

    A candidate without a search gives no trial. An optuna search gives its trials with the
    fixed params only: their settings depend on the figures of the trials before, and are
    asked of optuna as the audit runs them (:func:`optuna_study`, :func:`ask`).
    """
    search = spec.search
    if search is None:
        return []
    if search.method == "optuna":
        return [trial_spec(spec, i, {}) for i in range(1, search.trials + 1)]
    out = []
    for i, params in enumerate(settings(spec.name, search, seed), start=1):
        out.append(trial_spec(spec, i, params))
    return out


def optuna_study(name: str, seed: int):
    """An in-memory optuna study maximising the search objective, its TPE sampler seeded by
    the policy's seed and the candidate's name (the same policy gives the same trials)."""
    try:
        import optuna
    except ImportError as exc:  # plan() refuses method optuna without optuna; a safety net
        raise ImportError(f"search method 'optuna' needs optuna ({OPTUNA_HINT})") from exc
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=int(trial_rng(seed, name).integers(2**31)))
    return optuna.create_study(direction="maximize", sampler=sampler)


def ask(study, search) -> tuple[Any, dict[str, Any]]:
    """The next trial of an optuna study and its setting of the space."""
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    dists = {}
    for name, values in search.params.items():
        if not _is_range(values):
            dists[name] = CategoricalDistribution(list(values))
        elif values.integer:
            dists[name] = IntDistribution(int(values.low), int(values.high), log=values.log)
        else:
            dists[name] = FloatDistribution(float(values.low), float(values.high), log=values.log)
    trial = study.ask(dists)
    params = {n: (_value(v) if isinstance(v, float) else v) for n, v in trial.params.items()}
    return trial, params


def tell(study, trial, value: float | None) -> None:
    """Report a trial's objective (None: it was pruned) to the study."""
    import optuna

    if value is None:
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    else:
        study.tell(trial, float(value))


def trial_spec(spec, number: int, params: dict[str, Any]) -> tuple[Any, Trial]:
    """The candidate spec of one trial: the candidate's fixed params plus ``params``."""
    trial = Trial(name=trial_name(spec.name, number, spec.search.trials), of=spec.name,
                  number=number, params=dict(params))
    # model_copy skips validation: the name carries '#', which a policy's own names may not
    new = spec.model_copy(update={"name": trial.name, "params": {**spec.params, **params},
                                  "search": None})
    return new, trial


def expand_policy(policy):
    """The policy with every searched candidate replaced by its trials.

    Returns ``(policy, trials)``: a copy whose ``candidates`` list each trial in place of its
    candidate (and whose ``mitigation[].candidates`` name the trials where they named the
    candidate), and ``{trial name: Trial}``. The policy itself is returned when nothing is
    searched.
    """
    if not any(c.search is not None for c in policy.candidates):
        return policy, {}
    cands, trials, renamed = [], {}, {}
    for spec in policy.candidates:
        expanded = expand(spec, policy.seed)
        if not expanded:
            cands.append(spec)
            continue
        renamed[spec.name] = [t.name for _, t in expanded]
        for new, trial in expanded:
            cands.append(new)
            trials[trial.name] = trial
    mitigation = [m if m.candidates is None else m.model_copy(update={"candidates": [
        t for c in m.candidates for t in renamed.get(c, [c])]}) for m in policy.mitigation]
    return policy.model_copy(update={"candidates": cands, "mitigation": mitigation}), trials


def space_size(search) -> int | None:
    """The number of distinct settings of a space of lists only, or None with a range."""
    if any(_is_range(v) for v in search.params.values()):
        return None
    return math.prod(len(v) for v in search.params.values())


def check_search(kind: str, estimator: str | None, params: dict[str, Any], search, *,
                 deep: bool = True) -> list[tuple[tuple, str]]:
    """Problems with a candidate's ``search``: ``[(key path suffix, message)]``.

    The space's shape (a range's ends, log and integer ranges, grid search over lists only,
    a parameter both fixed and searched), then each name as fixed ``params`` are checked, and
    with ``deep`` each value (every choice, both ends of a range) by the library's own
    validation together with the fixed params. Call it after the fixed params passed.
    """
    from fairsel.candidates.trainable import check_params

    problems: list[tuple[tuple, str]] = []
    space = search.params
    for name, values in space.items():
        loc = ("search", "params", name)
        if name in params:
            problems.append((loc, f"'{name}' is both fixed (params) and searched; keep it "
                                  "in one of the two"))
        elif _is_range(values):
            problems += [(loc + (k,), m) for k, m in _range_problems(values)]
            if search.method == "grid":
                problems.append((loc, "grid search takes lists of values; a range {low, "
                                      "high} needs method random or optuna (or list the "
                                      "values)"))
        elif not values:
            problems.append((loc, "an empty list of values; list at least one"))
    if problems:
        return problems
    # names first (no import), as fixed params are
    probe = {name: _ends(values)[0] for name, values in space.items()}
    named = check_params(kind, estimator, probe, deep=False)
    if named or not deep:
        return [(("search", *loc), msg) for loc, msg in named]
    for name, values in space.items():
        if _is_range(values):
            cases = list(zip(("low", "high"), _ends(values)))
        else:
            cases = list(enumerate(values))
        for key, value in cases:
            for _, msg in check_params(kind, estimator, {**params, name: value}, deep=True):
                problems.append((("search", "params", name, key),
                                 f"value {value!r} of '{name}' is refused: {msg}"))
    if search.method == "optuna":
        try:
            import optuna  # noqa: F401
        except ImportError:
            problems.append((("search", "method"), "method 'optuna' needs optuna, which is "
                             f"not installed ({OPTUNA_HINT}); or use method random"))
    return problems


def _ends(values: Any) -> list[Any]:
    if not _is_range(values):
        return list(values)
    if values.integer:
        return [int(values.low), int(values.high)]
    return [float(values.low), float(values.high)]


def _range_problems(r) -> list[tuple[str, str]]:
    out = []
    if not (math.isfinite(r.low) and math.isfinite(r.high)):
        out.append(("low", f"low and high must be finite numbers; found {r.low} and {r.high}"))
    elif r.high <= r.low:
        out.append(("high", f"high ({r.high:g}) must be above low ({r.low:g})"))
    if r.log and r.low <= 0:
        out.append(("low", f"a log range needs low above 0; found {r.low:g}"))
    if r.integer and not (float(r.low).is_integer() and float(r.high).is_integer()):
        out.append(("low", f"an integer range needs whole-number ends; found {r.low:g} and "
                           f"{r.high:g}"))
    return out
