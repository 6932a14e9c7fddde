"""The command line: load, call one library function, render, exit. Only this module exits."""

from __future__ import annotations

import json
import os
import signal
import sys
import traceback
from pathlib import Path

import click

from fairsel import __version__
from fairsel.errors import ExitCode, FairselError, Terminated, UsageError


def _use_rich() -> bool:
    return sys.stderr.isatty() and not os.environ.get("CI")


def _err(msg: str) -> None:
    from fairsel.report.tables import safe_text  # no control character reaches the terminal

    click.echo(safe_text(msg), err=True)


class _RichProgress:
    """The Progress protocol drawn with rich on a terminal: each stage a line that finishes
    when the next starts; a stage with a known number of steps shows done/total and the time
    left."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.console = Console(stderr=True)
        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), TimeRemainingColumn(),
                            console=self.console, transient=True)
        self.task = None

    def __enter__(self):
        self.bar.__enter__()
        return self

    def __exit__(self, *exc):
        self.bar.__exit__(*exc)

    def stage(self, name: str, total: int | None = None) -> None:
        if self.task is not None:  # the previous stage is done: stop its pulse
            done = self.bar.tasks[-1].total or 1
            self.bar.update(self.task, total=done, completed=done)
        self.task = self.bar.add_task(name, total=total)

    def advance(self, steps: int = 1) -> None:
        if self.task is not None:
            self.bar.advance(self.task, steps)

    def note(self, message: str) -> None:
        from rich.markup import escape

        from fairsel.report.tables import safe_text

        self.console.print(f"[yellow]{escape(safe_text(message))}[/yellow]", markup=True,
                           highlight=False)


class _PlainProgress:
    """The Progress protocol as plain lines (CI logs, pipes): each stage once, and a stage's
    count of steps done at each quarter."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.name = ""
        self.total: int | None = None
        self.done = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def stage(self, name: str, total: int | None = None) -> None:
        self.name, self.total, self.done = name, total, 0
        if not self.quiet:
            _err(f"fairsel: {name}" + (f" (0/{total})" if total else ""))

    def advance(self, steps: int = 1) -> None:
        before, self.done = self.done, self.done + steps
        if self.quiet or not self.total:
            return
        if 4 * self.done // self.total > 4 * before // self.total:
            _err(f"fairsel: {self.name}: {min(self.done, self.total)}/{self.total}")

    def note(self, message: str) -> None:
        if not self.quiet:
            _err(f"fairsel: {message}")


def _fail(exc: BaseException, log_dir: Path | None = None) -> int:
    """The one place that maps an exception to a message and an exit code."""
    if isinstance(exc, FairselError):
        _err(f"fairsel: error: {exc.message}")
        return int(exc.exit_code)
    if isinstance(exc, BrokenPipeError):  # the reader of our output went away (`| head`)
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 — silence the flush at exit
        except OSError:
            pass
        return int(ExitCode.OK)
    if isinstance(exc, Terminated):
        _err("fairsel: terminated (SIGTERM); no output was half-written")
        return int(ExitCode.TERMINATED)
    if isinstance(exc, KeyboardInterrupt):
        _err("fairsel: interrupted; no output was half-written")
        return int(ExitCode.INTERRUPTED)
    log = None
    text = f"fairsel {__version__}\n{''.join(traceback.format_exception(exc))}"
    for folder in [log_dir, Path.cwd()]:
        if folder is None:
            continue
        try:
            from fairsel.report.io import atomic_write_text

            # a temp file renamed over the name: a symlink planted there is replaced,
            # never written through
            log = folder / "fairsel-error.log"
            atomic_write_text(log, text)
            break
        except (OSError, ImportError):
            log = None
    _err(f"fairsel: internal error (a bug): {type(exc).__name__}: {exc}"
         + (f"\nThe full traceback is in {log}" if log else ""))
    return int(ExitCode.INTERNAL)


def _run(fn, log_dir: Path | None = None) -> None:
    try:
        code = fn()
    except click.exceptions.Exit:
        raise
    except (click.ClickException, click.Abort):
        raise
    except BaseException as exc:  # noqa: BLE001 — every failure gets its exit code here
        if isinstance(exc, SystemExit):
            raise
        sys.exit(_fail(exc, log_dir() if callable(log_dir) else log_dir))
    sys.exit(int(code or 0))


class _Group(click.Group):
    def main(self, *args, **kwargs):  # click's usage errors exit 2 already; Ctrl-C must be 130
        try:
            return super().main(*args, standalone_mode=False, **kwargs)
        except click.exceptions.Abort as exc:
            if isinstance(exc.__context__, Terminated):
                _err("fairsel: terminated (SIGTERM)")
                sys.exit(int(ExitCode.TERMINATED))
            _err("fairsel: interrupted")
            sys.exit(int(ExitCode.INTERRUPTED))
        except click.ClickException as exc:
            exc.show()
            sys.exit(int(ExitCode.USAGE))
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)


def _tune_memory() -> None:
    """Make this process's large arrays cheap to get: reuse freed memory, small pages.

    At 10,000,000 rows most of an audit's time was the kernel handing out memory, not the
    computation. glibc's malloc serves every block above 32 MB with its own ``mmap`` and
    unmaps it when freed, so each of numpy's large temporaries (80 MB per float column) is
    fresh memory faulted in and zeroed; turning the per-block ``mmap`` off and the heap
    trimming down keeps freed memory for the next array. numpy also asks for transparent huge
    pages on large arrays, and the kernel may compact memory to find them at the first touch:
    measured here, a 10M-row predictions audit took 7.1 s with them and 4.7 s without
    (``NUMPY_MADVISE_HUGEPAGE``, which a user's own setting overrides). The process is
    short-lived and only the program does this (:func:`run`); a process that imports fairsel
    or invokes ``main`` in-process is left as it is.
    """
    # read when numpy is imported, which has not happened yet: run() calls this first
    os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes
        import platform

        if platform.libc_ver()[0] != "glibc":
            return
        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_max = -1, -4  # from <malloc.h>
        libc.mallopt(m_mmap_max, 0)
        libc.mallopt(m_trim_threshold, 2**31 - 1)
    except (OSError, AttributeError, ValueError):  # pragma: no cover - not glibc after all
        return


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="fairsel")
def main() -> None:
    """fairsel: choose a model fit to deploy when fairness matters."""


def _on_sigterm(signum, frame) -> None:
    """SIGTERM (a CI runner's cancel, ``timeout``) unwinds like Ctrl-C: the staging folder is
    removed, joblib's workers are ended, and the exit code is 143. A second SIGTERM is ignored
    so that the clean-up itself is not cut short."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated()


def _install_signals() -> None:
    if hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, _on_sigterm)


def run() -> None:
    """The ``fairsel`` program (console script and ``python -m fairsel``): the process is
    ours, so its memory is tuned first and SIGTERM handled; ``main`` itself can be invoked
    in-process."""
    _tune_memory()
    _install_signals()
    try:
        main()
    except KeyboardInterrupt as exc:  # outside a command's own handler (click starting up)
        terminated = isinstance(exc, Terminated)
        _err("fairsel: " + ("terminated" if terminated else "interrupted")
             + "; no output was half-written")
        sys.exit(int(ExitCode.TERMINATED if terminated else ExitCode.INTERRUPTED))
    finally:
        # the command is over (its outputs are in place, or were never written). CPython's
        # shutdown, which takes a moment after a report, puts Python signal handlers back to
        # the default action (death by the signal) but keeps SIG_IGN: a SIGTERM or Ctrl-C
        # then must not kill by signal
        for name in ("SIGTERM", "SIGINT"):
            if hasattr(signal, name):
                signal.signal(getattr(signal, name), signal.SIG_IGN)


def _formats(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [f.strip() for f in value.split(",") if f.strip()]


def exit_code_for(result, fail_on: str) -> int:
    """The contract's exit code from an audit result."""
    code = result.verdict.exit_code
    if code == 0 and fail_on == "warn":
        if result.verdict.status == "WARN" or any(
                g.status == "WARN" and g.variant == result.ranking.selected for g in result.gates):
            return int(ExitCode.GATE_FAILED)
    return code


@main.command()
@click.option("--policy", "policy_path", required=True, type=click.Path(path_type=Path),
              help="The policy file (YAML).")
@click.option("--output", type=click.Path(path_type=Path), default=None,
              help="Output folder (default: the policy's report → output).")
@click.option("--format", "formats", default=None,
              help="Comma-separated formats (fairsel list formats); default: the policy's.")
@click.option("--fail-on", type=click.Choice(["error", "warn"]), default="error", show_default=True,
              help="Exit 1 on failed error gates only, or on warnings too.")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Folds fitted in parallel worker processes, at most one per core and per "
                   "task (estimators then use one thread each). fairsel's own analyses use the "
                   "cores the fits leave free, at most 4 threads.")
@click.option("--backend", type=click.Choice(["local", "dask"]), default=None,
              help="Where the fits run: local (fairsel's processes, --jobs) or dask (one task per "
                   "candidate and fold; needs fairsel[dask]). Default: the policy's "
                   "execution → backend, else local.")
@click.option("--scheduler", default=None,
              help="The Dask scheduler's address (tcp://host:8786; implies --backend dask). "
                   "Default: the policy's execution → address, else a local cluster sized to "
                   "the machine.")
@click.option("--strict", is_flag=True, help="Any candidate failure is fatal (exit 4).")
@click.option("--quiet", is_flag=True, help="Print nothing but errors.")
@click.option("--mlflow-uri", default=None,
              help="Log metrics, leaderboard and report files to an MLflow run at this tracking "
                   "URI (needs fairsel[mlflow]).")
def audit(policy_path: Path, output: Path | None, formats: str | None, fail_on: str, jobs: int,
          backend: str, scheduler: str | None, strict: bool, quiet: bool,
          mlflow_uri: str | None) -> None:
    """Train or ingest every candidate, cross-validate, measure, gate, rank, and report."""
    state: dict = {}

    def go() -> int:
        from fairsel.audit import run_audit
        from fairsel.report import render_into
        from fairsel.report.io import ensure_writable, staged
        from fairsel.report.predictions import PredictionsJob

        policy, fmts, templates, out_dir = _checked_policy(policy_path, _formats(formats), output)
        ensure_writable(out_dir)
        state["out"] = out_dir
        where = _backend(policy, backend, scheduler, jobs)
        if mlflow_uri:
            from fairsel.report.mlflow_log import require_mlflow

            require_mlflow()
        progress = _RichProgress() if (_use_rich() and not quiet) else _PlainProgress(quiet)
        with progress, staged(out_dir) as tmp:
            # predictions.parquet is written into the staging folder while the metrics are
            # computed; if the audit fails, the folder and the file go, the old report stays
            job: list[PredictionsJob] = []
            try:
                run = run_audit(policy, progress=progress, jobs=jobs, strict=strict, backend=where,
                                on_predictions=lambda p: job.append(PredictionsJob(p, tmp)))
                names = render_into(run.result, fmts, tmp, templates=templates,
                                    predictions_job=job[0] if job else None, progress=progress)
            finally:
                for j in job:
                    j.join()
        paths = [out_dir / n for n in names]
        if mlflow_uri:
            from fairsel.report.mlflow_log import log_audit

            run_id = log_audit(run.result, out_dir, paths, tracking_uri=mlflow_uri)
            if not quiet:
                _err(f"fairsel: logged to MLflow run {run_id} at {mlflow_uri}")
        _after_render(run.result, out_dir, paths, quiet)
        return exit_code_for(run.result, fail_on)

    _run(go, lambda: state.get("out"))


def _backend(policy, backend: str | None, scheduler: str | None, jobs: int):
    """The backend the options and the policy's ``execution`` choose (options win)."""
    from fairsel.execution import Backend

    if scheduler is not None and backend == "local":
        raise UsageError(f"--scheduler {scheduler}: a scheduler address needs --backend dask "
                         "(or leave --backend out)")
    name = backend or ("dask" if scheduler is not None else policy.execution.backend)
    address = scheduler if scheduler is not None else (
        policy.execution.address if name == policy.execution.backend else None)
    return Backend(name=name, address=address, jobs=jobs)


def _checked_policy(policy_path: Path, formats: list[str] | None = None,
                    output: Path | None = None):
    """What ``audit`` and ``validate`` both check before reading any data, in one place so
    the two never drift: the policy (names and parameter values, importing an estimator's
    library only when needed), the formats, the template folder (sandbox, symlinks), and that
    no input is also an output. Returns ``(policy, formats, templates, out_dir)``."""
    from fairsel.audit import plan
    from fairsel.policy import load_policy
    from fairsel.report import check_formats
    from fairsel.report.html import policy_templates
    from fairsel.report.io import refuse_policy_inputs

    policy = load_policy(policy_path)
    plan(policy)  # every name checked before anything is created on disk
    fmts = check_formats(policy, formats)
    templates = policy_templates(policy)
    out_dir = output or policy.output_dir()
    refuse_policy_inputs(policy, out_dir)  # an input that is an output: nothing written yet
    return policy, fmts, templates, out_dir


def _after_render(result, out_dir: Path, paths: list[Path], quiet: bool) -> None:
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary and (out_dir / "summary.md").exists():
        with open(summary, "a", encoding="utf-8") as fh:
            fh.write((out_dir / "summary.md").read_text(encoding="utf-8") + "\n")
    if os.environ.get("GITHUB_ACTIONS") == "true":
        shown = 0
        # failures before warnings, so the cap of ten never hides a failure behind a warning
        for g in sorted(result.gates, key=lambda g: g.status != "FAIL"):
            if g.status in ("FAIL", "WARN") and shown < 10:
                level = "error" if g.status == "FAIL" else "warning"
                title = _annotation(f"fairsel gate {g.metric} ({g.variant})", prop=True)
                click.echo(f"::{level} title={title}::{_annotation(g.message)}", err=True)
                shown += 1
    if quiet:
        return
    _print_leaderboard(result)
    _err(f"fairsel: wrote {', '.join(p.name for p in paths)} to {out_dir}")


def _print_leaderboard(result) -> None:
    from fairsel.gates import gate_summary
    from fairsel.report.context import ABBREVIATIONS
    from fairsel.report.tables import (
        fmt,
        gate_thresholds,
        leaderboard_columns,
        ordered_variants,
        safe_result,
    )

    result = safe_result(result)
    perf, fair = leaderboard_columns(result)
    near = gate_thresholds(result)
    gates_by = {}
    for g in result.gates:
        gates_by.setdefault(g.variant, []).append(g.status[0] if g.status != "PASS" else "·")
    rows = []
    for v in ordered_variants(result):
        mark = "★ " if v.name == result.ranking.selected else ""
        rows.append([str(v.rank or ""), mark + v.name, v.status]
                    + [fmt(v.performance[m].value, near=near.get(m, ())) if m in v.performance
                       else "—" for m in perf]
                    + [fmt(v.fairness[m].value, near=near.get(m, ())) if m in v.fairness
                       else "—" for m in fair]
                    + ["".join(gates_by.get(v.name, []))])
    verdict = f"{result.verdict.status}: {result.verdict.message}"
    # the ranking's reasons, but not the verdict said again
    details = [r for r in result.ranking.reasons if r != result.verdict.message]
    if result.ranking.selected is None:  # what fails, where, and by how much
        shown = 0
        for v in ordered_variants(result):
            failed = [g for g in result.gates if g.variant == v.name and g.severity == "error"
                      and g.status != "PASS"]
            if failed and shown < 5:
                details.append(f"{v.name}: " + "; ".join(map(gate_summary, failed)))
                shown += 1
        if shown < sum(1 for v in result.variants if v.status not in ("PASS", "WARN")):
            details.append("… the other variants' gates are in summary.md and junit.xml")
    if _use_rich():
        from rich import box
        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table

        from fairsel.report.fmt import wrapped_name

        colours = {"PASS": "green", "WARN": "yellow", "FAIL": "red", "INSUFFICIENT": "magenta",
                   "ERROR": "red"}
        # short metric headers with a legend; when the columns do not fit the terminal they
        # go in several tables, each with the rank and the name, and a name that is still too
        # wide wraps: never cut, so two names never read the same
        short = {m: ABBREVIATIONS.get(m, m) for m in perf + fair}
        header = ["#", "variant", "status"] + [short[m] for m in perf + fair] + ["gates"]
        console = Console(stderr=True)
        width = [max(len(h), *(len(r[i]) for r in rows)) + 3 for i, h in enumerate(header)]
        width[1] = min(width[1], 26)
        fixed = sum(width[:3])
        chunks: list[list[int]] = [[]]
        for i in range(3, len(header)):
            if chunks[-1] and fixed + sum(width[j] for j in chunks[-1]) + width[i] > console.width:
                chunks.append([])
            chunks[-1].append(i)
        for n, chunk in enumerate(chunks):
            table = Table(title=escape(f"fairsel — {result.title}") if n == 0 else None,
                          title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
            cols = [0, 1, 2] + chunk
            for i in cols:
                table.add_column(header[i], justify="left" if i in (1, 2, len(header) - 1)
                                 else "right", overflow="fold", no_wrap=i != 1)
            for r in rows:
                # names are text, not markup: "[demographic_parity]" would vanish as a tag;
                # a long one is broken where its parts meet, not in the middle of a word
                # ("logreg+threshold[equalized_od / ds]" at 100 columns)
                r = [r[0], wrapped_name(r[1], width[1] - 3), *r[2:]]
                cells = [escape(r[i]) for i in cols]
                cells[2] = f"[{colours.get(r[2], 'white')}]{cells[2]}[/]"
                table.add_row(*cells)
            console.print(table)
        legend = [f"{short[m]} = {m}" for m in perf + fair if short[m] != m]
        if legend:
            console.print("; ".join(legend), highlight=False, markup=False)
        console.print(f"[bold {colours.get(result.verdict.status, 'white')}]{escape(verdict)}[/]")
        for reason in details:
            console.print(f"  {reason}", highlight=False, markup=False)
        return
    header = ["#", "variant", "status"] + perf + fair + ["gates"]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths))
    _err(line)
    _err("  ".join("-" * w for w in widths))
    for r in rows:
        _err("  ".join(c.ljust(w) for c, w in zip(r, widths)))
    _err(verdict)
    for reason in details:
        _err(f"  {reason}")


@main.command()
@click.option("--policy", "policy_path", required=True, type=click.Path(path_type=Path))
def validate(policy_path: Path) -> None:
    """Check the policy, the data and every candidate as the audit would, without training."""

    def go() -> int:
        from fairsel.audit import build_candidates, split_rows
        from fairsel.data import dataset_files, load_data
        from fairsel.report.io import check_output_path

        # the policy's output folder, as audit checks it (without --output): nothing created
        policy, _, _, out_dir = _checked_policy(policy_path)
        check_output_path(out_dir)
        files = dataset_files(policy)
        if files is not None:  # a folder or glob, read in chunks by the audit
            from fairsel.chunked import check_dataset

            _err(f"{policy_path}: valid — {check_dataset(policy, files)}")
            return 0
        data = load_data(policy)
        _, _, folds = split_rows(policy, data)  # the holdout and the folds, as audit makes them
        build_candidates(policy, data)  # saved models and predictions files, as audit does
        _err(f"{policy_path}: valid — {data.n_rows} rows used of {data.rows_read}, "
             f"{len(data.features)} features, {len(policy.candidates)} candidate(s), "
             f"{int(folds.max()) + 1} folds")
        for reason, count in data.excluded:
            _err(f"  excluded {count} row(s): {reason}")
        for part in data.partitions:
            import numpy as np

            n = np.bincount(part.codes(data.atoms), minlength=part.n_groups)
            groups = ", ".join(f"{lab} {int(c)}" + (" (small)" if c < policy.min_group_size else "")
                               for lab, c in zip(part.labels, n))
            _err(f"  {part.name}: {groups}")
        return 0

    _run(go)


@main.command()
@click.argument("results", type=click.Path(path_type=Path))
@click.option("--format", "formats", default=None, help="Comma-separated formats.")
@click.option("--output", type=click.Path(path_type=Path), default=None,
              help="Output folder (default: the folder of RESULTS).")
@click.option("--templates", "templates_dir", type=click.Path(path_type=Path), default=None,
              help="A folder of report templates overriding the shipped ones (never taken from "
                   "RESULTS).")
def render(results: Path, formats: str | None, output: Path | None,
           templates_dir: Path | None) -> None:
    """Rebuild reports from a saved results.json, without retraining."""

    def go() -> int:
        from fairsel.report import FORMATS
        from fairsel.report import render as do_render
        from fairsel.report.html import check_templates, embedded_templates, template_folder
        from fairsel.results import load_results

        result = load_results(results)
        templates, named = None, embedded_templates(result)
        if templates_dir is not None:
            templates = template_folder(templates_dir, base=None, where="--templates")
            check_templates(templates)
        elif named:
            _err(f"fairsel: note: {results} names a template folder (policy → report → "
                 f"templates: {named[:200]!r}); it was ignored, since a results "
                 "file never chooses the templates: the shipped ones are used. To use that "
                 "folder, check its files and pass --templates DIR")
        fmts = _formats(formats) or list(result.policy.get("report", {}).get("formats", ["html"]))
        for f in fmts:
            if f not in FORMATS:
                raise UsageError(f"--format: {FORMATS.unknown_message(f)}")
        out = output or results.parent
        progress = _RichProgress() if _use_rich() else _PlainProgress(quiet=False)
        with progress:
            paths = do_render(result, fmts, out, templates=templates, progress=progress)
        _err(f"fairsel: wrote {', '.join(p.name for p in paths)} to {out}")
        return 0

    _run(go, lambda: output or results.parent)


@main.command()
@click.argument("baseline", type=click.Path(path_type=Path))
@click.argument("candidate", type=click.Path(path_type=Path))
@click.option("--policy", "policy_path", type=click.Path(path_type=Path), default=None,
              help="Take the allowances (compare: max_drop, max_increase, judge) from this "
                   "policy (default: the policy embedded in CANDIDATE; with none set, fairsel's "
                   "default allowances apply).")
@click.option("--output", type=click.Path(path_type=Path), default=None,
              help="Where to write comparison.md and comparison.json (default: CANDIDATE's folder).")
@click.option("--baseline-variant", default=None, help="Variant of BASELINE to compare "
              "(default: its selected variant).")
@click.option("--candidate-variant", default=None, help="Variant of CANDIDATE to compare "
              "(default: its selected variant).")
@click.option("--fail-on", type=click.Choice(["error", "warn"]), default="error", show_default=True,
              help="With compare → judge: uncertainty, exit 1 on regressions shown beyond the "
                   "allowance only, or also on those within the uncertainty (WARN).")
@click.option("--allow-different-data", is_flag=True,
              help="Compare audits whose data, target, favorable value or protected attributes "
                   "differ (refused otherwise); every output then says so.")
@click.option("--quiet", is_flag=True, help="Print nothing but errors (and the "
              "--allow-different-data warning).")
def compare(baseline: Path, candidate: Path, policy_path: Path | None, output: Path | None,
            baseline_variant: str | None, candidate_variant: str | None, fail_on: str,
            allow_different_data: bool, quiet: bool) -> None:
    """Gate a new model version (CANDIDATE.json) against the one in production (BASELINE.json)."""

    def go() -> int:
        from fairsel.compare import allowances_of, comparison_markdown, different_data_line
        from fairsel.compare import compare as do_compare
        from fairsel.report.io import atomic_write_text, ensure_writable
        from fairsel.results import load_results

        base, cand = load_results(baseline), load_results(candidate)
        if policy_path is not None:
            from fairsel.policy import load_policy

            allowances, source = load_policy(policy_path).compare, str(policy_path)
        else:
            allowances, source = allowances_of(cand), f"the policy in {candidate}"
        cmp = do_compare(base, cand, allowances, allowances_from=source,
                         baseline_variant=baseline_variant, candidate_variant=candidate_variant,
                         allow_different_data=allow_different_data,
                         sources=(str(baseline), str(candidate)))
        out = output or candidate.parent
        ensure_writable(out)
        text = comparison_markdown(cmp)
        atomic_write_text(out / "comparison.md", text)
        atomic_write_text(out / "comparison.json", cmp.model_dump_json(indent=2) + "\n")
        summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if summary:
            with open(summary, "a", encoding="utf-8") as fh:
                fh.write(text + "\n")
        if os.environ.get("GITHUB_ACTIONS") == "true":
            flagged = [c for c in cmp.changes if c.status in ("FAIL", "WARN")]
            for c in flagged[:10]:
                level = "error" if c.status == "FAIL" else "warning"
                title = _annotation(f"fairsel compare {c.metric}", prop=True)
                click.echo(f"::{level} title={title}::{_annotation(c.message)}", err=True)
        if not quiet:
            _err(text.rstrip())
            _err(f"fairsel: wrote comparison.md, comparison.json to {out}")
        different = different_data_line(cmp)
        if different:
            _err(f"fairsel: warning: {different}")
        return cmp.exit_code(fail_on)

    _run(go, output)


def _annotation(text: str, prop: bool = False) -> str:
    """Text made safe for a GitHub Actions workflow command (its own escaping; a property
    value such as ``title`` also escapes ``:`` and ``,``)."""
    from fairsel.report.tables import safe_text

    text = safe_text(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


@main.command(name="list")
@click.argument("what", type=click.Choice(["metrics", "estimators", "mitigations", "formats",
                                           "compliance"]))
def list_(what: str) -> None:
    """What names a policy may use, each with a one-line meaning."""
    if what == "metrics":
        from fairsel.metrics import METRICS as reg
    elif what == "estimators":
        from fairsel.candidates import ESTIMATORS as reg
    elif what == "mitigations":
        from fairsel.mitigation import MITIGATIONS as reg
    elif what == "compliance":
        from fairsel.policy.compliance import TEMPLATES as reg
    else:
        from fairsel.report import FORMATS as reg
    names = reg.names()
    width = max((len(n) for n in names), default=0)
    for name in names:
        click.echo(f"{name.ljust(width)}  {reg.summary(name)}")
    if what == "estimators":
        click.echo(f"{'lightgbm'.ljust(width)}  (kind: lightgbm) LightGBM's LGBMClassifier")
    if what == "metrics":
        import textwrap

        from fairsel.metrics.catalog import UNDEFINED_RATES_NOTE

        # continuation lines indented: no line of the note starts like a metric's name
        click.echo("\n" + textwrap.fill(UNDEFINED_RATES_NOTE, width=96, subsequent_indent="  "))


@main.command()
@click.argument("what", type=click.Choice(["policy", "results"]))
def schema(what: str) -> None:
    """The JSON Schema of the policy file or of results.json (docs/policy.md and
    docs/results.md are made from the same schemas)."""
    from fairsel.docs import json_schema

    click.echo(json.dumps(json_schema(what), indent=2, sort_keys=True))


@main.command()
@click.argument("data", type=click.Path(path_type=Path))
@click.option("--target", required=True, help="The outcome column.")
@click.option("--favorable", default=None,
              help="The target value that is the favorable outcome. Without it, init chooses "
                   "only when the values say it (good/bad, approved/denied, pass/fail, ...; or "
                   "yes/no, 1/0, true/false on a target whose name is not an adverse event such "
                   "as *recid*, default or churn), and otherwise stops and lists the values.")
@click.option("--output", type=click.Path(path_type=Path), default=None,
              help="Where to write the policy (default: <data name>.policy.yaml here).")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(data: Path, target: str, favorable: str | None, output: Path | None, force: bool) -> None:
    """Write a starter policy for a dataset."""

    def go() -> int:
        from fairsel.starter import starter_policy

        out = output or Path(f"{data.stem}.policy.yaml")
        if out.exists() and not force:
            raise UsageError(f"{out}: exists already; use --force to overwrite or --output")
        text, notes = starter_policy(data, target=target, favorable=favorable, policy_path=out)
        from fairsel.report.io import atomic_write_text

        atomic_write_text(out, text)
        _err(f"fairsel: wrote {out}")
        for n in notes:
            _err(f"  {n}")
        return 0

    _run(go)


if __name__ == "__main__":  # pragma: no cover
    main()
