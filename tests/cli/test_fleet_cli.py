"""``cranewatch fleet`` and ``cranewatch evidence`` from the command line, on the example port.

Each command is run through the console-script entry point (``tests.runners.run_cli``), so
user mistakes must come back as messages with file and line and an exit status, never a
traceback. The registry commands run against SQLite (the workspace default) and a real
PostgreSQL server (``--db``), through the ``registry_url`` fixture.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from tests.runners import run_cli

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "port"
EVIDENCE = EXAMPLE / "evidence"


def _db_args(registry_url: str) -> list[str]:
    """SQLite fixtures are exercised as the workspace default; PostgreSQL through --db."""
    return [] if registry_url.startswith("sqlite") else ["--db", registry_url]


@pytest.fixture
def imported(tmp_path: Path, registry_url: str) -> tuple[Path, list[str]]:
    """A workspace whose registry holds the example port and its evidence."""
    ws = tmp_path / "ws"
    db = _db_args(registry_url)
    res = run_cli("-w", ws, *db, "fleet", "import", EXAMPLE)
    assert res.code == 0, res.output
    res = run_cli("-w", ws, *db, "evidence", "import", EVIDENCE)
    assert res.code == 0, res.output
    return ws, db


def test_validate_example_port_is_clean() -> None:
    res = run_cli("fleet", "validate", EXAMPLE)
    assert res.code == 0, res.output
    assert "valid (4 terminals" in res.out


def test_validate_reports_each_mistake_with_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "port.yaml"
    bad.write_text(
        "id: p\nname: P\nterminals:\n  - id: T1\n    name: T\n    cranes:\n"
        "      - id: C1\n        type: SST\n        manufacturer: M\n        model: X\n"
        "        manufactuer: typo\n",
        encoding="utf-8",
    )
    res = run_cli("fleet", "validate", bad)
    assert res.code == 1
    assert f"{bad}:8:" in res.err and "STS" in res.err  # wrong crane type, with the choices
    assert f"{bad}:11:" in res.err and "manufacturer" in res.err  # typo, with a suggestion
    assert "Traceback" not in res.output


def test_validate_refuses_what_it_cannot_recognise(tmp_path: Path) -> None:
    odd = tmp_path / "inventory.docx"
    odd.write_bytes(b"PK\x03\x04")
    res = run_cli("fleet", "validate", odd)
    assert res.code == 1 and "cannot tell what this is" in res.err
    res = run_cli("fleet", "validate", tmp_path / "missing.yaml")
    assert res.code == 1 and "does not exist" in res.err


def test_import_show_and_query(imported: tuple[Path, list[str]]) -> None:
    ws, db = imported
    res = run_cli("-w", ws, *db, "fleet", "show")
    assert res.code == 0, res.output
    assert "North Quay Container Terminal" in res.out and "(illustrative data)" in res.out
    res = run_cli("-w", ws, *db, "fleet", "show", "STS03")
    assert res.code == 0, res.output
    assert "STS03/plc" in res.out and "walk-down evidence" in res.out and "RUT240" in res.out
    res = run_cli("-w", ws, *db, "fleet", "show", "STS01/plc")
    assert res.code == 0 and "28:63:36" in res.out  # the declared Siemens MAC
    res = run_cli("-w", ws, *db, "fleet", "show", "STS99")
    assert res.code == 1 and "no crane or component 'STS99'" in res.err

    from tests.runners import query_json

    if db:  # query reads the registry named by --db
        os.environ["CRANEWATCH_DB"] = db[1]
    try:
        rows = query_json(ws, "SELECT type, count(*) AS n FROM cranes GROUP BY type ORDER BY type")
        by_type = {r["type"]: r["n"] for r in rows}
        assert set(by_type) == {"ASC", "RMG", "RTG", "STS", "straddle"}
        assert 90 <= sum(by_type.values()) <= 110
        rows = query_json(ws, "SELECT count(*) AS n FROM evidence WHERE crane = 'STS03'")
        assert rows[0]["n"] >= 3
    finally:
        os.environ.pop("CRANEWATCH_DB", None)


def test_reimport_keeps_one_port_and_history(imported: tuple[Path, list[str]]) -> None:
    ws, db = imported
    res = run_cli("-w", ws, *db, "fleet", "import", EXAMPLE)
    assert res.code == 0, res.output
    res = run_cli("-w", ws, *db, "fleet", "history")
    assert res.code == 0
    assert res.out.count(str(EXAMPLE)) >= 2  # both imports are in the history


def test_query_without_registry_has_empty_tables(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    from cranewatch.store.workspace import Workspace

    Workspace.open(ws, create=True)
    res = run_cli("-w", ws, "query", "SELECT count(*) AS n FROM components", "-f", "json")
    assert res.code == 0, res.output
    assert res.json() == [{"n": 0}]
    assert not (ws / "registry.sqlite").exists()  # looking did not create a registry
    res = run_cli("-w", ws, "query", "SELECT count(*) AS n FROM flows", "-f", "json")
    assert res.code == 0 and res.json() == [{"n": 0}]


def test_evidence_show_verifies_the_photo_store(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    assert run_cli("-w", ws, "evidence", "import", EVIDENCE).code == 0
    res = run_cli("-w", ws, "evidence", "show", "STS03", "--verify")
    assert res.code == 0, res.output
    assert "every stored photo matches" in res.out
    assert "8931010000123456788" in res.out  # the SIM of the modem found on STS03
    stored = sorted((ws / "evidence" / "sha256").rglob("*"))
    photo = next(p for p in stored if p.is_file())
    os.chmod(photo, 0o644)
    photo.write_bytes(photo.read_bytes() + b"tampered")
    res = run_cli("-w", ws, "evidence", "show", "--verify")
    assert res.code == 1 and "no longer match" in res.err


def test_evidence_naming_unknown_crane_is_refused(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    assert run_cli("-w", ws, "fleet", "import", EXAMPLE).code == 0
    folder = tmp_path / "ev"
    shutil.copytree(EVIDENCE, folder)
    walk = folder / "walkdown.csv"
    walk.write_text(walk.read_text(encoding="utf-8").replace(",STS03,", ",STS77,", 1), "utf-8")
    res = run_cli("-w", ws, "evidence", "import", folder)
    assert res.code == 1
    assert "no crane 'STS77'" in res.err and "nothing was imported" in res.err
    res = run_cli("-w", ws, "query", "SELECT count(*) AS n FROM evidence", "-f", "json")
    assert res.json() == [{"n": 0}]


def test_bad_database_url_is_one_line(tmp_path: Path) -> None:
    res = run_cli("-w", tmp_path / "ws", "--db", "mysql://u:secret@h/db", "fleet", "show")
    assert res.code == 1
    assert "secret" not in res.output and "Traceback" not in res.output
    assert "postgresql" in res.err  # says what is accepted


def test_link_accept_relink(imported: tuple[Path, list[str]], synth_capture: Path) -> None:
    """The hidden modem of the synthetic capture is undeclared until an analyst accepts it;
    the acceptance is recorded and the declared baseline otherwise stays as imported."""
    from cranewatch.testbed._synth_plant import build_plant

    modem = build_plant().modem
    ws, db = imported
    assert run_cli("-w", ws, "ingest", "-q", synth_capture).code == 0
    res = run_cli("-w", ws, *db, "fleet", "link", "--site", "T1")
    assert res.code == 0, res.output
    assert modem.mac in res.out and "undeclared" in res.out
    res = run_cli("-w", ws, *db, "fleet", "link", "--site", "T9")
    assert res.code != 0 and "T9" in res.err and "Traceback" not in res.output

    res = run_cli("-w", ws, *db, "fleet", "accept", modem.ip, "--as", "modem", "--kind",
                  "modem", "--reason", "fitted under ticket 4711", "--analyst", "a.visser")  # fmt: skip
    assert res.code == 0, res.output
    assert "STS03/modem" in res.out  # placed on the crane whose zone the address lies in
    res = run_cli("-w", ws, *db, "fleet", "accept", modem.ip, "--as", "modem", "--reason", "again")
    assert res.code == 1 and "already exists" in res.err

    res = run_cli("-w", ws, *db, "fleet", "link", "--site", "T1")
    assert res.code == 0 and "undeclared" not in res.out
    res = run_cli("-w", ws, *db, "fleet", "show", "STS03/modem")
    assert res.code == 0 and "accepted" in res.out and modem.mac in res.out

    if db:
        os.environ["CRANEWATCH_DB"] = db[1]
    try:
        from tests.runners import query_json

        rows = query_json(ws, "SELECT component, analyst, reason FROM acceptances")
        assert rows == [
            {
                "component": "STS03/modem",
                "analyst": "a.visser",
                "reason": "fitted under ticket 4711",
            }
        ]
        rows = query_json(
            ws,
            f"SELECT component, basis FROM asset_links WHERE mac = '{modem.mac}' AND ip = '{modem.ip}'",
        )
        assert len(rows) == 1 and rows[0]["component"] == "STS03/modem"
        assert rows[0]["basis"][0] == "mac"  # matched by the MAC the acceptance recorded
    finally:
        os.environ.pop("CRANEWATCH_DB", None)


DATA = ROOT / "tests" / "fleet" / "data"


def test_import_bom_and_spreadsheet_into_the_stored_port(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    bom = DATA / "cyclonedx" / "ecw-sts-65.hbom.cdx.json"
    res = run_cli("-w", ws, "fleet", "import", bom, "--crane", "STS01")
    assert res.code == 1 and "no port model yet" in res.err  # a BOM needs a port to go into
    assert run_cli("-w", ws, "fleet", "import", EXAMPLE).code == 0
    res = run_cli("-w", ws, "fleet", "import", bom)
    assert res.code == 1 and "--crane" in res.err  # local ids need to be told where they go

    from cranewatch.fleet.cyclonedx import read_components

    declared = read_components(bom)
    res = run_cli("-w", ws, "fleet", "import", bom, "--crane", "STS201")
    assert res.code == 0, res.output
    assert f"imported {bom}: {len(declared)} components" in res.out
    shown = run_cli("-w", ws, "fleet", "show", "STS201")
    for component in declared:
        assert f"STS201/{component.id}" in shown.out

    sheet = DATA / "csv" / "procurement-en.csv"
    res = run_cli("-w", ws, "fleet", "import", sheet)
    assert res.code == 0, res.output
    res = run_cli("-w", ws, "fleet", "show", "STS01/plc")
    assert "S C-X4U12345" in res.out  # the spreadsheet's serial replaced the declared one


def test_export_as_found_validates_and_names_the_modem(
    imported: tuple[Path, list[str]], synth_capture: Path, tmp_path: Path
) -> None:
    from cranewatch.fleet.cyclonedx import read_bom
    from cranewatch.testbed._synth_plant import build_plant

    ws, db = imported
    assert run_cli("-w", ws, "ingest", "-q", synth_capture).code == 0
    assert run_cli("-w", ws, *db, "fleet", "link", "--site", "T1").code == 0
    out = tmp_path / "sts03.cdx.xml"
    res = run_cli(
        "-w", ws, *db, "fleet", "export", "--crane", "STS03", "--format", "xml", "-o", out
    )
    assert res.code == 0, res.output
    result = read_bom(out)  # validates against the CycloneDX schema on the way in
    modem = build_plant().modem
    ids = {c.id: c for c in result.components}
    seen = [c for c in ids.values() if modem.mac in c.macs]
    assert len(seen) == 1 and seen[0].manufacturer == "Teltonika"  # the label, merged in
    assert "STS03/plc" in ids and not any(i.startswith("STS01/") for i in ids)
    res = run_cli("-w", ws, *db, "fleet", "export", "--crane", "STS99")
    assert res.code != 0 and "no crane 'STS99'" in res.err


def test_validate_ten_mistakes_from_the_command_line() -> None:
    """The issue's bar, as a user meets it: every mistake on its own line with file and line
    (the lines of the ``# MISTAKE`` markers in the file), and a non-zero exit status."""
    import re

    path = DATA / "loader" / "ten-mistakes.yaml"
    marked = [
        number
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if re.search(r"#\s*MISTAKE ", line)
    ]
    assert len(marked) >= 10
    res = run_cli("fleet", "validate", path)
    assert res.code == 1
    reported = [int(m) for m in re.findall(rf"^{re.escape(str(path))}:(\d+): ", res.err, re.M)]
    assert sorted(reported) == sorted(marked)
    assert f"{len(marked)} problem(s) in {path}" in res.err and "Traceback" not in res.output


def test_every_registry_table_is_queryable(tmp_path: Path) -> None:
    """`cranewatch query` must offer every table the registry exports (names kept in the CLI)."""
    from cranewatch.cli._registry import REGISTRY_TABLES
    from cranewatch.store.registry import Registry

    with Registry.open(f"sqlite:///{tmp_path / 'r.sqlite'}") as registry:
        exported = set(registry.tables())
    assert exported <= set(REGISTRY_TABLES)
