"""Log an audit to an MLflow tracking server or file store (``fairsel audit --mlflow-uri``).

One MLflow run per audit, in the experiment ``fairsel-<policy name>``:

* params: the policy's name, seed, validation scheme and folds, decision rule, confidence
  settings, and the selected variant;
* tags: the verdict, its exit code, the policy and data sha256, the fairsel version;
* metrics: for every variant and every performance metric and fairness headline,
  ``<variant>.<metric>`` with ``<variant>.<metric>.ci_low`` / ``.ci_high`` where an interval
  exists, plus ``verdict.exit_code``;
* artifacts: every file the audit wrote (results.json, leaderboard.csv, predictions.parquet,
  junit.xml, summary.md, reports).

MLflow is optional (``pip install 'fairsel[mlflow]'``) and imported only here.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from fairsel.errors import UsageError
from fairsel.results import AuditResult


def require_mlflow() -> None:
    """Fail early (exit 2) when ``--mlflow-uri`` is given but MLflow is not installed."""
    try:
        import mlflow  # noqa: F401
    except ImportError:
        raise UsageError("--mlflow-uri needs MLflow, which is not installed: "
                         "pip install 'fairsel[mlflow]'") from None


def _is_file_store(uri: str) -> bool:
    return uri.startswith("file:") or "://" not in uri and not uri.startswith(
        ("databricks", "sqlite:", "postgresql", "mysql", "mssql", "http:", "https:"))


def audit_metrics(result: AuditResult) -> dict[str, float]:
    """``{"<variant>.<metric>[.ci_low|.ci_high]": value}`` for every finite figure."""
    out: dict[str, float] = {}

    def put(key: str, value) -> None:
        if value is not None:
            out[key] = float(value)

    for v in result.variants:
        for m, est in v.performance.items():
            put(f"{v.name}.{m}", est.value)
            if est.ci:
                put(f"{v.name}.{m}.ci_low", est.ci[0])
                put(f"{v.name}.{m}.ci_high", est.ci[1])
        for m, head in v.fairness.items():
            put(f"{v.name}.{m}", head.value)
            if head.ci:
                put(f"{v.name}.{m}.ci_low", head.ci[0])
                put(f"{v.name}.{m}.ci_high", head.ci[1])
    out["verdict.exit_code"] = float(result.verdict.exit_code)
    return out


def log_audit(result: AuditResult, out_dir: Path, paths: list[Path], *, tracking_uri: str,
              experiment: str | None = None) -> str:
    """Log the audit to a new MLflow run; return the run id.

    Raises
    ------
    UsageError
        MLflow is missing, or the tracking URI cannot be used (exit 2).
    """
    require_mlflow()
    if _is_file_store(tracking_uri):
        # MLflow 3 refuses the file store unless asked; a user who names a file: URI asks
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    name = experiment or f"fairsel-{result.name}"
    try:
        client = MlflowClient(tracking_uri=tracking_uri)
        exp = client.get_experiment_by_name(name)
        exp_id = exp.experiment_id if exp is not None else client.create_experiment(name)
        p = result.policy
        params = {
            "policy.name": result.name, "seed": str(result.provenance.seed),
            "validation.scheme": result.validation.scheme,
            "validation.folds": str(result.validation.folds),
            "decision": str(p.get("decision", "")),
            "confidence": f"{result.confidence.get('method')} level="
                          f"{result.confidence.get('level')} resamples="
                          f"{result.confidence.get('resamples')}",
            "selected": str(result.ranking.selected),
        }
        tags = {"fairsel.verdict": result.verdict.status,
                "fairsel.exit_code": str(result.verdict.exit_code),
                "fairsel.policy_sha256": result.provenance.policy_sha256,
                "fairsel.data_sha256": result.provenance.data_sha256,
                "fairsel.version": result.provenance.fairsel_version}
        run = client.create_run(exp_id, run_name=f"{result.name} {result.provenance.started}",
                                tags=tags)
        run_id = run.info.run_id
        now = int(time.time() * 1000)
        metrics = [Metric(k, v, now, 0) for k, v in audit_metrics(result).items()]
        for i in range(0, len(metrics), 900):  # MLflow takes at most 1000 metrics per batch
            client.log_batch(run_id, metrics=metrics[i:i + 900])
        client.log_batch(run_id, params=[Param(k, v) for k, v in params.items()],
                         tags=[RunTag("mlflow.source.name", "fairsel audit")])
        for path in paths:
            if Path(path).is_file():
                client.log_artifact(run_id, str(path))
        client.set_terminated(run_id, "FINISHED")
        return run_id
    except UsageError:
        raise
    except Exception as exc:  # noqa: BLE001 — MLflow's many exception types, one message
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(f"--mlflow-uri {tracking_uri}: could not log to MLflow "
                         f"({type(exc).__name__}: {text}); the report files in {out_dir} "
                         "were written") from None
