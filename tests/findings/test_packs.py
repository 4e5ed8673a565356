"""Loading rule and indicator packs: located problems, cross-checks and overrides.

The packs here are written by the tests (with checks registered by the tests), so they do not
depend on the built-in packs being finished; one test loads the built-in packs as shipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cranewatch.findings import packs as packs_module
from cranewatch.findings.checks import CHECKS
from cranewatch.findings.model import Finding
from cranewatch.findings.packs import load_packs, validate_packs
from cranewatch.fleet.problems import FleetInputError

HEAD = 'pack: {name}\nversion: "1.0"\nattack_version: "ATT&CK for ICS v15"\n'


def rule(rule_id: str, check: str = "t-pack-check", version: int = 1, extra: str = "") -> str:
    return (
        f"  - id: {rule_id}\n    version: {version}\n    title: A rule\n"
        "    description: What it finds.\n    severity: high\n    techniques: [T0883]\n"
        f"    rationale: Why it matters.\n    check: {check}\n{extra}"
    )


def rule_pack(name: str, *rules: str) -> str:
    return HEAD.format(name=name) + "rules:\n" + "".join(rules)


INDICATORS = """pack: test-indicators
version: "2026.1"
indicators:
  - id: ind-vendor
    kind: vendor
    pattern: "(?i)teltonika"
    label: Teltonika cellular routers
    capability: cellular
    source: IEEE registry
  - id: ind-cgnat
    kind: subnet
    pattern: 100.64.0.0/10
    label: carrier-grade NAT
    capability: cellular
    source: RFC 6598
  - id: ind-teamviewer
    kind: port
    pattern: tcp/5938
    label: TeamViewer
    capability: remote-access
    source: vendor documentation
"""


def _never(*_args: object) -> list[Finding]:
    return []


@pytest.fixture(autouse=True)
def test_check(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setitem(CHECKS, "t-pack-check", _never)
    yield


@pytest.fixture
def builtin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty folder standing in for the built-in packs."""
    folder = tmp_path / "builtin"
    folder.mkdir()
    monkeypatch.setattr(packs_module, "BUILTIN", folder)
    return folder


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_the_builtin_packs_load_clean() -> None:
    problems = validate_packs()
    assert problems == [], "\n".join(map(str, problems))
    loaded = load_packs()
    assert loaded.rule_packs or loaded.indicator_packs or not packs_module.builtin_files()
    ids = [r.id for r, _ in loaded.rules(enabled_only=False)]
    assert len(ids) == len(set(ids))


def test_the_builtin_packs_ship_with_the_package() -> None:
    pyproject = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    assert '"cranewatch.findings" = ["packs/*.yaml"]' in pyproject
    assert Path(packs_module.__file__).parent / "packs" == packs_module.BUILTIN


def test_a_folder_of_packs_loads(tmp_path: Path, builtin_dir: Path) -> None:
    folder = tmp_path / "ours"
    write(folder / "rules.yaml", rule_pack("ours", rule("CW-OURS-001"), rule("CW-OURS-002")))
    write(folder / "indicators.yml", INDICATORS)
    write(folder / "notes.txt", "not a pack")
    loaded = load_packs([folder])
    assert loaded.problems == []
    assert [r.id for r, _ in loaded.rules()] == ["CW-OURS-001", "CW-OURS-002"]
    assert [i.id for i in loaded.indicators()] == ["ind-vendor", "ind-cgnat", "ind-teamviewer"]
    described = {d["pack"]: d for d in loaded.describe()}
    assert described["ours"]["rules"] == {"CW-OURS-001": 1, "CW-OURS-002": 1}
    assert described["test-indicators"]["indicators"] == 3
    assert described["ours"]["builtin"] is False


def test_disabled_rules_are_loaded_but_not_run(tmp_path: Path, builtin_dir: Path) -> None:
    path = write(
        tmp_path / "p.yaml", rule_pack("p", rule("CW-A-001", extra="    enabled: false\n"))
    )
    loaded = load_packs([path])
    assert loaded.rules() == []
    assert [r.id for r, _ in loaded.rules(enabled_only=False)] == ["CW-A-001"]


BROKEN = (
    HEAD.format(name="broken")
    + "rules:\n"
    + rule("CW-B-001", extra="    severty: high\n")  # lines 5-13: the typo on line 13
    + rule("CW-B-002", check="t-pack-chek")  # lines 14-21: the check on line 21
    + rule("CW-B-001")  # the same id again on line 22
    + "  - id: CW-B-004\n    version: 1\n    title: t\n    description: d\n"
    "    severity: urgent\n    techniques: [T0883, TX99]\n    rationale: r\n"
    "    check: t-pack-check\n"  # severity on line 34, techniques on line 35
)
BROKEN_INDICATORS = """pack: broken-indicators
version: "1"
indicators:
  - id: bad-regex
    kind: hostname
    pattern: "RUT[0-9"
    label: l
    capability: cellular
    source: s
  - id: bad-subnet
    kind: subnet
    pattern: 100.64.0.1/10
    label: l
    capability: cellular
    source: s
  - id: bad-port
    kind: port
    pattern: tcp/99999
    label: l
    capability: remote-access
    source: s
  - id: bad-kind
    kind: imei
    pattern: x
    label: l
    capability: cellular
    source: s
"""


def test_a_broken_user_pack_reports_every_problem_with_file_and_line(
    tmp_path: Path, builtin_dir: Path
) -> None:
    rules = write(tmp_path / "rules.yaml", BROKEN)
    indicators = write(tmp_path / "indicators.yaml", BROKEN_INDICATORS)
    with pytest.raises(FleetInputError) as caught:
        load_packs([rules, indicators])
    found = {
        (p.file, p.line, p.message.split(";")[0].split(" (")[0]) for p in caught.value.problems
    }
    r, i = str(rules), str(indicators)
    assert found == {
        (r, 13, "unknown field 'severty'"),
        (r, 21, "unknown check 't-pack-chek'"),
        (r, 22, "rule id CW-B-001 is also defined in " + r + ":5"),
        (r, 34, "expected one of info, low, medium, high, critical"),
        (i, 6, "not a valid regular expression"),
        (i, 12, "expected an address block like 100.64.0.0/10"),
        (i, 18, "expected a transport and port like tcp/5938 or udp/1194"),
        (i, 23, "expected one of vendor, dhcp-vendor-class, hostname, subnet, dns-name, port"),
    }, "\n".join(map(str, caught.value.problems))
    # the technique of CW-B-004 is wrong too, but the whole rule was already left out for its
    # severity; a rule that is only wrong in its techniques is reported for them:
    only = write(
        tmp_path / "t.yaml",
        rule_pack("t", rule("CW-T-001", extra="").replace("[T0883]", "[T0883, TX99]")),
    )
    with pytest.raises(FleetInputError) as caught:
        load_packs([only])
    assert [(p.line, p.field) for p in caught.value.problems] == [(10, "rules[0].techniques[1]")]


def test_unreadable_files_are_problems(tmp_path: Path, builtin_dir: Path) -> None:
    alias = write(tmp_path / "alias.yaml", rule_pack("a", rule("CW-A-001")) + "x: &a 1\ny: *a\n")
    both = write(tmp_path / "both.yaml", rule_pack("b", rule("CW-B-001")) + "indicators: []\n")
    neither = write(tmp_path / "neither.yaml", "pack: n\nversion: '1'\n")
    empty_folder = tmp_path / "empty"
    empty_folder.mkdir()
    missing = tmp_path / "missing.yaml"
    with pytest.raises(FleetInputError) as caught:
        load_packs([alias, both, neither, empty_folder, missing])
    by_file = {p.file: p for p in caught.value.problems}
    assert "alias" in by_file[str(alias)].message and by_file[str(alias)].line == 14
    assert "both rules: and indicators:" in by_file[str(both)].message
    assert "neither" in by_file[str(neither)].message
    assert "no *.yaml pack" in by_file[str(empty_folder)].message
    assert "no such file" in by_file[str(missing)].message


def test_a_user_pack_overrides_a_builtin_rule_only_with_a_higher_version(
    tmp_path: Path, builtin_dir: Path
) -> None:
    write(
        builtin_dir / "rules-core.yaml", rule_pack("core", rule("CW-CORE-001"), rule("CW-CORE-002"))
    )
    newer = write(tmp_path / "newer.yaml", rule_pack("site", rule("CW-CORE-001", version=2)))
    loaded = load_packs([newer])
    assert loaded.problems == []
    by_id = {r.id: (r.version, p.pack) for r, p in loaded.rules()}
    assert by_id == {"CW-CORE-001": (2, "site"), "CW-CORE-002": (1, "core")}
    assert len(loaded.overridden) == 1 and "CW-CORE-001 v1" in loaded.overridden[0]

    same = write(tmp_path / "same.yaml", rule_pack("site", rule("CW-CORE-001", version=1)))
    with pytest.raises(FleetInputError) as caught:
        load_packs([same])
    [problem] = caught.value.problems
    assert (problem.file, problem.line) == (str(same), 5)
    assert "only with a higher version; give it version 2" in problem.message


def test_two_user_packs_cannot_both_define_a_rule(tmp_path: Path, builtin_dir: Path) -> None:
    a = write(tmp_path / "a.yaml", rule_pack("a", rule("CW-X-001")))
    b = write(tmp_path / "b.yaml", rule_pack("b", rule("CW-X-001", version=5)))
    c = write(tmp_path / "c.yaml", rule_pack("a", rule("CW-Y-001")))
    with pytest.raises(FleetInputError) as caught:
        load_packs([a, b, c])
    messages = sorted((p.file, p.message) for p in caught.value.problems)
    assert messages[0][0] == str(b) and "rule ids must be unique" in messages[0][1]
    assert messages[1][0] == str(c) and "pack name 'a' is also used" in messages[1][1]


def test_problems_of_builtin_packs_alone_are_returned_not_raised(
    tmp_path: Path, builtin_dir: Path
) -> None:
    write(
        builtin_dir / "rules-bad.yaml",
        rule_pack("bad", rule("CW-OK-001"), rule("CW-BAD-001", check="gone")),
    )
    loaded = load_packs()
    assert [r.id for r, _ in loaded.rules()] == ["CW-OK-001"]
    [problem] = loaded.problems
    assert problem.file == "findings/packs/rules-bad.yaml" and problem.line == 20
    user = write(tmp_path / "u.yaml", rule_pack("u", rule("CW-OK-001")))
    with pytest.raises(FleetInputError) as caught:
        load_packs([user])
    assert {p.file for p in caught.value.problems} == {"findings/packs/rules-bad.yaml", str(user)}
