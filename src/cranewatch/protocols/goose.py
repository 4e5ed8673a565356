"""IEC 61850 GOOSE: the layer-2 event messages between protection and control IEDs, named.

GOOSE (Generic Object Oriented Substation Event) frames go straight onto Ethernet with
EtherType 0x88B8, usually multicast and often in a priority-tagged VLAN. A publisher repeats
its dataset at a slow heartbeat and bursts a new state number (stNum) when a value changes: a
breaker trip, an interlock, a crane's shore-power or drive line-up releasing. An unexpected
publisher, a test flag, or stNum changes that no local IED explains are what an analyst needs
to see, so every frame is named with its control block, dataset and counters.

Wire format: IEC 61850-8-1 clause 8.1 (and Annex A): APPID, Length (of the APPID-to-end part),
Reserved 1 (its top bit is the Ed. 2 "simulation" flag), Reserved 2, then the BER-encoded
IECGoosePdu, [APPLICATION 1] SEQUENCE of gocbRef [0], timeAllowedtoLive [1], datSet [2],
goID [3] OPTIONAL, t [4] (UtcTime), stNum [5], sqNum [6], simulation/test [7], confRev [8],
ndsCom [9], numDatSetEntries [10], allData [11].

Why hand-written: the only Python GOOSE code (libiec61850's bindings, scapy contrib layers)
either publishes/subscribes through a C stack or is far too slow per frame; this reads a handful
of BER fields with the bounded reader shared with the MMS analyzer.

The single operation code is 1, the [APPLICATION 1] tag of the IECGoosePdu (the GOOSE service
of IEC 61850-7-2 is SendGOOSEMessage); the APPID and counters go to ``detail``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from cranewatch.protocols import _ber
from cranewatch.protocols._base import IdentityFact, Operation, ParseResult
from cranewatch.protocols._ber import APPLICATION, CONTEXT

NAME = "goose"
ETHERTYPE_GOOSE = 0x88B8
GOOSE_PDU_TAG = 1  # IECGoosePdu ::= [APPLICATION 1] IMPLICIT SEQUENCE
HEADER = 8  # APPID, Length, Reserved 1, Reserved 2
SIMULATION_BIT = 0x8000  # in Reserved 1 (IEC 61850-8-1 Ed. 2)

#: IECGoosePdu element tags -> field names as IEC 61850-8-1 names them
FIELDS = {0: "gocbRef", 1: "timeAllowedtoLive", 2: "datSet", 3: "goID", 4: "t", 5: "stNum",
          6: "sqNum", 7: "simulation", 8: "confRev", 9: "ndsCom", 10: "numDatSetEntries",
          11: "allData"}  # fmt: skip
_STRINGS, _BOOLS = (0, 2, 3), (7, 9)


def _utc_time(raw: bytes) -> str | None:
    """UtcTime (IEC 61850-8-1 8.1.3.7): 4 bytes seconds, 3 bytes fraction, 1 quality byte."""
    if len(raw) != 8:
        return None
    seconds = int.from_bytes(raw[0:4], "big")
    fraction = int.from_bytes(raw[4:7], "big") / (1 << 24)
    try:
        stamp = datetime.fromtimestamp(seconds + fraction, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return stamp.isoformat().replace("+00:00", "Z")


def decode(payload: bytes) -> dict[str, Any] | str:
    """The header and PDU fields of one GOOSE frame (the bytes after the EtherType)."""
    if len(payload) < HEADER + 2:
        return "GOOSE frame truncated"
    appid = int.from_bytes(payload[0:2], "big")
    length = int.from_bytes(payload[2:4], "big")
    if length < HEADER + 2 or length > len(payload):
        return f"GOOSE length {length} does not fit the frame ({len(payload)} bytes)"
    reserved1 = int.from_bytes(payload[4:6], "big")
    pdu = _ber.read_tlv(payload, HEADER, length)
    if pdu is None or not pdu.is_(APPLICATION, GOOSE_PDU_TAG, True):
        return "no IECGoosePdu after the GOOSE header (GSE management or corrupt)"
    fields: dict[str, Any] = {"appid": appid, "simulated": bool(reserved1 & SIMULATION_BIT)}
    for tlv in _ber.children(payload, pdu):
        if tlv.cls != CONTEXT or tlv.number not in FIELDS:
            continue
        key = FIELDS[tlv.number]
        if tlv.number in _STRINGS:
            fields[key] = _ber.text(payload, tlv)
        elif tlv.number in _BOOLS:
            fields[key] = _ber.boolean(payload, tlv)
        elif tlv.number == 4:
            fields[key] = _utc_time(payload[tlv.start : tlv.end])
        elif tlv.number == 11:
            fields["allDataEntries"] = sum(1 for _ in _ber.children(payload, tlv))
        else:
            fields[key] = _ber.integer(payload, tlv)
    if "gocbRef" not in fields:
        return "IECGoosePdu without gocbRef"
    return fields


class GooseAnalyzer:
    """IEC 61850 GOOSE on EtherType 0x88B8 (see the module docstring)."""

    name = NAME
    description = "IEC 61850 GOOSE (EtherType 0x88B8): publisher control block, dataset, state"
    status: Literal["stable", "beta"] = "beta"
    ports: tuple[int, ...] = ()
    ethertypes: tuple[int, ...] = (ETHERTYPE_GOOSE,)

    def detect(self, payload: bytes, from_client: bool, port: int) -> float:
        return 0.95 if isinstance(decode(payload), dict) else 0.0

    def parse(self, payload: bytes, from_client: bool, state: dict[str, Any]) -> ParseResult:
        try:
            fields = decode(payload)
        except (IndexError, ValueError, TypeError) as exc:
            return ParseResult(error=f"goose decoder error: {exc!r}")
        if isinstance(fields, str):
            return ParseResult(error=fields)
        gocb = str(fields["gocbRef"])
        detail = dict(fields)
        detail["appid"] = f"0x{fields['appid']:04x}"
        last: dict[str, int | None] = state.setdefault("st_num", {})
        previous = last.get(gocb)
        if previous is not None and fields.get("stNum") != previous:
            detail["state_change"] = True
        last[gocb] = fields.get("stNum")
        while len(last) > 256:
            last.pop(next(iter(last)))
        op = Operation(NAME, GOOSE_PDU_TAG, "send_goose_message", "unsolicited", target=gocb,
                       detail=detail)  # fmt: skip
        identities = []
        if "/" in gocb:  # <LD name>/LLN0$GO$<name>: the LD name starts with the IED name
            identities.append(IdentityFact(NAME, "station_name", gocb.split("/", 1)[0], 0.5))
        return ParseResult([op], identities)


ANALYZER = GooseAnalyzer()

__all__ = ["ANALYZER", "NAME", "GooseAnalyzer", "decode"]
