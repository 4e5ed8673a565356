"""Assertions the network analyzers' tests make the same way for every protocol.

- ``parse_one``: parse one PDU (with a fresh flow state unless one is given) and assert that it
  decoded without an error into exactly one operation;
- ``check_datagram``: the fuzzers' check of a datagram analyzer on any bytes: ``parse`` returns a
  ``ParseResult`` holding operations or an error (``empty_ok``: or nothing at all, for bytes the
  analyzer passes over) and never raises, ``detect`` a confidence between 0 and 1.
"""

from __future__ import annotations

from typing import Any

from cranewatch.protocols._base import ParseResult


def parse_one(analyzer: Any, pdu: bytes, from_client: bool = True,
              state: dict | None = None) -> ParseResult:  # fmt: skip
    result = analyzer.parse(pdu, from_client, {} if state is None else state)
    assert result.error is None, result.error
    assert len(result.operations) == 1
    return result


def check_datagram(analyzer: Any, data: bytes, from_client: bool, port: int,
                   empty_ok: bool = False) -> ParseResult:  # fmt: skip
    result = analyzer.parse(data, from_client, {})
    assert isinstance(result, ParseResult)
    assert result.operations or result.error or (empty_ok and result == ParseResult())
    assert 0.0 <= analyzer.detect(data, from_client, port) <= 1.0
    return result
