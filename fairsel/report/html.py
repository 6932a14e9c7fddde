"""report.html: the audit report as one self-contained HTML file (also the PDF's source).

The page is rendered from Jinja2 templates shipped in ``fairsel/report/templates`` with
autoescaping on and undefined variables an error. A policy may name a folder under
``report → templates`` whose files replace the shipped ones of the same name (any of them:
``report.html.j2``, a section such as ``_cover.html.j2``, or ``report.css``).
"""

from __future__ import annotations

from pathlib import Path

from fairsel.errors import UsageError
from fairsel.results import AuditResult

TEMPLATES = Path(__file__).parent / "templates"
MAIN_TEMPLATE = "report.html.j2"


def templates_folder(result: AuditResult) -> Path | None:
    """The policy's template override folder (``report → templates``), resolved, or None.

    The key is relative to the policy file (``provenance.policy_path``), as every path in a
    policy is.

    Raises
    ------
    UsageError
        The folder does not exist.
    """
    rep = result.policy.get("report") or {}
    name = rep.get("templates")
    if not name:
        return None
    policy_path = Path(result.provenance.policy_path)
    folder = Path(name).expanduser()
    if not folder.is_absolute():
        folder = policy_path.parent / folder
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise UsageError(
            f"{policy_path}: report → templates: '{name}' {what} (looked for {folder}); "
            f"expected a folder of Jinja2 templates that override fairsel's "
            f"({', '.join(sorted(p.name for p in TEMPLATES.iterdir() if p.is_file()))}); "
            "create it or remove the key")
    return folder


def _environment(user_folder: Path | None):
    import jinja2

    loaders: list[jinja2.BaseLoader] = []
    if user_folder is not None:
        loaders.append(jinja2.FileSystemLoader(str(user_folder)))
    loaders.append(jinja2.FileSystemLoader(str(TEMPLATES)))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=True,                  # every string from data or policy is escaped
        undefined=jinja2.StrictUndefined,  # a misspelt variable is an error, not a blank
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["breakable"] = breakable
    return env


def breakable(name: object) -> str:
    """Let a long metric name wrap after its underscores (a zero-width space; still escaped)."""
    return str(name).replace("_", "_\u200b")


def _template_error(exc: Exception, user_folder: Path, result: AuditResult) -> UsageError:
    """A user's template failed: say which file and line, and what went wrong."""
    import traceback

    where = ""
    filename = getattr(exc, "filename", None)
    lineno = getattr(exc, "lineno", None)
    if filename is None:
        for frame in reversed(traceback.extract_tb(exc.__traceback__)):
            if frame.filename.endswith((".j2", ".html", ".css")) or \
                    str(user_folder) in frame.filename:
                filename, lineno = frame.filename, frame.lineno
                break
    if filename:
        where = f"{filename}:{lineno}: " if lineno else f"{filename}: "
    return UsageError(f"{result.provenance.policy_path}: report → templates: {where}"
                      f"{type(exc).__name__}: {exc} (templates in {user_folder})")


#: The last view model built, so that writing report.html then report.pdf for one result draws
#: the charts once. Results are frozen, so the same object always gives the same context.
_LAST: tuple[AuditResult, dict] | None = None


def _context(result: AuditResult, with_charts: bool) -> dict:
    global _LAST
    from fairsel.report.context import build_context

    if with_charts and _LAST is not None and _LAST[0] is result:
        return _LAST[1]
    ctx = build_context(result, with_charts=with_charts)
    if with_charts:
        _LAST = (result, ctx)
    return ctx


def render_html(result: AuditResult, *, target: str = "html", with_charts: bool = True) -> str:
    """The report as an HTML string: the same result always gives the same string.

    ``target="pdf"`` gives the PDF's source: the same document, with each chart as an
    ``<img>`` of a ``data:`` URI instead of inline SVG (WeasyPrint then draws it as one image
    instead of styling every SVG element as HTML, which is many times slower).
    """
    if target not in ("html", "pdf"):
        raise ValueError(f"target must be 'html' or 'pdf', not {target!r}")
    import jinja2

    user = templates_folder(result)
    env = _environment(user)
    ctx = _context(result, with_charts)
    try:
        html = env.get_template(MAIN_TEMPLATE).render(**ctx, target=target)
    except (jinja2.TemplateError, TypeError, ValueError, KeyError, AttributeError) as exc:
        if user is None:
            raise
        raise _template_error(exc, user, result) from None
    return html


def write_html(result: AuditResult, out_dir: Path) -> list[Path]:
    """Write ``report.html`` into ``out_dir``; return its path."""
    path = Path(out_dir) / "report.html"
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(render_html(result))
    return [path]


__all__ = ["MAIN_TEMPLATE", "TEMPLATES", "render_html", "templates_folder", "write_html"]
