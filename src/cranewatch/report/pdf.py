"""A report as PDF: the report's own HTML laid out by WeasyPrint with its print stylesheet.

The print rules of ``templates/report.css`` and the page rules the template writes give A4
pages (landscape for the wide tables: fleet, per crane, risk, proof of use, captures), the
document's TLP label in every page's header and footer, page numbers, a page break before each
section and table headers repeated on every page. No browser is needed. WeasyPrint is imported
here only (it loads Pango), and is given a URL fetcher that refuses every fetch: the HTML is
self-contained, and a report must never reach out to the network while it is rendered.
"""

from __future__ import annotations

from typing import Any, NoReturn

from cranewatch.errors import CranewatchError
from cranewatch.report.html import render_html
from cranewatch.report.model import ReportContent


def _no_fetch(url: str, *_args: Any, **_kwargs: Any) -> NoReturn:
    raise ValueError(f"a report fetches nothing; refused {url[:60]!r}")


class PdfUnavailable(CranewatchError):
    """WeasyPrint or the system libraries it loads (Pango) are missing: no PDF on this machine."""


def pdf_unavailable() -> str | None:
    """Why PDF reports cannot be rendered here, with what to install; None when they can."""
    try:
        import weasyprint  # noqa: F401
    except (ImportError, OSError) as exc:  # OSError: Pango or its libraries are missing
        return (
            f"PDF reports need WeasyPrint and Pango ({exc}); on Debian: apt-get install "
            "libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core, or write --format html"
        )
    return None


def render_pdf(content: ReportContent, html: str | None = None) -> bytes:
    """The PDF of ``content`` (of ``html`` when it was rendered already); ``PdfUnavailable``
    when this machine cannot render PDFs."""
    reason = pdf_unavailable()
    if reason is not None:
        raise PdfUnavailable(reason)
    from weasyprint import HTML

    source = html if html is not None else render_html(content)
    document = HTML(string=source, url_fetcher=_no_fetch, base_url=None)
    pdf = document.write_pdf()
    assert pdf is not None
    return bytes(pdf)
