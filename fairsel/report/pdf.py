"""report.pdf: the audit report as a paginated compliance document (WeasyPrint).

The PDF is laid out from the same HTML as report.html (print media: page size from
``report → paper``, page numbers, a running header with the report id, a table of contents
with page numbers, table headers repeated across pages). results.json is embedded as an
attachment, so the document carries the data it was made from.

Rendering touches nothing outside its inputs: the URL fetcher refuses every URL but ``data:``
(no network, no local file), and a template that asks for anything else is an error.

The same result gives the same bytes on every machine: every date in the file (metadata, the
attachment, the ``head`` table of each embedded font) is the audit's ``provenance.finished``.
WeasyPrint subsets fonts with HarfBuzz's subsetting library when it is installed and with
fontTools otherwise; fontTools stamps the font with ``SOURCE_DATE_EPOCH`` or the clock, so that
variable is set to the audit's time while rendering, and WeasyPrint's warning about the
fallback (which needs no action from a fairsel user) is dropped.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from fairsel.errors import UsageError
from fairsel.results import AuditResult


def _import_weasyprint():
    """Import WeasyPrint without its DeprecationWarning about a missing HarfBuzz-Subset (the
    fontTools fallback it announces makes the same PDF here; see the module's docstring)."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="HarfBuzz-Subset will be required",
                                category=DeprecationWarning)
        import weasyprint  # noqa: F401


def data_only_fetcher():
    """A WeasyPrint URL fetcher that serves ``data:`` URIs and refuses everything else.

    The refusal is fatal (it stops the rendering) rather than a warning with a missing image,
    so a report can never silently depend on, or leak a request to, the outside world. A
    ``data:`` URI is decoded here, without urllib: no handler (proxy, file, network) is ever
    involved.
    """
    _import_weasyprint()
    from weasyprint.urls import FatalURLFetchingError, URLFetcher, URLFetcherResponse

    class DataOnlyFetcher(URLFetcher):
        def __init__(self) -> None:
            super().__init__(allowed_protocols=("data",), allow_redirects=False,
                             fail_on_errors=True)

        def fetch(self, url, headers=None):
            text = str(url).strip()
            if not text.lower().startswith("data:"):
                raise FatalURLFetchingError(
                    f"the PDF renderer fetches only data: URIs; refused {text[:200]!r}")
            media, body = decode_data_uri(text)
            return URLFetcherResponse(text[:64], body, {"Content-Type": media})

    return DataOnlyFetcher()


def decode_data_uri(uri: str) -> tuple[str, bytes]:
    """``data:[<media type>][;base64],<data>`` → (media type, bytes), as RFC 2397 says."""
    import base64
    from urllib.parse import unquote_to_bytes

    header, sep, data = uri[5:].partition(",")
    if not sep:
        raise ValueError("a data: URI needs a comma before its data")
    params = header.split(";")
    media = params[0].strip() or "text/plain;charset=US-ASCII"
    if params[-1].strip().lower() == "base64":
        return media, base64.b64decode(unquote_to_bytes(data), validate=False)
    return media, unquote_to_bytes(data)


def _timestamp(stamp: str) -> datetime:
    """provenance.finished (``...Z``) as an aware datetime, for the attachment's dates."""
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return datetime(1970, 1, 1, tzinfo=timezone.utc)


class _QuietFontFallback(logging.Filter):
    """Drop WeasyPrint's "Using fontTools instead of HarfBuzz-Subset" warning (nothing to do)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Using fontTools instead of HarfBuzz-Subset")


@contextmanager
def reproducible(when: datetime) -> Iterator[None]:
    """While rendering: ``SOURCE_DATE_EPOCH`` is ``when`` (fontTools stamps subset fonts with it)
    and WeasyPrint's font-fallback warning is dropped; both restored afterwards."""
    logger = logging.getLogger("weasyprint")
    quiet = _QuietFontFallback()
    before = os.environ.get("SOURCE_DATE_EPOCH")
    os.environ["SOURCE_DATE_EPOCH"] = str(max(0, int(when.timestamp())))
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)
        if before is None:
            os.environ.pop("SOURCE_DATE_EPOCH", None)
        else:
            os.environ["SOURCE_DATE_EPOCH"] = before


def render_pdf(result: AuditResult, *, html: str | None = None,
               templates: Path | None = None) -> bytes:
    """The report as PDF bytes (from ``html`` if given, else from :func:`render_html` with the
    user template folder ``templates``, if any)."""
    _import_weasyprint()
    from weasyprint import HTML, Attachment
    from weasyprint.urls import FatalURLFetchingError

    from fairsel.report.html import render_html

    if html is None:
        html = render_html(result, target="pdf", templates=templates)
    fetcher = data_only_fetcher()
    when = _timestamp(result.provenance.finished)
    attachment = Attachment(
        string=result.model_dump_json(indent=2) + "\n", name="results.json",
        description="The audit result this report was rendered from (fairsel results.json)",
        created=when, modified=when, url_fetcher=fetcher, relationship="Source")
    # WeasyPrint logs what it cannot use (unknown CSS) to its own logger, which has no handler
    # by default: the shipped templates are tested to log nothing.
    try:
        with reproducible(when):
            document = HTML(string=html, base_url=None, url_fetcher=fetcher,
                            media_type="print").render()
            return document.write_pdf(attachments=[attachment])
    except FatalURLFetchingError as exc:
        cause = exc.__cause__ or exc
        raise UsageError(f"report.pdf: {cause} (report templates must embed every resource "
                         "as a data: URI)") from None


def write_pdf(result: AuditResult, out_dir: Path, *, templates: Path | None = None) -> list[Path]:
    """Write ``report.pdf`` into ``out_dir``; return its path."""
    path = Path(out_dir) / "report.pdf"
    path.write_bytes(render_pdf(result, templates=templates))
    return [path]


__all__ = ["data_only_fetcher", "decode_data_uri", "render_pdf", "reproducible", "write_pdf"]
