"""Renderers: every output file is a function of an AuditResult (and the predictions)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from fairsel.progress import NullProgress, Progress
from fairsel.registry import Registry
from fairsel.report.chart_jobs import shared_charts
from fairsel.report.io import naming, staged
from fairsel.results import AuditResult

if TYPE_CHECKING:
    from fairsel.report.predictions import PredictionsJob


@dataclass(frozen=True)
class Format:
    name: str
    files: tuple[str, ...]
    writer: str  # "module:function" taking (result, folder) and returning the paths written
    templates: bool = False  # the writer also takes ``templates=`` (a user template folder)


FORMATS: Registry[Format] = Registry("report format", "fairsel list formats")
for _f, _s in [
    (Format("json", ("results.json", "leaderboard.csv"), "fairsel.report.machine:write_json"),
     "results.json (everything, with schema_version) and leaderboard.csv"),
    (Format("markdown", ("summary.md",), "fairsel.report.machine:write_markdown"),
     "summary.md: the verdict and leaderboard in Markdown"),
    (Format("junit", ("junit.xml",), "fairsel.report.machine:write_junit"),
     "junit.xml: one test case per gate × variant, for CI dashboards"),
    (Format("html", ("report.html",), "fairsel.report.html:write_html", True),
     "report.html: the audit report, one self-contained file"),
    (Format("pdf", ("report.pdf",), "fairsel.report.pdf:write_pdf", True),
     "report.pdf: the audit report as a paginated compliance document"),
]:
    FORMATS.register(_f.name, _f, summary=_s)


def check_formats(policy, formats: list[str] | None = None) -> list[str]:
    """The formats to write (``--format`` or the policy's), each checked against FORMATS.

    Raises
    ------
    PolicyError
        An unknown name in ``report.formats`` (with its line) or in ``--format``.
    """
    from fairsel.errors import PolicyError
    from fairsel.policy import locate

    chosen = list(formats) if formats is not None else list(policy.report.formats)
    problems = []
    for i, fmt in enumerate(chosen):
        if fmt not in FORMATS:
            problems.append(f"--format: {FORMATS.unknown_message(fmt)}" if formats is not None
                            else locate(policy, ("report", "formats", i),
                                        FORMATS.unknown_message(fmt)))
    if problems:
        raise PolicyError("\n".join(problems))
    return chosen


def output_names() -> list[str]:
    """Every file name an audit or a render may write into an output folder."""
    names = {"predictions.parquet"}
    for name in FORMATS.names():
        names.update(FORMATS.get(name).files)
    return sorted(names)


def _writer(name: str) -> Callable[[AuditResult, Path], list[Path]]:
    import importlib

    module, func = FORMATS.get(name).writer.split(":")
    return getattr(importlib.import_module(module), func)


def render(result: AuditResult, formats: list[str] | tuple[str, ...], out_dir: Path, *,
           predictions=None, templates: Path | None = None,
           progress: Progress | None = None) -> list[Path]:
    """Write the requested formats (results.json and leaderboard.csv always) atomically.

    ``predictions`` (an :class:`fairsel.audit.AuditRun`-like object with ``row_ids``,
    ``folds``, ``y_true`` and ``predictions``) adds ``predictions.parquet``. ``templates``: a
    user template folder for the HTML and PDF report, named by this run (the policy being
    audited or ``--templates``), never by the result. ``progress`` is told each file as it is
    written.
    """
    with staged(Path(out_dir)) as tmp:
        names = render_into(result, formats, tmp, predictions=predictions, templates=templates,
                            progress=progress)
    return [Path(out_dir) / n for n in names]


_FROZE_AFTER_WRITING = False


@contextmanager
def no_gc_pauses() -> Iterator[None]:
    """While writing the outputs, Python's cyclic garbage collector does not run.

    Laying out a report allocates hundreds of thousands of small objects (styles, boxes, text
    runs) that live until the file is written; each allocation burst made the collector walk
    every live object again, which was 25-30 % of a PDF's time (lending: 1.1 of 3.6 s of
    WeasyPrint, mitigation 2.3 of 9.1 s) and 10-20 % of the HTML's. Reference counting still
    frees everything that is not in a cycle. A caller that had the collector off keeps it off.

    Afterwards the objects of that burst are frozen (``gc.freeze``) before the collector is
    back on: otherwise its first pass walks all of them once more (0.4 s after lending's PDF,
    about 1 s after mitigation's), and when ``fairsel render`` ends right after, so does the
    interpreter's final collection, only to free memory the process is about to give back.
    The cycles among them (a few tens of MB for a 78-page PDF) are kept until the next report
    is written, which unfreezes and collects them first, so a process that writes many
    reports holds at most one report's garbage. A caller that froze objects itself is left alone (its frozen
    set is neither grown nor released).
    """
    import gc

    global _FROZE_AFTER_WRITING
    if _FROZE_AFTER_WRITING:
        gc.unfreeze()
        _FROZE_AFTER_WRITING = False
        gc.collect()
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            if gc.get_freeze_count() == 0:
                gc.freeze()
                _FROZE_AFTER_WRITING = True
            gc.enable()


def render_into(result: AuditResult, formats: list[str] | tuple[str, ...], tmp: Path, *,
                predictions=None, predictions_job: PredictionsJob | None = None,
                templates: Path | None = None, progress: Progress | None = None) -> list[str]:
    """Write the outputs into the staging folder ``tmp`` (see :func:`fairsel.report.io.staged`);
    the names written. ``predictions_job``: predictions.parquet already being written there;
    ``templates``: the user template folder (see :func:`render`); ``progress`` is told each
    file as its writing starts (a stage "writing report: report.pdf"). The collector pauses
    meanwhile (:func:`no_gc_pauses`)."""
    with no_gc_pauses():
        return _render_into(result, formats, tmp, predictions=predictions,
                            predictions_job=predictions_job, templates=templates,
                            progress=progress)


def _render_into(result: AuditResult, formats: list[str] | tuple[str, ...], tmp: Path, *,
                 predictions, predictions_job: PredictionsJob | None, templates: Path | None,
                 progress: Progress | None) -> list[str]:
    from fairsel.report.machine import write_json, write_leaderboard

    progress = progress or NullProgress()
    written: list[str] = []
    progress.stage("writing report: results.json")
    with naming(tmp / "results.json"):
        written += [p.name for p in write_json(result, tmp)]
    progress.stage("writing report: leaderboard.csv")
    with naming(tmp / "leaderboard.csv"):
        written += [p.name for p in write_leaderboard(result, tmp)]
    if predictions is not None and predictions_job is None:
        from fairsel.report.predictions import write_predictions

        progress.stage("writing report: predictions.parquet")
        written += [p.name for p in write_predictions(predictions, tmp)]
    # report.html and report.pdf draw the same charts: written together, each is drawn once
    drawing = [n for n in formats if n != "json" and FORMATS.get(n).templates]
    with shared_charts() if len(drawing) > 1 else nullcontext():
        for name in formats:
            if name == "json":
                continue
            options = {"templates": templates} if FORMATS.get(name).templates else {}
            progress.stage(f"writing report: {', '.join(FORMATS.get(name).files)}")
            with naming(tmp / FORMATS.get(name).files[0]):  # a failed write says which file
                written += [p.name for p in _writer(name)(result, tmp, **options)]
    if predictions_job is not None:
        progress.stage("writing report: predictions.parquet")
        written += [p.name for p in predictions_job.wait()]
    return written


__all__ = ["FORMATS", "Format", "check_formats", "no_gc_pauses", "output_names", "render",
           "render_into"]
