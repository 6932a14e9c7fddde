"""report.html: the audit report as one self-contained HTML file (also the PDF's source).

The page is rendered from Jinja2 templates shipped in ``fairsel/report/templates`` with
autoescaping on and undefined variables an error. A folder of user templates may replace the
shipped files of the same name (any of them: ``report.html.j2``, a section such as
``_cover.html.j2``, or ``report.css``). That folder is named by the policy of the audit being
run (``report → templates``) or by ``fairsel render --templates DIR``; it is never taken from
a results file.

Templates run no code: they render in Jinja2's immutable sandbox with only the view model
fairsel passes in (no ``lipsum``, ``cycler``, ``joiner`` or ``namespace``, no attribute that
starts with ``_``, no method that changes a list or dict). A template file that resolves
outside its folder (a symlink to ``/etc/passwd``, an include of ``../x``) is refused, and
every failure of a user template is a :class:`~fairsel.errors.UsageError` (exit 2) naming the
template file and line.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from fairsel.errors import UsageError
from fairsel.report.fmt import name_parts
from fairsel.results import AuditResult

if TYPE_CHECKING:
    from fairsel.policy import Policy

TEMPLATES = Path(__file__).parent / "templates"
MAIN_TEMPLATE = "report.html.j2"
#: Files of a template folder that ``check_templates`` compiles (the others are only checked
#: for symlinks: any file can be included by name, and the sandbox guards it when rendered).
TEMPLATE_SUFFIXES = (".j2", ".jinja", ".jinja2", ".html", ".htm", ".css", ".txt", ".svg", ".xml")
#: Jinja's default globals a report does not use; each has been a way out of the sandbox
#: (``lipsum.__globals__``, ``cycler.__init__.__globals__``) or a way to keep state.
_REMOVED_GLOBALS = ("lipsum", "cycler", "joiner", "namespace", "dict")
#: The longest string or list a template may build with ``*`` and the largest ``**`` exponent.
MAX_REPEAT = 1_000_000
MAX_EXPONENT = 1_000
MAX_BITS = 100_000
#: The most files and folders a template folder may hold (it is walked and checked in full).
MAX_TEMPLATE_FILES = 500


def _shipped_names() -> str:
    return ", ".join(sorted(p.name for p in TEMPLATES.iterdir() if p.is_file()))


def template_folder(name: str | os.PathLike, *, base: Path | None, where: str) -> Path:
    """The template folder ``name`` (relative to ``base``), checked to exist.

    ``where`` says who named it, for the message: ``"policies/x.yaml: report → templates"``
    or ``"--templates"``.

    Raises
    ------
    UsageError
        The folder does not exist or is not a folder.
    """
    folder = Path(name).expanduser()
    if not folder.is_absolute() and base is not None:
        folder = base / folder
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise UsageError(
            f"{where}: '{name}' {what} (looked for {folder}); expected a folder of Jinja2 "
            f"templates that override fairsel's ({_shipped_names()}); create it or "
            + ("remove the key" if where != "--templates" else "name another folder"))
    return folder


def policy_templates(policy: Policy) -> Path | None:
    """The template folder named by the policy of this run (``report → templates``), checked
    with :func:`check_templates`, or None. ``audit`` and ``validate`` call this before any
    training."""
    if not policy.report.templates:
        return None
    folder = template_folder(policy.report.templates, base=policy.path.parent,
                             where=f"{policy.path}: report → templates")
    check_templates(folder)
    return folder


def embedded_templates(result: AuditResult) -> str | None:
    """The template folder a results file's embedded policy names (never used; see render)."""
    rep = result.policy.get("report") if isinstance(result.policy, dict) else None
    name = rep.get("templates") if isinstance(rep, dict) else None
    return str(name) if name else None


def _confined_loader(folder: Path):
    """A loader of the files of ``folder`` that refuses any that resolve outside it."""
    import jinja2
    from jinja2.loaders import split_template_path

    root = folder.resolve()

    class ConfinedLoader(jinja2.BaseLoader):
        def get_source(self, environment, template):
            if any(part == ".." for part in template.replace("\\", "/").split("/")):
                raise jinja2.exceptions.SecurityError(
                    f"'{template}' leaves the template folder {root}; templates may include "
                    "only files inside it")
            pieces = split_template_path(template)
            path = root.joinpath(*pieces)
            if not os.path.lexists(path):
                raise jinja2.TemplateNotFound(template)
            real = check_inside(path, root)
            try:
                source = _read_regular(real).decode("utf-8")
            except UnicodeDecodeError as exc:
                raise UsageError(f"{path}: a report template must be UTF-8 text; byte "
                                 f"{exc.start} is not ({exc.reason})") from None
            except OSError as exc:
                raise UsageError(f"{path}: cannot read the template ({exc.strerror})") from None
            mtime = os.path.getmtime(path)
            return source, str(path), lambda: os.path.getmtime(path) == mtime

    return ConfinedLoader()


def _read_regular(real: Path) -> bytes:
    """The bytes of ``real`` (already resolved), opened without following a symlink swapped in
    since and without blocking on a FIFO; anything but a regular file is refused."""
    import stat

    fd = os.open(real, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise UsageError(f"{real}: not a regular file; a report template folder holds only "
                             "text files and folders")
        return fh.read()


def check_inside(path: Path, root: Path) -> Path:
    """``path`` resolved; refused unless it is a regular file or folder inside ``root``."""
    real = Path(os.path.realpath(path))
    if real != root and not real.is_relative_to(root):
        raise UsageError(f"{path}: a symlink that leads outside the template folder {root} "
                         "(to a file elsewhere); report templates may only use files inside "
                         "their folder: copy the file there instead of linking it")
    if not (real.is_file() or real.is_dir()):
        raise UsageError(f"{path}: not a regular file; a report template folder holds only "
                         "text files and folders")
    return real


def _environment(user_folder: Path | None):
    import jinja2
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class ReportEnvironment(ImmutableSandboxedEnvironment):
        intercepted_binops = frozenset(["*", "**"])

        def call_binop(self, context, operator, left, right):
            if operator == "**" and isinstance(right, (int, float)) and (
                    abs(right) > MAX_EXPONENT or (isinstance(left, int) and
                                                  left.bit_length() * abs(right) > MAX_BITS)):
                raise jinja2.sandbox.SecurityError(
                    f"a power above {MAX_EXPONENT} or of more than {MAX_BITS:,} bits is not "
                    "allowed in a report template")
            if operator == "*":
                for seq, n in ((left, right), (right, left)):
                    if isinstance(seq, (str, list, tuple)) and isinstance(n, int) and \
                            len(seq) * n > MAX_REPEAT:
                        raise jinja2.sandbox.SecurityError(
                            f"a string or list longer than {MAX_REPEAT:,} is not allowed in "
                            "a report template")
            return super().call_binop(context, operator, left, right)

    loaders: list[jinja2.BaseLoader] = []
    if user_folder is not None:
        loaders.append(_confined_loader(user_folder))
    loaders.append(jinja2.FileSystemLoader(str(TEMPLATES)))
    env = ReportEnvironment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=True,                  # every string from data or policy is escaped
        undefined=jinja2.StrictUndefined,  # a misspelt variable is an error, not a blank
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    for name in _REMOVED_GLOBALS:
        env.globals.pop(name, None)
    env.filters["breakable"] = breakable
    env.filters["variant_name"] = variant_name
    from fairsel.report.tables import (dense, dense_fairness, dense_pairs,
                                         dense_performance, dense_rates, dense_slices,
                                         dense_width)

    env.filters["dense"] = dense
    env.filters["dense_width"] = dense_width
    env.filters["dense_rates"] = dense_rates
    env.filters["dense_fairness"] = dense_fairness
    env.filters["dense_performance"] = dense_performance
    env.filters["dense_slices"] = dense_slices
    env.filters["dense_pairs"] = dense_pairs
    return env


def breakable(name: object) -> str:
    """Let a long metric name wrap after its underscores (a zero-width space; still escaped)."""
    return str(name).replace("_", "_\u200b")


def variant_name(name: object) -> str:
    """Let a variant name wrap where its parts meet — after ``+``, before ``[``, after ``_``
    and ``,`` (a zero-width space; still escaped) — instead of in the middle of a word."""
    return "\u200b".join(name_parts(name))


def _template_error(exc: BaseException, user_folder: Path) -> UsageError:
    """A user's template failed: say which file and line, and what went wrong."""
    import traceback

    if isinstance(exc, UsageError):  # from the loader: already names the file
        return UsageError(f"report templates: {exc.message} (templates in {user_folder})")
    where = ""
    filename = getattr(exc, "filename", None)
    lineno = getattr(exc, "lineno", None)
    if filename is None:
        for frame in reversed(traceback.extract_tb(exc.__traceback__)):
            if frame.filename.endswith(TEMPLATE_SUFFIXES) or \
                    frame.filename.startswith(str(user_folder)) or \
                    frame.filename.startswith(str(user_folder.resolve())):
                filename, lineno = frame.filename, frame.lineno
                break
    if filename:
        where = f"{filename}:{lineno}: " if lineno else f"{filename}: "
    kind = type(exc).__name__
    text = str(exc)
    if kind == "SecurityError":
        text += " (report templates render in a sandbox: they can use the report's values, not " \
                "Python objects' internals)"
    return UsageError(f"report templates: {where}{kind}: {text} (templates in {user_folder})")


#: Names Jinja itself defines inside loops, macros, call blocks and blocks.
_JINJA_NAMES = ("loop", "caller", "varargs", "kwargs", "self", "super")


def _names_the_report_passes(env) -> set[str]:
    """Every top-level name a template may read: the view model's keys that the shipped
    templates use, ``target``, the globals left (``range``) and the names they import."""
    from jinja2 import meta

    names = {"target", *env.globals, *_JINJA_NAMES}
    for path in TEMPLATES.iterdir():
        if path.is_file():
            names |= meta.find_undeclared_variables(env.parse(path.read_text(encoding="utf-8")))
    return names


def _static_problems(ast, allowed: set[str]) -> list[tuple[int, str]]:
    """(line, problem) for what the sandbox would refuse when rendering, found without a
    result: a name the report does not pass (``lipsum``, ``config``) or an internal attribute
    (``__class__``, ``_TemplateReference__context``)."""
    from jinja2 import nodes

    found: list[tuple[int, str]] = []
    for node in ast.find_all(nodes.Name):
        if node.ctx == "load" and node.name not in allowed:
            found.append((node.lineno, f"UndefinedError: '{node.name}' is not a value the "
                          "report passes to its templates"))
    for node in ast.find_all((nodes.Getattr, nodes.Getitem, nodes.Filter)):
        if isinstance(node, nodes.Getattr):
            key = node.attr
        elif isinstance(node, nodes.Getitem):
            key = node.arg.value if isinstance(node.arg, nodes.Const) else None
        else:
            key = node.args[0].value if node.name == "attr" and node.args and \
                isinstance(node.args[0], nodes.Const) else None
        if isinstance(key, str) and key.startswith("_"):
            found.append((node.lineno, f"SecurityError: access to the internal attribute "
                          f"'{key}' is not allowed (report templates render in a sandbox)"))
    return sorted(found)


def check_templates(folder: Path) -> None:
    """Check a template folder before any training: every file and sub-folder stays inside it,
    every template file (:data:`TEMPLATE_SUFFIXES`) compiles, reads only names the report
    passes (``lipsum``, ``cycler``, ``config`` are not) and no internal attribute (a name that
    starts with ``_``). What depends on the result's values is checked when rendering.

    Raises
    ------
    UsageError
        A symlink that leads outside the folder, a file that is not a regular file, a
        template that is not UTF-8, does not compile or would be refused by the sandbox (with
        its file and line).
    """
    from jinja2 import nodes

    root = Path(folder).resolve()
    env = _environment(Path(folder))
    parsed: dict[str, object] = {}
    seen = 0
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        seen += len(dirnames) + len(filenames)
        if seen > MAX_TEMPLATE_FILES:
            raise UsageError(f"{folder}: holds more than {MAX_TEMPLATE_FILES} files and folders; "
                             "a report template folder holds the few templates that replace "
                             f"fairsel's ({_shipped_names()}): name a folder of its own")
        for name in sorted(dirnames) + sorted(filenames):
            check_inside(Path(dirpath) / name, root)
        for dname in list(dirnames):  # a linked folder (inside, checked above) is not walked
            if os.path.islink(os.path.join(dirpath, dname)):
                dirnames.remove(dname)
        for name in sorted(filenames):
            if not name.endswith(TEMPLATE_SUFFIXES):
                continue
            rel = (Path(dirpath) / name).relative_to(folder).as_posix()
            try:
                source, filename, _ = env.loader.get_source(env, rel)
                env.compile(source, rel, filename)
                parsed[filename] = env.parse(source, rel, filename)
            except Exception as exc:  # noqa: BLE001 — any failure of a user file is exit 2
                raise _template_error(exc, Path(folder)) from None
    # names a user template sets (or imports) may be read by the others it includes
    allowed = _names_the_report_passes(env)
    for ast in parsed.values():
        allowed |= {n.name for n in ast.find_all(nodes.Name) if n.ctx in ("store", "param")}
        allowed |= {n.target for n in ast.find_all(nodes.Import)}
        allowed |= {n if isinstance(n, str) else n[-1]
                    for imp in ast.find_all(nodes.FromImport) for n in imp.names}
        allowed |= {n.name for n in ast.find_all(nodes.Macro)}
    for filename, ast in parsed.items():
        problems = _static_problems(ast, allowed)
        if problems:
            line, problem = problems[0]
            raise UsageError(f"report templates: {filename}:{line}: {problem} (templates in "
                             f"{folder})")


#: The last view model built, so that rendering one result twice builds it once. Results are
#: frozen, so the same object always gives the same context. A view model built while a PDF's
#: charts are drawn elsewhere (:mod:`fairsel.report.chart_jobs`) holds placeholders only that
#: renderer serves, and one built without holds the drawings: each is reused only in the same
#: setting, so that report.pdf is the same bytes whether report.html was written first or not.
_LAST: tuple[AuditResult, dict, object] | None = None


def _context(result: AuditResult, with_charts: bool) -> dict:
    global _LAST
    from fairsel.report.chart_jobs import active
    from fairsel.report.context import build_context

    jobs = active()
    if with_charts and _LAST is not None and _LAST[0] is result and _LAST[2] is jobs:
        return _LAST[1]
    ctx = build_context(result, with_charts=with_charts)
    if with_charts:
        _LAST = (result, ctx, jobs)
    return ctx


def render_html(result: AuditResult, *, target: str = "html", with_charts: bool = True,
                templates: Path | None = None) -> str:
    """The report as an HTML string: the same result always gives the same string.

    ``templates``: a folder of user templates overriding the shipped ones (from the policy of
    this run, :func:`policy_templates`, or from ``fairsel render --templates``), or None.

    ``target="pdf"`` gives the PDF's source: the same document, with each chart as an
    ``<img>`` of a ``data:`` URI instead of inline SVG (WeasyPrint then draws it as one image
    instead of styling every SVG element as HTML, which is many times slower).

    Raises
    ------
    UsageError
        A user template failed (syntax, undefined value, sandbox refusal, a file outside the
        folder, any error while rendering): the message names the template file and line.
    """
    if target not in ("html", "pdf"):
        raise ValueError(f"target must be 'html' or 'pdf', not {target!r}")
    env = _environment(templates)
    ctx = _context(result, with_charts)
    if templates is None:
        return env.get_template(MAIN_TEMPLATE).render(**ctx, target=target)
    try:
        return env.get_template(MAIN_TEMPLATE).render(**ctx, target=target)
    except Exception as exc:  # noqa: BLE001 — whatever a user template does is exit 2
        raise _template_error(exc, templates) from None


def write_html(result: AuditResult, out_dir: Path, *, templates: Path | None = None) -> list[Path]:
    """Write ``report.html`` into ``out_dir``; return its path."""
    path = Path(out_dir) / "report.html"
    text = render_html(result, templates=templates)
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)
    return [path]


__all__ = ["MAIN_TEMPLATE", "TEMPLATES", "check_templates", "embedded_templates",
           "policy_templates", "render_html", "template_folder", "write_html"]
