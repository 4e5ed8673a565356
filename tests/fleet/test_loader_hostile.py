"""Hostile and broken port-model files: each is a FleetInputError, quickly, never a traceback.

The fuzz tests feed random text, random bytes and random edits of a valid port model (lines
dropped, repeated, swapped or replaced by random text) to ``load_port``: it must return a Port or
raise FleetInputError whose problems all name the file, nothing else.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.fuzzing import fuzz_settings

from cranewatch.fleet.loader import load_port, validate_port
from cranewatch.fleet.model import Port
from cranewatch.fleet.problems import FleetInputError, Problem

VALID = (Path(__file__).parent / "data" / "loader" / "single-file.yaml").read_text("utf-8")


def problems_of(path: Path, *, seconds: float = 2.0) -> list[Problem]:
    started = time.monotonic()
    with pytest.raises(FleetInputError) as raised:
        load_port(path)
    assert time.monotonic() - started < seconds, "a hostile file must be refused quickly"
    assert raised.value.problems, "FleetInputError without problems"
    return raised.value.problems


def write(tmp_path: Path, content: str | bytes, name: str = "port.yaml") -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", "expected a port"),
        ("# only a comment\n", "expected a port"),
        ("- id: T1\n- id: T2\n", "expected a port"),
        ("just text\n", "expected a port"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe\x00", "not UTF-8"),
        (b"id: p\nname: \xff\xfe\n", "not UTF-8"),
        ("id: p\x00\n", "not valid YAML"),
        ("id: [p\nname: x\n", "fix the YAML syntax"),
        ("id: p\n---\nid: q\n", "fix the YAML syntax"),
        ("id: !python/object:os.system p\nname: x\n", "unsupported YAML value"),
        ("id: p\nname: !!binary aGVsbG8=\n", "unsupported YAML value"),
        ("id: p\nname: x\nnote: !!int abc\n", "not valid YAML"),
        ("? [a, b]\n: 1\nid: p\nname: x\n", "keys must be plain text"),
        ("id: p\nname: x\nnote: !!omap [a: 1]\n", "expected text"),
        ("id: p\nname: x\nnote: !!set {a, b}\n", "unsupported YAML value"),
    ],
)
def test_broken_files(tmp_path: Path, content: str | bytes, expected: str) -> None:
    path = write(tmp_path, content)
    problems = problems_of(path)
    assert any(expected in p.message for p in problems), [str(p) for p in problems]
    assert all(p.file == str(path) for p in problems)


def test_syntax_error_gives_the_parser_line(tmp_path: Path) -> None:
    path = write(tmp_path, "id: p\nname: x\nterminals:\n  - id: T1\n    name: [unclosed\n")
    [problem] = problems_of(path)
    assert problem.line is not None and 5 <= problem.line <= 6


def test_yaml_bomb_with_aliases_is_refused(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 12)]
    path = write(tmp_path, "\n".join(["id: p", "name: bomb", *lines, ""]))
    [problem] = problems_of(path)
    assert "alias *a0" in problem.message and problem.line == 4


def test_a_single_alias_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "id: &x p\nname: *x\n")
    [problem] = problems_of(path)
    assert "aliases are not supported" in problem.message and problem.line == 2


@pytest.mark.parametrize("style", ["flow", "block"])
def test_deep_nesting_is_refused(tmp_path: Path, style: str) -> None:
    depth = 10_000
    if style == "flow":
        content = "note: " + "[" * depth + "]" * depth + "\n"
    else:
        content = "".join(f"{' ' * i}k:\n" for i in range(depth))
    [problem] = problems_of(write(tmp_path, content))
    assert "nests deeper than 64 levels" in problem.message


def test_huge_file_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("wb") as handle:
        handle.truncate(50 * 1024 * 1024 + 1)  # sparse: nothing is written
    [problem] = problems_of(path)
    assert "at most 50 MB" in problem.message


def test_missing_path_and_folder_without_port_yaml(tmp_path: Path) -> None:
    [problem] = problems_of(tmp_path / "nowhere.yaml")
    assert "no such file or folder" in problem.message
    (tmp_path / "empty").mkdir()
    [problem] = problems_of(tmp_path / "empty")
    assert "no port.yaml in this folder" in problem.message


def test_every_file_of_a_folder_is_read_in_one_pass(tmp_path: Path) -> None:
    (tmp_path / "terminals").mkdir()
    write(tmp_path, "id: p\nname: x\nterminals: {id: T1}\n")
    write(tmp_path, "- not a terminal\n", "terminals/a.yaml")
    write(tmp_path, b"\xff", "terminals/b.yaml")
    write(tmp_path, "id: T3\nname: three\ncranes: [{id: C1}]\n", "terminals/c.yaml")
    write(tmp_path, "id: c\n", "conduits.yaml")
    problems = validate_port(tmp_path)
    named = {Path(p.file).name: p for p in problems}
    assert set(named) == {"port.yaml", "a.yaml", "b.yaml", "c.yaml", "conduits.yaml"}
    assert "expected a list of terminals" in named["port.yaml"].message
    assert "expected one terminal" in named["a.yaml"].message
    assert "not UTF-8" in named["b.yaml"].message
    assert "expected a list of conduits" in named["conduits.yaml"].message
    crane_problems = [p for p in problems if p.file.endswith("c.yaml")]
    assert {p.field for p in crane_problems} == {
        "cranes[0].type", "cranes[0].manufacturer", "cranes[0].model"
    }  # fmt: skip
    assert all("required field" in p.message and p.line == 3 for p in crane_problems)


# ------------------------------------------------------------------------------- fuzzing


def outcome(path: Path) -> None:
    """A Port, or FleetInputError whose problems all name this file."""
    try:
        port = load_port(path)
    except FleetInputError as exc:
        assert exc.problems and all(p.file == str(path) for p in exc.problems)
        assert all(p.line is None or p.line >= 1 for p in exc.problems)
    else:
        assert isinstance(port, Port)


@fuzz_settings(150)
@given(st.text(max_size=400))
def test_fuzz_random_text(tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "port.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    outcome(path)


@fuzz_settings(100)
@given(st.binary(max_size=400))
def test_fuzz_random_bytes(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "port.yaml"
    path.write_bytes(data)
    outcome(path)


YAML_BITS = st.sampled_from(
    ["", "- ", "{", "}", "[", "]", ": ", "  ", "x", "*a", "&a ", "!!str ", "null", "1.5",
     "10.20.1.999", "2019-02-30", "STS01/plc", "type: cellular", "id: T1", "- id: STS01",
     "zone: */crane-lan", "units:", "plc: {ips: [10.20.1.20]}", "crane_model: nope",
     "!!omap ", "!!set ", "!!pairs ", "!!binary ", "!!timestamp ", "<<: ", "? ", "|\n", ">-\n"]
)  # fmt: skip


@fuzz_settings(200)
@given(st.data())
def test_fuzz_edits_of_a_valid_port(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    lines = VALID.splitlines()
    for _ in range(data.draw(st.integers(1, 4))):
        index = data.draw(st.integers(0, len(lines) - 1))
        action = data.draw(st.sampled_from(["drop", "repeat", "swap", "replace", "append"]))
        if action == "drop":
            del lines[index]
        elif action == "repeat":
            lines.insert(index, lines[index])
        elif action == "swap":
            other = data.draw(st.integers(0, len(lines) - 1))
            lines[index], lines[other] = lines[other], lines[index]
        else:
            bits = "".join(data.draw(st.lists(YAML_BITS, max_size=4)))
            text = bits + data.draw(st.text(max_size=12))
            lines[index] = text if action == "replace" else lines[index] + text
        if not lines:
            break
    path = tmp_path_factory.mktemp("fuzz") / "port.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8", errors="surrogatepass")
    outcome(path)


# random but well-formed models: exercise expansion and every check, not only the parser
IDS = st.sampled_from(["T1", "T2", "STS01", "STS02", "plc", "modem", "crane-lan", "ehouse", "m"])
SUBNETS = st.sampled_from(["10.0.0.0/8", "10.20.1.0/24", "10.20.1.128/25", "fd00::/64", "x"])
IPS = st.sampled_from(["10.20.1.20", "10.0.0.1", "fd00::1", "10.20.1.300"])
ZONE_REFS = st.sampled_from(["crane-lan", "ehouse", "T1/ehouse", "STS01/crane-lan", "nope"])
PATTERNS = st.sampled_from(["*/crane-lan", "*", "T1/*", "[", "STS0?/plc", "none"])
DATES = st.sampled_from(["2019-05-02", "1900-01-01", "2999-01-01", "2019-02-30"])
CELLULAR = st.fixed_dictionaries(
    {"type": st.just("cellular")},
    optional={
        "imei": st.sampled_from(["490154203237518", "490154203237519"]),
        "iccid": st.just("8931440301234567897"),
    },
)
COMPONENT = st.fixed_dictionaries(
    {"id": IDS},
    optional={
        "zone": ZONE_REFS,
        "ips": st.lists(IPS, max_size=2),
        "macs": st.lists(st.sampled_from(["00:00:5e:00:53:01", "00-00-5E-00-53-02"]), max_size=2),
        "capabilities": st.lists(CELLULAR, max_size=2),
    },
)
ZONE = st.fixed_dictionaries({"id": IDS}, optional={"subnets": st.lists(SUBNETS, max_size=2)})
CRANE = st.fixed_dictionaries(
    {"id": IDS, "type": st.sampled_from(["STS", "RTG"]), "manufacturer": st.just("m"),
     "model": st.just("m")},
    optional={
        "crane_model": st.sampled_from(["m", "n"]),
        "berth": st.sampled_from(["B1", "B2"]),
        "commissioned": DATES,
        "zones": st.lists(ZONE, max_size=2),
        "components": st.lists(COMPONENT, max_size=2),
        "units": st.dictionaries(IDS, COMPONENT.map(lambda c: {k: v for k, v in c.items() if k != "id"}), max_size=2),
    },
)  # fmt: skip
TERMINAL = st.fixed_dictionaries(
    {"id": IDS, "name": st.just("t")},
    optional={
        "berths": st.lists(st.fixed_dictionaries({"id": st.sampled_from(["B1", "B3"])}), max_size=2),
        "zones": st.lists(ZONE, max_size=2),
        "components": st.lists(COMPONENT, max_size=2),
        "cranes": st.lists(CRANE, max_size=3),
    },
)  # fmt: skip
ENDPOINT = st.fixed_dictionaries(
    {}, optional={"zone": PATTERNS, "component": PATTERNS, "external": st.just("192.0.2.1/32")}
)
PORT = st.fixed_dictionaries(
    {"id": st.just("p"), "name": st.just("p")},
    optional={
        "crane_models": st.lists(
            st.fixed_dictionaries(
                {"id": st.sampled_from(["m", "n"]), "manufacturer": st.just("m"),
                 "model": st.just("m"), "type": st.sampled_from(["STS", "RTG"])},
                optional={"components": st.lists(COMPONENT, max_size=3)},
            ),
            max_size=2,
        ),
        "terminals": st.lists(TERMINAL, max_size=2),
        "conduits": st.lists(
            st.fixed_dictionaries({"id": IDS, "source": ENDPOINT, "destination": ENDPOINT}),
            max_size=2,
        ),
        "remote_access": st.lists(
            st.fixed_dictionaries(
                {"id": IDS, "party": st.just("x"), "path": st.just("vpn")},
                optional={
                    "via": st.sampled_from(["T1/plc", "STS01/plc", "box"]),
                    "targets": st.lists(ENDPOINT, max_size=2),
                    "windows": st.lists(
                        st.fixed_dictionaries(
                            {"start": st.sampled_from(["08:00", "8:00"]), "end": st.just("08:00")}
                        ),
                        max_size=1,
                    ),
                    "valid_from": DATES,
                    "expires": DATES,
                },
            ),
            max_size=2,
        ),
    },
)  # fmt: skip


@fuzz_settings(120)
@given(PORT)
def test_fuzz_random_models(
    tmp_path_factory: pytest.TempPathFactory, model: dict[str, Any]
) -> None:
    import io

    from ruamel.yaml import YAML

    text = io.StringIO()
    YAML(typ="safe", pure=True).dump(model, text)
    path = tmp_path_factory.mktemp("fuzz") / "port.yaml"
    path.write_text(text.getvalue(), encoding="utf-8")
    outcome(path)
