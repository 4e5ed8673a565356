"""IEC 61850 MMS: what is asked of substation and drive IEDs, and what they say they are.

Crane power supplies (medium-voltage switchgear, shore connection, drive line-ups) increasingly
speak IEC 61850. Their client/server traffic is MMS (ISO 9506) over the OSI upper layers on
ISO-on-TCP port 102, as IEC 61850-8-1 clause 6 maps it. This analyzer recognises it by content
(TPKT/COTP, an ISO session SPDU, a presentation PPDU and an MMS PDU inside), names every MMS
PDU and confirmed service (read, write, getNameList, getVariableAccessAttributes, identify,
file and domain services, ...), gives the variables, domains and files they name as the target,
classifies them (an IEC 61850 control operation is a write to a ``$CO$`` attribute such as
``XCBR1$CO$Pos$Oper``: a breaker operated over the network), and turns the Identify response
(vendor name, model name, revision) into identity facts.

Specifications: ISO 9506-1/-2 (MMS service and protocol, ASN.1 module ISO-9506-MMS-1),
ITU-T X.225 (session), X.226 (presentation), X.227 (ACSE), IEC 61850-8-1 clause 6 and
Annex A (profiles); framing as for S7comm (RFC 1006, X.224 class 0).

Why hand-written: the Python MMS stacks (libiec61850's bindings, pyiec61850) are clients and
servers that parse only their own associations, and scapy has no MMS layer; neither can take
one captured PDU at a time at capture speed. The decoder reads only the headers and the names
it needs (``_osi`` for the session and presentation layers, ``_wire`` for MMS) with a bounded BER reader (``_ber``, shared with the GOOSE analyzer).

Operation codes: a confirmed service has its ConfirmedServiceRequest tag as code (read 4,
write 5, ...), the same in the request and the response; other PDUs have
``MMSpdu tag << 8 | service tag`` of their request form: informationReport 0x300,
reject 0x400, cancel 0x500, initiate 0x800, conclude 0xB00, and 0x200 for a confirmed error
whose request was not seen.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from cranewatch.protocols import _tpkt as _cotp
from cranewatch.protocols._base import Direction, IdentityFact, Operation, ParseResult
from cranewatch.protocols.mms import _osi, _wire
from cranewatch.protocols.mms._wire import MmsPdu

NAME = "mms"
MAX_PENDING = 1024
MAX_REASSEMBLY = 65536

_R, _W, _C, _D = "read", "write", "control", "diagnostic"
#: confirmed service tag -> classification (ISO 9506-2 tags)
SERVICE_CLASSES: dict[int, frozenset[str]] = {
    **{tag: frozenset({_D}) for tag in (0, 1, 2, 6, 9, 12, 15, 23, 24, 25, 37, 45, 49, 50, 55,
                                        56, 60, 61, 63, 64, 68, 71, 77)},
    **{tag: frozenset({_W}) for tag in (3, 5, 7, 8, 10, 11, 13, 14, 16, 18, 21, 22, 47, 48, 51,
                                        53, 54, 57, 58, 59, 62, 66, 67, 69, 70, 75, 76)},
    **{tag: frozenset({_R}) for tag in (4, 17, 29, 30, 31, 33, 35, 65, 72, 73)},
    **{tag: frozenset({_W, _C}) for tag in (26, 27, 28, 32, 34, 36, 38, 39, 46)},
    **{tag: frozenset({_C}) for tag in (40, 41, 42, 43, 44, 52)},
}  # fmt: skip
CODE_CONFIRMED_ERROR, CODE_UNCONFIRMED, CODE_REJECT = 0x200, 0x300, 0x400
CODE_CANCEL, CODE_INITIATE, CODE_CONCLUDE = 0x500, 0x800, 0xB00
#: IEC 61850 functional constraints in a written name that make the write a control action
CONTROL_MARKERS = ("$CO$",)


def snake(name: str) -> str:
    """``getNameList`` -> ``get_name_list``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).replace("-", "_").lower()


def _flags(classes: frozenset[str]) -> dict[str, bool]:
    return {"is_read": _R in classes, "is_write": _W in classes, "is_control": _C in classes,
            "is_diagnostic": _D in classes}  # fmt: skip


def looks_like_mms(payload: bytes) -> bool:
    """A COTP DT payload that holds an ISO session SPDU with an MMS PDU inside."""
    got = _osi.session_user_data(payload)
    if isinstance(got, str) or not got[1]:
        return False
    return any(kind == "mms" and not isinstance(_wire.decode(raw), str)
               for kind, raw in _osi.upper_pdus(got[1]))  # fmt: skip


class MmsAnalyzer:
    """IEC 61850 MMS over ISO-on-TCP (see the module docstring)."""

    name = NAME
    description = "IEC 61850 MMS (ISO 9506 over ISO-on-TCP port 102): services, targets, identify"
    status: Literal["stable", "beta"] = "beta"
    ports: tuple[int, ...] = (102,)

    def detect(self, client: bytes, server: bytes, server_port: int) -> float:
        for data in (client, server):
            _, payloads = _cotp.first_payloads(_cotp.resync(data))
            if any(looks_like_mms(p) for p in payloads):
                return 0.99 if server_port in self.ports else 0.95
            if payloads:
                return 0.0
        return 0.0

    def pdu_length(self, buf: bytes, offset: int) -> int:
        return _cotp.tpkt_length(buf, offset)

    def parse(self, pdu: bytes, from_client: bool, state: dict[str, Any]) -> ParseResult:
        try:
            return self._parse(pdu, from_client, state)
        except (IndexError, ValueError, KeyError, TypeError, RecursionError) as exc:
            return ParseResult(error=f"mms decoder error: {exc!r}")

    def _parse(self, pdu: bytes, from_client: bool, state: dict[str, Any]) -> ParseResult:
        unit = _cotp.parse_cotp(pdu)
        if isinstance(unit, str):
            return ParseResult(error=unit)
        if unit.code != _cotp.DT or not unit.payload:
            return ParseResult()
        parts: dict[bool, bytearray] = state.setdefault("cotp_parts", {})
        if not unit.eot:
            buf = parts.setdefault(from_client, bytearray())
            if len(buf) + len(unit.payload) <= MAX_REASSEMBLY:
                buf += unit.payload
            return ParseResult()
        payload = bytes(parts.pop(from_client, b"")) + unit.payload
        session = _osi.session_user_data(payload)
        if isinstance(session, str):
            return ParseResult(error=session)
        spdu, user_data = session
        if not user_data:
            return ParseResult()  # e.g. a session Finish/Disconnect without presentation data
        result = ParseResult()
        for kind, raw in _osi.upper_pdus(user_data):
            if kind != "mms":
                continue
            mms = _wire.decode(raw)
            if isinstance(mms, str):
                result.error = mms
                continue
            op = self._operation(mms, spdu, state)
            result.operations.append(op)
            if mms.identity:
                result.identities.extend(self._identity(mms))
        if not result.operations and result.error is None and spdu == "DT":
            result.error = "ISO presentation data without an MMS PDU"
        return result

    @staticmethod
    def _identity(mms: MmsPdu) -> list[IdentityFact]:
        attributes = {"vendor": "vendor", "model": "model", "revision": "firmware"}
        return [IdentityFact(NAME, attributes[k], v) for k, v in mms.identity.items()]

    def _operation(self, mms: MmsPdu, spdu: str, state: dict[str, Any]) -> Operation:
        pending: dict[int | None, tuple[int, str | None]] = state.setdefault("pending", {})
        detail: dict[str, Any] = {"pdu": _wire.PDU_NAMES[mms.pdu], "spdu": spdu, **mms.detail}
        if mms.invoke_id is not None:
            detail["invoke_id"] = mms.invoke_id
        target = ", ".join(mms.names) if mms.names else None
        kind = mms.pdu
        if kind == _wire.CONFIRMED_REQUEST and mms.service is not None:
            classes = SERVICE_CLASSES.get(mms.service, frozenset())
            if mms.service == _wire.WRITE and any(m in (target or "") for m in CONTROL_MARKERS):
                classes = classes | {_C}
            pending[mms.invoke_id] = (mms.service, target)
            while len(pending) > MAX_PENDING:
                pending.pop(next(iter(pending)))
            return Operation(NAME, mms.service, snake(_wire.service_name(mms.service)), "request",
                             target=target, detail=detail, **_flags(classes))  # fmt: skip
        if kind in (_wire.CONFIRMED_RESPONSE, _wire.CONFIRMED_ERROR):
            request = pending.pop(mms.invoke_id, None)
            service = mms.service if mms.service is not None else (request[0] if request else None)
            if request and request[0] == service:
                target = target or request[1]
            if service is None:
                return Operation(NAME, CODE_CONFIRMED_ERROR, "confirmed_error", "response",
                                 exception=mms.error, detail=detail)  # fmt: skip
            classes = SERVICE_CLASSES.get(service, frozenset())
            if service == _wire.WRITE and any(m in (target or "") for m in CONTROL_MARKERS):
                classes = classes | {_C}
            return Operation(NAME, service, snake(_wire.service_name(service)), "response",
                             target=target, exception=mms.error, detail=detail,
                             **_flags(classes))  # fmt: skip
        if kind == _wire.UNCONFIRMED:
            service = mms.service or 0
            names = _wire.UNCONFIRMED_SERVICES
            name = snake(names[service]) if service < len(names) else f"unconfirmed_{service}"
            return Operation(NAME, CODE_UNCONFIRMED | service, name, "unsolicited", target=target,
                             detail=detail)  # fmt: skip
        code, name = {
            _wire.REJECT: (CODE_REJECT, "reject"),
            _wire.CANCEL_REQUEST: (CODE_CANCEL, "cancel"),
            _wire.CANCEL_RESPONSE: (CODE_CANCEL, "cancel"),
            _wire.CANCEL_ERROR: (CODE_CANCEL, "cancel"),
            _wire.INITIATE_REQUEST: (CODE_INITIATE, "initiate"),
            _wire.INITIATE_RESPONSE: (CODE_INITIATE, "initiate"),
            _wire.INITIATE_ERROR: (CODE_INITIATE, "initiate"),
            _wire.CONCLUDE_REQUEST: (CODE_CONCLUDE, "conclude"),
            _wire.CONCLUDE_RESPONSE: (CODE_CONCLUDE, "conclude"),
            _wire.CONCLUDE_ERROR: (CODE_CONCLUDE, "conclude"),
        }.get(kind, (kind << 8, _wire.PDU_NAMES.get(kind, "unknown")))
        requests = (_wire.CANCEL_REQUEST, _wire.INITIATE_REQUEST, _wire.CONCLUDE_REQUEST)
        direction: Direction = "request" if kind in requests else "response"
        return Operation(NAME, code, name, direction, exception=mms.error, detail=detail)


ANALYZER = MmsAnalyzer()

__all__ = ["ANALYZER", "NAME", "MmsAnalyzer", "snake"]
