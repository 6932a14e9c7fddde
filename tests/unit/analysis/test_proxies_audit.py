"""The proxy screen inside an audit: on by default, off with ``proxies: false``, declared
proxies always reported, its figures in results.json and the results schema."""

from __future__ import annotations

import json

from fairsel.audit import run_audit
from fairsel.policy import load_policy
from fairsel.results import AuditResult
from tests.unit.test_registries import tiny_policy, write_tiny_data


def _audit(tmp_path, extra: str = "", features: str = "auto"):
    write_tiny_data(tmp_path)
    return run_audit(load_policy(tiny_policy(tmp_path, extra=extra, features=features))).result


def test_on_by_default_with_its_gates(tmp_path):
    result = _audit(tmp_path)
    screen = result.analysis.proxies
    assert screen is not None and screen.max_feature_auc == 0.70 and screen.max_rows == 20_000
    assert [a.attribute for a in screen.attributes] == ["sex", "region"]
    for a in screen.attributes:
        assert a.rows == 400 and a.all_features_rows == 400
        assert {f.feature for f in a.features} <= set(result.data.features)
        assert a.all_features_auc is not None
    gates = [g for g in result.gates if g.metric.startswith("proxy_")]
    assert len(gates) == 2 * len(result.variants)
    assert {g.gate for g in gates} == {0, 1}  # the tiny policy sets no gate of its own
    assert "shap" in result.provenance.packages
    # results.json round-trips with the screen in it
    assert AuditResult.model_validate_json(result.model_dump_json()) == result


def test_proxies_false_turns_it_off(tmp_path):
    result = _audit(tmp_path, extra="proxies: false")
    assert result.analysis.proxies is None
    assert not [g for g in result.gates if g.metric.startswith("proxy_")]
    assert "proxies" not in result.provenance.timings


def test_bounds_and_declared_proxies_from_the_policy(tmp_path):
    write_tiny_data(tmp_path)
    path = tiny_policy(tmp_path, extra="proxies: {max_feature_auc: 0.5, max_all_auc: 0.5, "
                                       "severity: error}")
    text = path.read_text().replace("features: auto}", "features: auto, proxies: [purpose]}")
    path.write_text(text)
    result = run_audit(load_policy(path)).result
    screen = result.analysis.proxies
    assert screen.declared == ["purpose"]
    for a in screen.attributes:
        assert any(f.feature == "purpose" and f.declared for f in a.features)
        # every feature whose AUC exceeds 0.5 is flagged, and named in the gate's message
        assert a.flagged == [f.feature for f in a.features if f.auc is not None and f.auc > 0.5]
    feat = next(g for g in result.gates if g.metric == "proxy_feature_auc")
    assert feat.status == "FAIL" and feat.severity == "error"
    assert all(name in feat.message for a in screen.attributes for name in a.flagged)
    assert result.verdict.exit_code == 1  # an error-severity proxy gate fails every variant


def test_results_schema_describes_the_screen():
    schema = json.dumps(AuditResult.model_json_schema())
    for key in ("ProxyScreen", "ProxyAttribute", "ProxyFeature", "all_features_auc",
                "macro one-vs-rest AUC of a one-feature model"):
        assert key in schema


def test_a_tampered_screen_figure_is_refused(tmp_path):
    import pytest

    from fairsel.errors import UsageError
    from fairsel.results import load_results

    result = _audit(tmp_path)
    data = json.loads(result.model_dump_json())
    data["analysis"]["proxies"]["attributes"][0]["features"][0]["auc"] = 1.7
    path = tmp_path / "results.json"
    path.write_text(json.dumps(data))
    with pytest.raises(UsageError, match=r"analysis\.proxies\.attributes\[0\]\.features\[0\]"
                                         r"\.auc: 1\.7 is not a rate"):
        load_results(path)


def test_the_screen_in_a_thread_beside_the_fits_gives_the_same_result(tmp_path, monkeypatch):
    """With a free core the screen runs in a thread beside the fits (or the measuring); the
    results (timings aside) are those of the one-thread audit, and the thread is gone after."""
    import threading

    import fairsel.audit as audit

    def without_timings(result):
        data = json.loads(result.model_dump_json())
        data["provenance"].pop("timings")
        for k in ("started", "finished", "duration_seconds"):
            data["provenance"].pop(k, None)
        return data

    runs = {}
    import fairsel.execution as execution

    calls = []
    real_start, real_run = audit._start_screen, execution.Runner.run
    monkeypatch.setattr(audit, "_start_screen",
                        lambda *a: (calls.append("screen"), real_start(*a))[1])
    monkeypatch.setattr(execution.Runner, "run",
                        lambda self, *a, **k: (calls.append("fits"), real_run(self, *a, **k))[1])
    monkeypatch.setattr(audit, "usable_cores", lambda: 2)
    for threads in (1, 2):
        monkeypatch.setattr(audit, "analysis_threads", lambda t=threads: t)
        started = []
        real = audit.run_proxy_screen

        def spy(*args, real=real, started=started):
            started.append(threading.current_thread())
            return real(*args)

        monkeypatch.setattr(audit, "run_proxy_screen", spy)
        runs[threads] = _audit(tmp_path)
        assert len(started) == 1
        assert started[0].name.startswith("proxies") == (threads == 2)
        if threads == 2:  # the screen's thread ends with it: nothing is left behind
            assert not started[0].is_alive()
    assert without_timings(runs[1]) == without_timings(runs[2])
    # one worker on two cores: the screen is started before the fits, beside them
    assert calls == ["fits", "screen", "fits"]
    assert runs[2].analysis.proxies is not None


def test_an_error_in_the_screens_thread_reaches_the_audit(tmp_path, monkeypatch):
    """The screen in its thread fails as it would in the audit's own: the error is raised
    where its result is read, not lost with the thread."""
    import pytest

    import fairsel.audit as audit

    monkeypatch.setattr(audit, "analysis_threads", lambda: 2)

    def broken(*args):
        raise RuntimeError("screen broke")

    monkeypatch.setattr(audit, "run_proxy_screen", broken)
    with pytest.raises(RuntimeError, match="screen broke"):
        _audit(tmp_path)
