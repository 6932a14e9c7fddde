"""Predictions-only audits of a Parquet folder read in chunks (fairsel/chunked.py): the
merged per-chunk counts give what the same data read whole gives."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fairsel.audit import run_audit
from fairsel.errors import DataError, PolicyError
from fairsel.metrics.cells import CellAccumulator
from fairsel.policy import load_policy


def make_table(n: int = 6000, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    sex = rng.choice(np.array(["female", "male"], dtype=object), size=n, p=[0.45, 0.55])
    sex[rng.random(n) < 0.02] = None  # missing: the "unknown" group
    race = rng.choice(np.array(["asian", "black", "white"]), size=n, p=[0.1, 0.3, 0.6])
    shift = np.where(sex == "female", -0.3, 0.0) + np.where(race == "black", -0.4, 0.0)
    latent = rng.normal(size=n) + shift
    y = (latent + rng.normal(size=n) > -0.4).astype(np.float64)
    y[rng.random(n) < 0.01] = np.nan  # missing target: excluded and counted
    score = np.round(1.0 / (1.0 + np.exp(-(latent + 0.4))), 3)  # rounded: ties, as in real data
    return pa.table({
        "id": np.arange(n, dtype=np.int64),
        "approved": y,
        "sex": pa.array(sex, type=pa.string()).dictionary_encode(),
        "race": pa.array(race).dictionary_encode(),
        "age": rng.integers(18, 80, size=n),
        "score": score,
        "decision": (score >= 0.5).astype(np.int8),
    })


POLICY = """version: 1
name: chunked
seed: 3
data:
  path: {path}
  target: approved
  favorable: 1
  id: id
  features: [score]
  exclude_rows:
    - {{column: age, below: 21, reason: under 21}}
{chunk}
protected:
  - column: sex
  - column: race
intersections: true
min_group_size: 30
validation:
  scheme: stratified_kfold
  folds: 5
candidates:
  - {{name: vendor, kind: predictions, path: {path}, score_column: score, threshold: 0.5}}
  - {{name: hard, kind: predictions, path: {path}, decision_column: decision}}
  - {{name: flipped, kind: predictions, path: {path}, score_column: score,
      higher_is_favorable: false, threshold: 0.4}}
metrics:
  performance: [roc_auc, balanced_accuracy, accuracy]
  fairness: [disparate_impact, demographic_parity_difference, equal_opportunity_difference,
             equalized_odds_difference]
  confidence: {{method: bootstrap, level: 0.95, resamples: 200}}
gates:
  - {{metric: disparate_impact, min: 0.8}}
  - {{metric: roc_auc, min: 0.6, severity: warn}}
proxies: false
slices: false
explain: false
report:
  output: out
  formats: [json]
"""


def write(tmp: Path, table: pa.Table, *, files: int, chunk: int | None) -> tuple[Path, Path]:
    """(whole-file policy, chunked policy) over the same rows."""
    pq.write_table(table, tmp / "whole.parquet")
    folder = tmp / "parts"
    folder.mkdir()
    bounds = np.linspace(0, table.num_rows, files + 1).astype(int)
    for i in range(files):
        pq.write_table(table.slice(bounds[i], bounds[i + 1] - bounds[i]),
                       folder / f"part-{i}.parquet", row_group_size=1000)
    whole = tmp / "whole.yaml"
    whole.write_text(POLICY.format(path="whole.parquet", chunk=""), encoding="utf-8")
    chunked = tmp / "chunked.yaml"
    chunked.write_text(POLICY.format(path="parts", chunk=f"  chunk_rows: {chunk}" if chunk
                                     else ""), encoding="utf-8")
    return whole, chunked


def _groups(result) -> dict:
    return {(v.name, a.attribute, g.group): (g.n, g.tp, g.fp, g.tn, g.fn,
                                             {k: e.value for k, e in g.rates.items()})
            for v in result.variants for a in v.attributes for g in a.groups}


def test_chunked_folder_equals_whole_read(tmp_path: Path) -> None:
    whole_p, chunked_p = write(tmp_path, make_table(), files=3, chunk=700)
    whole = run_audit(load_policy(whole_p)).result
    chunked = run_audit(load_policy(chunked_p)).result
    assert chunked.data.chunked is not None and whole.data.chunked is None
    assert chunked.data.chunked.files == 3 and chunked.data.chunked.chunks >= 9
    # no silent loss: the same rows read, excluded per reason, and the unknown group
    assert (chunked.data.rows_read, chunked.data.rows_used) == \
        (whole.data.rows_read, whole.data.rows_used)
    assert [(e.reason, e.count) for e in chunked.data.excluded] == \
        [(e.reason, e.count) for e in whole.data.excluded]
    assert {e.reason for e in chunked.data.excluded} == {"under 21", "missing target value "
                                                         "('approved')"}
    assert all(e.count > 0 for e in chunked.data.excluded)
    assert [a.model_dump() for a in chunked.data.attributes] == \
        [a.model_dump() for a in whole.data.attributes]
    assert "unknown" in [g.group for g in chunked.data.attributes[0].groups]
    gw, gc = _groups(whole), _groups(chunked)
    assert gw.keys() == gc.keys()
    for key in gw:
        assert gw[key][:5] == gc[key][:5], key  # counts exactly
        for rate, value in gw[key][5].items():
            other = gc[key][5][rate]
            assert (value is None and other is None) or value == pytest.approx(other, abs=1e-12), \
                (key, rate)
    for vw, vc in zip(whole.variants, chunked.variants):
        assert vw.score_type == vc.score_type
        for name, est in vw.performance.items():
            assert (est.value is None and vc.performance[name].value is None) or \
                est.value == pytest.approx(vc.performance[name].value, abs=1e-12), name
        for name, head in vw.fairness.items():
            assert head.value == pytest.approx(vc.fairness[name].value, abs=1e-12), name
        for aw, ac in zip(vw.attributes, vc.attributes):
            for name, est in aw.fairness.items():
                assert est.value == pytest.approx(ac.fairness[name].value, abs=1e-12)
            assert [g.significance for g in aw.groups] == [g.significance for g in ac.groups]
    assert [(g.variant, g.metric, g.status, g.observed, g.by_attribute, g.p_adjusted)
            for g in whole.gates] == \
        [(g.variant, g.metric, g.status, g.observed, g.by_attribute, g.p_adjusted)
         for g in chunked.gates]
    assert whole.verdict.status == chunked.verdict.status
    assert whole.verdict.selected == chunked.verdict.selected
    assert whole.ranking.order == chunked.ranking.order
    assert chunked.data.chunked.auc == {"vendor": "exact", "hard": "exact", "flipped": "exact"}


def test_chunk_size_changes_nothing(tmp_path: Path) -> None:
    """Folds, intervals and every figure are the same whatever the chunk size."""
    table = make_table(3000, seed=1)
    _, small = write(tmp_path, table, files=2, chunk=250)
    big = tmp_path / "big.yaml"
    big.write_text(small.read_text().replace("chunk_rows: 250", "chunk_rows: 5000"))
    a = run_audit(load_policy(small)).result
    b = run_audit(load_policy(big)).result
    assert a.data.chunked.chunks > b.data.chunked.chunks
    assert a.validation.fold_sizes == b.validation.fold_sizes
    dump_a = json.loads(a.model_dump_json(exclude={"provenance", "data", "policy",
                                                   "policy_text"}))
    dump_b = json.loads(b.model_dump_json(exclude={"provenance", "data", "policy",
                                                   "policy_text"}))
    # equal, but for the last bits of float sums added in another order (Brier, calibration)
    assert _close(dump_a, dump_b)


def _close(x, y) -> bool:
    if isinstance(x, dict):
        return x.keys() == y.keys() and all(_close(x[k], y[k]) for k in x)
    if isinstance(x, list):
        return len(x) == len(y) and all(_close(u, v) for u, v in zip(x, y))
    if isinstance(x, float) and isinstance(y, float):
        return x == pytest.approx(y, rel=1e-12, abs=1e-14)
    return x == y


def test_histogram_auc_within_its_stated_bound() -> None:
    rng = np.random.default_rng(5)
    n = 200_000
    keys = rng.integers(0, 3, n)
    y = (rng.random(n) < 0.4).astype(np.int8)
    score = np.clip(rng.normal(0.5 + 0.1 * y, 0.15), 0, 1)
    folds = rng.integers(0, 4, n)
    from fairsel.partition import Partition

    part = Partition("g", ("g",), "attribute", ("a", "b", "c"), np.arange(3), None)
    out = {}
    for exact_rows in (10 ** 9, 0):
        acc = CellAccumulator(n_folds=4, lo=0.0, hi=1.0, exact_rows=exact_rows)
        for lo in range(0, n, 30_000):
            sl = slice(lo, lo + 30_000)
            acc.add(keys[sl], y[sl], (score[sl] >= 0.5).astype(np.int8), score[sl], folds[sl],
                    n_keys=3)
        out[exact_rows] = acc.finish(np.arange(3), [part])
    exact, hist = out[10 ** 9], out[0]
    assert exact[2] is None and 0 < hist[2] <= 1e-4
    bound = hist[2]
    assert abs(exact[0].auc - hist[0].auc) <= bound
    assert np.all(np.abs(exact[0].auc_groups[0] - hist[0].auc_groups[0]) <= bound)
    assert np.all(np.abs(exact[0].auc_folds - hist[0].auc_folds) <= bound)
    assert abs(exact[0].auc - hist[0].auc) > 0  # the histogram is not the exact figure
    np.testing.assert_array_equal(exact[0].cnt, hist[0].cnt)


def test_histogram_auc_in_results(tmp_path: Path) -> None:
    _, chunked_p = write(tmp_path, make_table(3000, seed=2), files=2, chunk=500)
    from fairsel.chunked import measure_chunked
    from fairsel.data import dataset_files

    policy = load_policy(chunked_p)
    m = measure_chunked(policy, dataset_files(policy), exact_auc_rows=100)
    assert m.data.chunked.auc == {"vendor": "histogram", "hard": "histogram",
                                  "flipped": "histogram"}
    # scores of three decimals: each histogram bin holds one score, so its pairs are true
    # ties and the histogram AUC is exact (and says so)
    assert m.data.chunked.auc_max_error == {"vendor": 0.0, "hard": 0.0, "flipped": 0.0}
    exact = measure_chunked(policy, dataset_files(policy))
    assert exact.data.chunked.auc == {"vendor": "exact", "hard": "exact", "flipped": "exact"}
    for vh, ve in zip(m.variants, exact.variants):
        assert vh.performance["roc_auc"].value == pytest.approx(ve.performance["roc_auc"].value,
                                                                abs=1e-12)
        for ah, ae in zip(vh.attributes, ve.attributes):
            for gh, ge in zip(ah.groups, ae.groups):
                h, e = gh.rates["roc_auc"].value, ge.rates["roc_auc"].value
                assert (h is None and e is None) or h == pytest.approx(e, abs=1e-12)


def test_not_predictions_only_is_refused(tmp_path: Path) -> None:
    _, chunked_p = write(tmp_path, make_table(500), files=2, chunk=None)
    text = chunked_p.read_text().replace(
        "  - {name: hard, kind: predictions, path: parts, decision_column: decision}",
        "  - {name: lr, kind: sklearn, estimator: logistic_regression}")
    chunked_p.write_text(text)
    with pytest.raises(PolicyError, match=r"candidates\[1\].*kind sklearn.*read in chunks"):
        run_audit(load_policy(chunked_p))


def test_missing_column_names_the_file(tmp_path: Path) -> None:
    _, chunked_p = write(tmp_path, make_table(500), files=2, chunk=None)
    pq.write_table(make_table(10).drop(["race"]), tmp_path / "parts" / "part-9.parquet")
    with pytest.raises(DataError, match=r"part-9\.parquet: column 'race' \(protected\[1\]"):
        run_audit(load_policy(chunked_p))


def test_bad_score_names_file_and_row(tmp_path: Path) -> None:
    t = make_table(500)
    score = t.column("score").to_numpy().copy()
    score[-3] = np.nan
    t = t.set_column(t.schema.get_field_index("score"), "score", pa.array(score))
    _, chunked_p = write(tmp_path, t, files=2, chunk=None)
    with pytest.raises(DataError, match=r"part-1\.parquet: candidate 'vendor'.*NaN.*row 248"):
        run_audit(load_policy(chunked_p))


def test_glob_matching_no_parquet_file(tmp_path: Path) -> None:
    _, chunked_p = write(tmp_path, make_table(100), files=1, chunk=None)
    chunked_p.write_text(chunked_p.read_text().replace("path: parts", "path: parts/x-*.parquet"))
    with pytest.raises(DataError, match=r"the glob 'parts/x-\*\.parquet' \(data → path\) "
                                        "matches no Parquet file"):
        run_audit(load_policy(chunked_p))
    (tmp_path / "parts" / "x-1.csv").write_text("a,b\n1,2\n")
    chunked_p.write_text(chunked_p.read_text().replace("parts/x-*.parquet", "parts/*"))
    with pytest.raises(DataError, match=r"x-1\.csv: the glob 'parts/\*' .* matches a file "
                                        "that is not Parquet"):
        run_audit(load_policy(chunked_p))


def test_folder_without_parquet_is_refused_as_a_folder(tmp_path: Path) -> None:
    _, chunked_p = write(tmp_path, make_table(100), files=1, chunk=None)
    for f in (tmp_path / "parts").iterdir():
        f.unlink()
    with pytest.raises(DataError, match="is a folder, expected a CSV or Parquet data file"):
        run_audit(load_policy(chunked_p))


def test_clusters_resampled_whole(tmp_path: Path) -> None:
    """With validation.groups, a cluster's rows share a fold and the bootstrap draws whole
    clusters from their cell counts summed over the chunks (a cluster spans chunks here)."""
    t = make_table(4000, seed=4)
    branch = np.repeat(np.arange(80), 50)  # 80 clusters of 50 rows, in order: cut by chunks
    t = t.append_column("branch", pa.array(branch))
    # outcomes alike within a branch: the rows of a cluster are not independent
    rng = np.random.default_rng(9)
    y = np.where(rng.random(4000) < 0.9, branch % 2, 1 - branch % 2).astype(np.float64)
    t = t.set_column(t.schema.get_field_index("approved"), "approved", pa.array(y))
    whole_p, chunked_p = write(tmp_path, t, files=3, chunk=300)
    for p in (whole_p, chunked_p):
        p.write_text(p.read_text().replace("  scheme: stratified_kfold\n",
                                           "  scheme: stratified_group_kfold\n  groups: branch\n"))
    whole = run_audit(load_policy(whole_p)).result
    chunked = run_audit(load_policy(chunked_p)).result
    assert chunked.data.n_clusters == whole.data.n_clusters == 80
    gw, gc = _groups(whole), _groups(chunked)
    assert {k: v[:5] for k, v in gw.items()} == {k: v[:5] for k, v in gc.items()}
    assert whole.verdict.status == chunked.verdict.status
    # the fold sizes are multiples of the cluster size: no cluster is split between folds
    rows = chunked.data.rows_used
    assert sum(chunked.validation.fold_sizes) == rows
    # cluster-bootstrap intervals are wider than row-bootstrap ones on the same counts
    plain_p = tmp_path / "plain.yaml"
    plain_p.write_text(chunked_p.read_text().replace("  groups: branch\n", "").replace(
        "stratified_group_kfold", "stratified_kfold"))
    plain = run_audit(load_policy(plain_p)).result

    def width(r) -> float:
        lo, hi = r.variants[0].attributes[0].groups[0].rates["base_rate"].ci
        return hi - lo

    assert width(chunked) > 2 * width(plain) > 0
    assert chunked.data.chunked.folds.startswith("by a hash of each row's cluster id")


def test_integer_groups_with_gaps_named_alike_in_every_chunk(tmp_path: Path) -> None:
    """An integer protected column with a missing value in one file only is read as pandas
    reads it whole (floats): its groups are not split into "1" and "1.0" by the chunks."""
    t = make_table(2000, seed=8)
    level = np.tile(np.array([1, 2, 3], dtype=object), 667)[:2000]
    level[1990] = None  # in the last file only
    t = t.append_column("level", pa.array(level, type=pa.int64()))
    whole_p, chunked_p = write(tmp_path, t, files=2, chunk=300)
    for p in (whole_p, chunked_p):
        p.write_text(p.read_text().replace("  - column: race\n", "  - column: level\n"))
    whole = run_audit(load_policy(whole_p)).result
    chunked = run_audit(load_policy(chunked_p)).result
    groups = [g.group for g in chunked.data.attributes[1].groups]
    assert groups == [g.group for g in whole.data.attributes[1].groups]
    assert groups == ["1.0", "2.0", "3.0", "unknown"]
    assert [a.model_dump() for a in chunked.data.attributes] == \
        [a.model_dump() for a in whole.data.attributes]


def test_files_as_tasks_same_result_on_every_backend(tmp_path: Path) -> None:
    """Each file is a task on the audit's backend (here, two local worker processes and a
    Dask LocalCluster of two single-threaded workers): the merged counts, in file order, give
    the same results.json as reading the files one after another in this process."""
    import logging

    distributed = pytest.importorskip("distributed")
    from fairsel.execution import Backend

    t = make_table(3000, seed=11)
    t = t.append_column("branch", pa.array(np.repeat(np.arange(60), 50)))
    _, chunked_p = write(tmp_path, t, files=3, chunk=400)
    chunked_p.write_text(chunked_p.read_text().replace(
        "  scheme: stratified_kfold\n", "  scheme: stratified_group_kfold\n  groups: branch\n"))
    policy = load_policy(chunked_p)
    skip = {"provenance", "policy", "policy_text"}

    def dump(result) -> dict:
        return json.loads(result.model_dump_json(exclude=skip))

    here = dump(run_audit(policy).result)
    assert here["data"]["chunked"]["files"] == 3
    assert dump(run_audit(policy, jobs=2).result) == here
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=logging.ERROR) as c:
        on_dask = run_audit(policy, backend=Backend(name="dask", address=c.scheduler_address))
    assert dump(on_dask.result) == here


def test_one_file_with_chunk_rows_is_read_in_chunks(tmp_path: Path) -> None:
    whole_p, _ = write(tmp_path, make_table(2500, seed=12), files=2, chunk=None)
    one = tmp_path / "one.yaml"
    one.write_text(whole_p.read_text().replace("  id: id\n", "  id: id\n  chunk_rows: 600\n"))
    whole = run_audit(load_policy(whole_p)).result
    chunked = run_audit(load_policy(one)).result
    assert whole.data.chunked is None
    assert chunked.data.chunked.files == 1 and chunked.data.chunked.chunks == 5
    assert {k: v[:5] for k, v in _groups(whole).items()} == \
        {k: v[:5] for k, v in _groups(chunked).items()}
    assert [(g.variant, g.metric, g.status) for g in whole.gates] == \
        [(g.variant, g.metric, g.status) for g in chunked.gates]
