"""cranewatch.testing.zeek_log reads the peer's TSV logs the protocol tests compare with."""

from __future__ import annotations

from pathlib import Path

import pytest

from cranewatch.testing import zeek_log

ZEEK = Path(__file__).resolve().parents[1] / "captures" / "zeek-baseline"


def test_rows_are_keyed_by_the_fields_line() -> None:
    rows = zeek_log(ZEEK / "mqtt" / "mqtt_connect_subscribe_publish" / "mqtt_connect.log")
    assert rows and all("client_id" in r for r in rows)


def test_a_log_without_fields_line_needs_the_names(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_text("### btest banner\n1\ta\n2\tb\n")
    with pytest.raises(ValueError, match="no #fields"):
        zeek_log(log)
    assert zeek_log(log, ("n", "s")) == [{"n": "1", "s": "a"}, {"n": "2", "s": "b"}]


def test_strict_rejects_short_rows(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_text("#fields\tn\ts\n1\n")
    with pytest.raises(ValueError):
        zeek_log(log)
    assert zeek_log(log, strict=False) == [{"n": "1"}]
