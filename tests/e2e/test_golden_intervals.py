"""Every estimate in every example policy's golden results.json lies within its own interval.

The walk visits the whole file: any object with an interval (``ci``) and a figure (``value``,
or ``observed`` for a gate) is checked, wherever it sits — performance, group rates, fairness
per attribute, headlines, gates, mitigated variants.
"""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from tests.e2e.regenerate_golden import discover_policies, golden_path, load_golden

POLICIES = discover_policies()


def walk(obj: Any, path: str = "") -> Iterator[tuple[str, float, list]]:
    """(path, figure, interval) of every object in ``obj`` that carries both."""
    if isinstance(obj, dict):
        ci = obj.get("ci")
        for key in ("value", "observed"):
            if isinstance(ci, (list, tuple)) and len(ci) == 2 and isinstance(obj.get(key), float | int):
                yield path, obj[key], ci
        for k, v in obj.items():
            yield from walk(v, f"{path}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from walk(v, f"{path}[{i}]")


def test_walk_finds_a_figure_outside_its_interval():
    bad = {"a": [{"value": 0.246, "ci": [0.249, 0.574]}], "b": {"observed": 0.5, "ci": [0.1, 0.6]}}
    found = list(walk(bad))
    assert [p for p, v, ci in found] == [".a[0]", ".b"]
    assert [p for p, v, ci in found if not ci[0] <= v <= ci[1]] == [".a[0]"]


@pytest.mark.parametrize("policy", POLICIES, ids=[p.stem for p in POLICIES])
def test_every_estimate_lies_within_its_interval(policy):
    golden = load_golden(policy)
    assert golden is not None, f"no golden file {golden_path(policy)}"
    checked, outside = 0, []
    for path, value, ci in walk(golden):
        lo, hi = ci
        if lo is None or hi is None:
            continue
        checked += 1
        if not lo - 1e-12 <= value <= hi + 1e-12:
            outside.append(f"{path}: {value} not in [{lo}, {hi}]")
    assert checked > 100, f"{policy.name}: only {checked} figures with intervals found"
    assert not outside, f"{policy.name}: {len(outside)} outside, e.g. " + "; ".join(outside[:5])
