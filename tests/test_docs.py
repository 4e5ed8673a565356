"""The documentation is complete and not stale.

Generated pages must equal what their generators write now: docs/observations.md (from
``observe/schemas.py``) and docs/cli-reference.md (from every command's ``--help``). Every
observation table and column, every CLI command and every skip reason must be documented, the
README must show the two commands a newcomer needs, and relative links must point to files that
exist. This is how datasette's tests/test_docs.py keeps its docs honest.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cranewatch.engine._kernels.layout import SKIP_REASONS
from cranewatch.observe import docs as observation_docs
from cranewatch.observe.schemas import TABLES

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
OBSERVATIONS = DOCS / "observations.md"
CLI_REFERENCE = DOCS / "cli-reference.md"
CLI_GENERATOR = DOCS / "generate_cli_reference.py"

_spec = importlib.util.spec_from_file_location("generate_cli_reference", CLI_GENERATOR)
assert _spec is not None and _spec.loader is not None
cli_generator = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cli_generator)


def _section(text: str, heading: str) -> str:
    """The lines of a Markdown page from ``heading`` up to the next heading of level 2."""
    start = text.index(heading)
    end = text.find("\n## ", start + len(heading))
    return text[start : end if end >= 0 else len(text)]


# ------------------------------------------------------------------------- observations.md


def test_observations_page_is_current() -> None:
    assert OBSERVATIONS.read_text(encoding="utf-8") == observation_docs.render(), (
        "docs/observations.md is stale: run `.venv/bin/python -m cranewatch.observe.docs`"
    )


def test_observations_generator_check_flag(tmp_path: Path) -> None:
    target = tmp_path / "observations.md"
    assert observation_docs.main(["--check", "-o", str(target)]) == 1  # missing
    assert observation_docs.main(["-o", str(target)]) == 0
    assert observation_docs.main(["--check", "-o", str(target)]) == 0
    target.write_text(target.read_text() + "edited\n")
    assert observation_docs.main(["--check", "-o", str(target)]) == 1


@pytest.mark.parametrize("name", sorted(TABLES))
def test_every_table_and_column_is_documented(name: str) -> None:
    schema = TABLES[name]
    text = OBSERVATIONS.read_text(encoding="utf-8")
    heading = f"## `{schema.name}` (version {schema.version})"
    assert heading in text, f"table {name!r} (version {schema.version}) is not in observations.md"
    section = _section(text, heading)
    for field in schema.fields:
        assert f"| `{field.name}` |" in section, f"column {name}.{field.name} is undocumented"
        assert field.doc.strip(), f"column {name}.{field.name} has no doc in schemas.py"


# -------------------------------------------------------------------------- cli-reference.md


def test_cli_reference_is_current() -> None:
    # a child process, so that Typer and Rich read the fixed width and colour settings at import
    result = subprocess.run(
        [sys.executable, str(CLI_GENERATOR), "--check"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 0, (
        "docs/cli-reference.md is stale: run `.venv/bin/python docs/generate_cli_reference.py`\n"
        + result.stderr
    )


def test_every_command_is_documented() -> None:
    text = CLI_REFERENCE.read_text(encoding="utf-8")
    paths = cli_generator.commands()
    assert ("ingest",) in paths and ("testbed", "synth") in paths
    for path in paths:
        assert f"## `{cli_generator.title(path)}`" in text, (
            f"`{cli_generator.title(path)}` has no section in docs/cli-reference.md"
        )


# ------------------------------------------------------------------------------ other pages


@pytest.mark.parametrize("reason", SKIP_REASONS)
def test_every_skip_reason_is_explained(reason: str) -> None:
    text = (DOCS / "formats.md").read_text(encoding="utf-8")
    assert f"| {reason} |" in text, f"skip reason {reason!r} is not explained in docs/formats.md"


def test_readme_shows_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for target in ("demo", "test"):
        assert f"make {target}" in readme, f"README.md does not show `make {target}`"
        assert re.search(rf"^{target}:", makefile, re.MULTILINE), f"Makefile has no {target} target"


LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _pages() -> list[Path]:
    return [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted(DOCS.glob("*.md"))]


@pytest.mark.parametrize("page", _pages(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_point_to_existing_files(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    broken = []
    for target in LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue  # a URL or an anchor on the same page
        path = target.split("#", 1)[0]
        if not (page.parent / path).exists():
            broken.append(target)
    assert not broken, f"{page.relative_to(ROOT)} links to missing files: {broken}"
