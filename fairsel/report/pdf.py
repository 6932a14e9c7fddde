"""report.pdf: the audit report as a paginated compliance document (WeasyPrint).

The PDF is laid out from the same HTML as report.html (print media: page size from
``report → paper``, page numbers, a running header with the report id, a table of contents
with page numbers, table headers repeated across pages). results.json is embedded as an
attachment, so the document carries the data it was made from.

Rendering touches nothing outside its inputs: the URL fetcher refuses every URL but ``data:``
(no network, no local file), and a template that asks for anything else is an error.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from fairsel.errors import UsageError
from fairsel.results import AuditResult


def data_only_fetcher():
    """A WeasyPrint URL fetcher that serves ``data:`` URIs and refuses everything else.

    The refusal is fatal (it stops the rendering) rather than a warning with a missing image,
    so a report can never silently depend on, or leak a request to, the outside world. A
    ``data:`` URI is decoded here, without urllib: no handler (proxy, file, network) is ever
    involved.
    """
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


def render_pdf(result: AuditResult, *, html: str | None = None) -> bytes:
    """The report as PDF bytes (from ``html`` if given, else from :func:`render_html`)."""
    from weasyprint import HTML, Attachment
    from weasyprint.urls import FatalURLFetchingError

    from fairsel.report.html import render_html

    if html is None:
        html = render_html(result, target="pdf")
    fetcher = data_only_fetcher()
    when = _timestamp(result.provenance.finished)
    attachment = Attachment(
        string=result.model_dump_json(indent=2) + "\n", name="results.json",
        description="The audit result this report was rendered from (fairsel results.json)",
        created=when, modified=when, url_fetcher=fetcher, relationship="Source")
    # WeasyPrint logs what it cannot use (unknown CSS) to its own logger, which has no handler
    # by default: the shipped templates are tested to log nothing.
    try:
        document = HTML(string=html, base_url=None, url_fetcher=fetcher,
                        media_type="print").render()
        return document.write_pdf(attachments=[attachment])
    except FatalURLFetchingError as exc:
        cause = exc.__cause__ or exc
        raise UsageError(f"report.pdf: {cause} (report templates must embed every resource "
                         "as a data: URI)") from None


def write_pdf(result: AuditResult, out_dir: Path) -> list[Path]:
    """Write ``report.pdf`` into ``out_dir``; return its path."""
    path = Path(out_dir) / "report.pdf"
    path.write_bytes(render_pdf(result))
    return [path]


__all__ = ["data_only_fetcher", "decode_data_uri", "render_pdf", "write_pdf"]
