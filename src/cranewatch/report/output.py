"""Writing a report's files: ``report-<audience>.<ext>`` in one folder, each written whole.

    <folder>/report-internal.html        self-contained HTML
    <folder>/report-internal.pdf         the same, paginated (WeasyPrint)
    <folder>/report-internal.json        the content as data (schema/report-v1.schema.json)
    <folder>/report-internal.csv/        one CSV per table, README.txt with the marking
    <folder>/report-internal.stix.json   STIX 2.1 bundle (report/stix.py)

The default folder is ``<workspace>/reports``. Every file is written under a temporary name in
the same folder and renamed into place, so a crash or a full disk never leaves a half-written
report that looks finished, and an older report of the same name stays until the new one is
complete. The content is cut for each audience once (``redact.for_audience``) and every format
of that audience renders the same cut.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from cranewatch.errors import CranewatchError
from cranewatch.report.audience import Audience
from cranewatch.report.model import ReportContent
from cranewatch.report.redact import for_audience
from cranewatch.report.sources import Sources

FORMATS = ("html", "pdf", "json", "csv", "stix")
DEFAULT_FORMATS = ("html", "pdf")
SUFFIX = {"html": ".html", "pdf": ".pdf", "json": ".json", "csv": ".csv", "stix": ".stix.json"}

Step = Callable[[str], None]  # told "internal html" ... after each file is written


def report_path(folder: Path, audience: str, fmt: str) -> Path:
    return folder / f"report-{audience}{SUFFIX[fmt]}"


def parse_formats(values: Sequence[str]) -> list[str]:
    """``["html,pdf", "json"]`` -> ``["html", "pdf", "json"]``; unknown names are an error."""
    wanted = [v.strip().lower() for value in values for v in value.split(",") if v.strip()]
    unknown = sorted(set(wanted) - set(FORMATS))
    if unknown:
        raise CranewatchError(
            f"unknown report format {', '.join(unknown)}; use one or more of {', '.join(FORMATS)}"
        )
    return list(dict.fromkeys(wanted)) or list(DEFAULT_FORMATS)


def prepare_folder(folder: Path) -> Path:
    """Create ``folder`` if needed and check that files can be written in it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise CranewatchError(
            f"cannot write reports to {folder}: {exc.strerror or exc}; choose a writable folder "
            "with -o"
        ) from None
    return folder


def _write_bytes(target: Path, data: bytes) -> Path:
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def _write_folder(target: Path, fill: Callable[[Path], object]) -> Path:
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        fill(staging)
        if target.exists():
            shutil.rmtree(target) if target.is_dir() else target.unlink()
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _stix(src: Sources, audience: Audience, generated_at: dt.datetime) -> bytes:
    try:
        from cranewatch.report.stix import stix_report
    except ImportError as exc:
        raise CranewatchError(f"STIX export is not available in this cranewatch ({exc})") from None
    text = stix_report(src.port, src.findings, audience, generated_at=generated_at)
    return str(text).encode("utf-8")


def write_audience(
    src: Sources,
    content: ReportContent,
    audience: Audience,
    formats: Sequence[str],
    folder: Path,
    step: Step | None = None,
) -> list[Path]:
    """Write ``formats`` of the full ``content`` cut for ``audience`` into ``folder``."""
    from cranewatch.report.html import render_html
    from cranewatch.report.tabular import to_json, write_csv

    cut = for_audience(content, audience)
    written: list[Path] = []
    html: str | None = None
    try:
        for fmt in formats:
            target = report_path(folder, audience.name, fmt)
            if fmt in ("html", "pdf") and html is None:
                html = render_html(cut)
            if fmt == "html":
                assert html is not None
                written.append(_write_bytes(target, html.encode("utf-8")))
            elif fmt == "pdf":
                from cranewatch.report.pdf import render_pdf

                written.append(_write_bytes(target, render_pdf(cut, html)))
            elif fmt == "json":
                written.append(_write_bytes(target, to_json(cut).encode("utf-8")))
            elif fmt == "csv":
                written.append(_write_folder(target, lambda tmp: write_csv(cut, tmp)))
            elif fmt == "stix":
                written.append(_write_bytes(target, _stix(src, audience, content.generated_at)))
            else:  # parse_formats lets no other name through
                raise CranewatchError(f"unknown report format {fmt!r}")
            if step is not None:
                step(f"{audience.name} {fmt}")
    except OSError as exc:
        raise CranewatchError(
            f"cannot write the report to {folder}: {exc.strerror or exc}; choose a writable "
            "folder with -o"
        ) from None
    return written
