"""Hostile evidence files: binary, empty, huge, malformed, wrongly typed, YAML bombs and deep
nesting all end in a located ``FleetInputError``, never a traceback, a hang or unbounded memory.
The CSV and YAML readers are fuzzed with hypothesis."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.fuzzing import fuzz_settings

from cranewatch.fleet import _text_source
from cranewatch.fleet._evidence_fields import FIELDS
from cranewatch.fleet.evidence import read_evidence
from cranewatch.fleet.model import Evidence
from cranewatch.fleet.problems import FleetInputError, Problem

WALKDOWN_HEADER = "id,crane,description,inspector,date\n"


def problems_of(path: Path, **kwargs: object) -> list[Problem]:
    with pytest.raises(FleetInputError) as caught:
        read_evidence(path, **kwargs)  # type: ignore[arg-type]
    assert caught.value.problems, "a FleetInputError always lists its problems"
    return caught.value.problems


def write_bytes(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "empty"),
        (b"  \n\r\n\t\n", "empty"),
        (b"\x7fELF\x02\x01\x01\x00\x00\x00" + bytes(range(256)) * 4, "binary"),
        (b"id,crane\n\x81\x8d\x8f\x90\x9d\n", "not UTF-8 or Windows-1252"),
        (b"\xff\xfe" + b"\x00\xd8", "not UTF-16"),  # a lone surrogate
        (WALKDOWN_HEADER.encode(), "no records"),
        (b"id,crane,description\n" + b"x" * 200_000 + b",y,z\n", "cannot read this row"),
        (WALKDOWN_HEADER.encode() + b'"' + b"x" * 200_000 + b"\n", "cannot read this row"),
        (b"x" * 300_000, "cannot read this row"),
    ],
)
def test_hostile_csv(tmp_path: Path, data: bytes, expected: str) -> None:
    problems = problems_of(write_bytes(tmp_path, "evil.csv", data))
    assert any(expected in p.message for p in problems), problems


def test_file_over_the_size_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_text_source, "MAX_TEXT_BYTES", 1000)
    path = write_bytes(
        tmp_path, "big.csv", (WALKDOWN_HEADER + "w,S,d,i,2024-01-01\n" * 100).encode()
    )
    (problem,) = problems_of(path)
    assert "at most 1,000 bytes" in problem.message


def test_yaml_bomb_is_refused_quickly(tmp_path: Path) -> None:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, 10):
        previous = f"*a{level - 1}"
        lines.append(f"a{level}: &a{level} [{', '.join([previous] * 9)}]")
    lines.append("walkdowns: *a9")  # 9^10 values once unfolded
    path = write_bytes(tmp_path, "bomb.yaml", "\n".join(lines).encode())
    started = time.monotonic()
    (problem,) = problems_of(path)
    assert time.monotonic() - started < 5
    assert "aliases are not supported" in problem.message and problem.line == 2


@pytest.mark.parametrize(
    "text",
    [
        "[" * 5000 + "]" * 5000,
        "walkdowns:\n  - " + "{a: " * 70 + "1" + "}" * 70,
        "a: " * 3000 + "1",
    ],
)
def test_deeply_nested_yaml(tmp_path: Path, text: str) -> None:
    problems = problems_of(write_bytes(tmp_path, "deep.yaml", text.encode()))
    assert any("nests deeper" in p.message or "not valid YAML" in p.message for p in problems)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("just a string\n", "expected a mapping"),
        ("- a\n- b\n", "expected a mapping"),
        ("walkdowns: 5\n", "expected a list"),
        ("walkdowns:\n  - id: w\n    label: [1, 2]\n", "expected a mapping of label fields"),
        (
            "walkdowns:\n  - {id: w, photos: {a: 1}, crane: c, description: d, inspector: i, date: 2024-01-01}\n",
            "expected a list of photo files",
        ),
        (
            "walkdowns:\n  - {id: w, photos: [[1]], crane: c, description: d, inspector: i, date: 2024-01-01}\n",
            "expected photo file paths as text",
        ),
        (
            "sim_usage:\n  - {iccid: '8931010000123456788', carrier: c, period_start: 2024-01-01, period_end: 2024-01-02, bytes_up: [1], bytes_down: true}\n",
            "byte count",
        ),
        (
            "rf_survey:\n  - {id: r, technology: 4, identifier: x, surveyor: s, date: true}\n",
            "technology",
        ),
        (
            "rf_survey:\n  - {id: r, technology: LTE, identifier: {a: 1}, surveyor: s, date: 2024-01-01}\n",
            "expected text",
        ),
        (
            "walkdowns:\n  - {id: w, crane: c, description: d, inspector: i, date: 2024-01-01T10:00:00}\n",
            "expected a date",
        ),
        ("walkdowns: []\n", "no records"),
        (
            'walkdowns:\n  - {id: w, photos: ["a\\0b", "'
            + "x" * 5000
            + '"], crane: c, description: d, inspector: i, date: 2024-01-01}\n',
            "not a usable file path",
        ),
        ("{? [a, b] : 1}\n", "keys must be plain text"),
        ("walkdowns:\n  - {id: w\n", "not valid YAML"),
        ("\t\x01", "not valid YAML"),
    ],
)
def test_wrongly_typed_yaml(tmp_path: Path, text: str, expected: str) -> None:
    problems = problems_of(write_bytes(tmp_path, "typed.yaml", text.encode()))
    assert any(expected in p.message for p in problems), problems


def test_yaml_tags_do_not_run_code(tmp_path: Path) -> None:
    marker = tmp_path / "created-by-yaml"
    text = f'walkdowns: !!python/object/apply:os.mkdir ["{marker}"]\n'
    with pytest.raises(FleetInputError):
        read_evidence(write_bytes(tmp_path, "tags.yaml", text.encode()))
    assert not marker.exists()


# ----------------------------------------------------------------------------- fuzzing
def read_or_problems(path: Path) -> Evidence | list[Problem]:
    try:
        return read_evidence(path)
    except FleetInputError as exc:
        assert exc.problems and all(isinstance(p, Problem) for p in exc.problems)
        assert str(exc)
        return exc.problems


@fuzz_settings(200)
@given(data=st.binary(max_size=2000))
def test_fuzz_csv_bytes(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "fuzz.csv"
    path.write_bytes(data)
    read_or_problems(path)


_HEADERS = sorted({name for kind in FIELDS.values() for name in kind} | {"IMEI", "Fotos", "Datum"})
_CELL = st.one_of(
    st.sampled_from(
        ["", "2024-03-05", "05.03.2024", "1.5 GB", "-3", "860548041234565", "LTE", "WiFi",
         "262-01-1-1", "00:1e:42:00:00:01", "../x.png", "a.png;b.png", '"', "\n", "plc", "x" * 50]
    ),
    st.text(max_size=20),
)  # fmt: skip


@fuzz_settings(300)
@given(
    header=st.lists(st.sampled_from(_HEADERS), min_size=1, max_size=12),
    rows=st.lists(st.lists(_CELL, max_size=14), max_size=6),
    delimiter=st.sampled_from([",", ";", "\t"]),
)
def test_fuzz_csv_structured(
    tmp_path_factory: pytest.TempPathFactory,
    header: list[str],
    rows: list[list[str]],
    delimiter: str,
) -> None:
    lines = [delimiter.join(header), *(delimiter.join(row) for row in rows)]
    path = tmp_path_factory.mktemp("fuzz") / "fuzz.csv"
    path.write_text("\n".join(lines), encoding="utf-8")
    result = read_or_problems(path)
    if isinstance(result, list):
        assert all(
            p.line is None or 1 <= p.line <= len("\n".join(lines).splitlines()) + 1 for p in result
        )


_YAML_SCALAR = st.one_of(
    st.sampled_from(["2024-01-01", "1.5 GB", "LTE", "'8931010000123456788'", "[a.png]", "{}", "*x",
                     "&x 1", "!!binary aGk=", "null", "~", "-1", "1e999", "0x10"]),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12),
)  # fmt: skip


@fuzz_settings(200)
@given(
    section=st.sampled_from(["walkdowns", "rf_survey", "sim_usage", "other"]),
    items=st.lists(
        st.dictionaries(
            st.sampled_from(sorted({n.split(".")[0] for k in FIELDS.values() for n in k})),
            _YAML_SCALAR,
            max_size=8,
        ),
        max_size=4,
    ),
)
def test_fuzz_yaml(
    tmp_path_factory: pytest.TempPathFactory, section: str, items: list[dict[str, str]]
) -> None:
    body = "".join(
        "  - " + ("\n    ".join(f"{k}: {v}" for k, v in item.items()) or "{}") + "\n"
        for item in items
    )
    path = tmp_path_factory.mktemp("fuzz") / "fuzz.yaml"
    path.write_text(f"{section}:\n{body}", encoding="utf-8")
    read_or_problems(path)
