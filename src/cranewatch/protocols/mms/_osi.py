"""The OSI upper layers under MMS: ISO session, presentation and ACSE, unwrapped to the MMS PDU.

IEC 61850-8-1 (clause 6 and Annex A) runs MMS over the OSI upper layers on ISO-on-TCP:

- ISO session (ITU-T X.225 / ISO 8327-1): a COTP DT carries SPDUs. Connect (CN, SI 13) and
  Accept (AC, 14) carry the presentation PDU in their User Data parameter (PGI 193); Finish
  (FN, 9), Disconnect (DN, 10), Refuse (RF, 12) and Abort (AB, 25) likewise; data transfer
  is Give Tokens (SI 1, empty) followed by Data Transfer (SI 1) and then the user data;
- presentation (ITU-T X.226 / ISO 8823): CP-type/CPA-PPDU (SET, 0x31) with the
  normal-mode-parameters [2] holding user data, or fully-encoded-data ([APPLICATION 1], 0x61)
  alone; its PDV-list carries the upper PDU as single-ASN1-type [0];
- ACSE (ITU-T X.227 / ISO 8650): AARQ/AARE/RLRQ/RLRE ([APPLICATION 0-3]) carry the MMS
  initiate and conclude PDUs in user-information [30] as an EXTERNAL with single-ASN1-type [0].
"""

from __future__ import annotations

from cranewatch.protocols import _ber
from cranewatch.protocols._ber import APPLICATION, CONTEXT, UNIVERSAL, Tlv

#: session SPDU identifiers (X.225 8.3)
SPDU_NAMES = {1: "DT", 13: "CN", 14: "AC", 12: "RF", 9: "FN", 10: "DN", 25: "AB", 26: "AA",
              8: "NF", 5: "PR"}  # fmt: skip
SPDU_GT_DT, SPDU_CN, SPDU_AC = 1, 13, 14
PGI_USER_DATA, PGI_EXTENDED_USER_DATA = 193, 194


def _length(buf: bytes, pos: int) -> tuple[int, int] | None:
    """X.225 length: one byte, or 0xFF and two bytes; returns (length, next position)."""
    if pos >= len(buf):
        return None
    if buf[pos] != 0xFF:
        return buf[pos], pos + 1
    if pos + 3 > len(buf):
        return None
    return (buf[pos + 1] << 8) | buf[pos + 2], pos + 3


def session_user_data(spdu: bytes) -> tuple[str, bytes] | str:
    """(SPDU name, presentation bytes) of the SPDUs in one COTP payload, or why not."""
    if len(spdu) < 2:
        return "ISO session SPDU truncated"
    si = spdu[0]
    if si not in SPDU_NAMES:
        return f"unknown ISO session SPDU {si}"
    got = _length(spdu, 1)
    if got is None or got[0] + got[1] > len(spdu):
        return "ISO session length does not fit"
    li, pos = got
    if si == SPDU_GT_DT:
        # Give Tokens (category 0) then Data Transfer: the user data follows the DT header
        after = pos + li
        if after < len(spdu) and spdu[after] == SPDU_GT_DT:
            inner = _length(spdu, after + 1)
            if inner is None or inner[0] + inner[1] > len(spdu):
                return "ISO session DT length does not fit"
            return "DT", spdu[inner[1] + inner[0] :]
        return "DT", spdu[after:]
    end = pos + li
    while pos + 2 <= end:  # parameters: PGI/PI code, length, value
        code = spdu[pos]
        got = _length(spdu, pos + 1)
        if got is None or got[0] + got[1] > end:
            return "ISO session parameter does not fit"
        length, value = got
        if code in (PGI_USER_DATA, PGI_EXTENDED_USER_DATA):
            return SPDU_NAMES[si], spdu[value : value + length]
        pos = value + length
    return SPDU_NAMES[si], b""


# ------------------------------------------------------------------- presentation and ACSE


def upper_pdus(user_data: bytes) -> list[tuple[str, bytes]]:
    """The PDUs a presentation PPDU carries: ("acse", bytes) or ("mms", bytes) each."""
    top = _ber.read_tlv(user_data, 0)
    if top is None:
        return []
    fully_encoded: Tlv | None = None
    if top.is_(UNIVERSAL, 17, True):  # CP-type / CPA-PPDU: SET
        normal = _ber.child(user_data, top, CONTEXT, 2)
        if normal is not None:
            fully_encoded = _ber.child(user_data, normal, APPLICATION, 1)
    elif top.is_(APPLICATION, 1, True):
        fully_encoded = top
    if fully_encoded is None:
        return []
    out: list[tuple[str, bytes]] = []
    for pdv in _ber.children(user_data, fully_encoded):
        if not pdv.is_(UNIVERSAL, 16, True):
            continue
        value = _ber.child(user_data, pdv, CONTEXT, 0)  # single-ASN1-type
        if value is None:
            continue
        inner = _ber.read_tlv(user_data, value.start, value.end)
        if inner is None:
            continue
        raw = user_data[inner.tag_start : inner.end]
        if inner.cls == APPLICATION:
            out.append(("acse", raw))
            mms = _acse_user_information(raw)
            if mms:
                out.append(("mms", mms))
        elif inner.cls == CONTEXT:
            out.append(("mms", raw))
    return out


def _acse_user_information(apdu: bytes) -> bytes | None:
    """The MMS PDU inside an ACSE AARQ/AARE/RLRQ/RLRE user-information [30] EXTERNAL."""
    top = _ber.read_tlv(apdu, 0)
    if top is None or not top.constructed:
        return None
    info = _ber.child(apdu, top, CONTEXT, 30)
    if info is None:
        return None
    external = _ber.child(apdu, info, UNIVERSAL, 8)
    if external is None:
        return None
    encoding = _ber.child(apdu, external, CONTEXT, 0)
    if encoding is None:
        return None
    inner = _ber.read_tlv(apdu, encoding.start, encoding.end)
    return apdu[inner.tag_start : inner.end] if inner is not None else None
