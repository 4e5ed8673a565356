"""The IKE header: the 28 bytes IKEv1/ISAKMP (RFC 2408 3.1) and IKEv2 (RFC 7296 3.1) share.

Initiator and responder SPIs (8 bytes each), the first payload's type, the major and minor
version, the exchange type, the flags, the message id and the message length. The exchange and
payload type names follow the IANA "ISAKMP" and "IKEv2 Parameters" registries (payload 130-132
are the NAT-T drafts' and Cisco's IKEv1 fragmentation private types; 53 is the IKEv2 SKF
fragment of RFC 7383). :func:`header_plausible` accepts only values IKE uses: detection relies
on it to tell IKE from other UDP on ports 500 and 4500.
"""

from __future__ import annotations

NAME = "ike"  # the protocol of the analyzer's operations and facts
HEADER = 28

V1_EXCHANGES = {1: "base", 2: "identity_protection", 3: "authentication_only",
                4: "aggressive", 5: "informational", 6: "transaction", 32: "quick",
                33: "new_group"}  # fmt: skip
V2_EXCHANGES = {34: "ike_sa_init", 35: "ike_auth", 36: "create_child_sa", 37: "informational",
                38: "ike_session_resume", 43: "ike_intermediate",
                44: "ike_followup_kex"}  # fmt: skip
V1_PAYLOADS = {1: "SA", 2: "P", 3: "T", 4: "KE", 5: "ID", 6: "CERT", 7: "CR", 8: "HASH",
               9: "SIG", 10: "NONCE", 11: "N", 12: "D", 13: "VID", 14: "ATTR", 15: "SAK",
               16: "SAT", 17: "KD", 18: "SEQ", 19: "POP", 20: "NAT-D", 21: "NAT-OA",
               22: "GAP", 130: "NAT-D", 131: "NAT-OA", 132: "FRAG"}  # fmt: skip
V2_PAYLOADS = {33: "SA", 34: "KE", 35: "IDi", 36: "IDr", 37: "CERT", 38: "CERTREQ",
               39: "AUTH", 40: "Ni", 41: "N", 42: "D", 43: "V", 44: "TSi", 45: "TSr",
               46: "SK", 47: "CP", 48: "EAP", 49: "GSPM", 50: "IDg", 51: "GSA", 52: "KD",
               53: "SKF", 54: "PS"}  # fmt: skip
V2_SK, V2_SKF = 46, 53


class _Header:
    __slots__ = ("exchange", "flags", "ispi", "length", "major", "message_id", "minor",
                 "next_payload", "rspi")  # fmt: skip

    def __init__(self, data: bytes) -> None:
        self.ispi = data[0:8]
        self.rspi = data[8:16]
        self.next_payload = data[16]
        self.major, self.minor = data[17] >> 4, data[17] & 0x0F
        self.exchange = data[18]
        self.flags = data[19]
        self.message_id = int.from_bytes(data[20:24], "big")
        self.length = int.from_bytes(data[24:28], "big")


def header_plausible(data: bytes) -> _Header | None:
    """The IKE header at the start of ``data`` when its fields hold values IKE uses."""
    if len(data) < HEADER:
        return None
    head = _Header(data)
    if head.minor != 0 or head.length < HEADER or not any(head.ispi):
        return None
    if head.major == 1:
        ok = head.exchange in V1_EXCHANGES and head.flags < 8
        ok = ok and (head.next_payload in V1_PAYLOADS or head.next_payload == 0)
    elif head.major == 2:
        ok = head.exchange in V2_EXCHANGES and not head.flags & 0xC7
        ok = ok and (head.next_payload in V2_PAYLOADS or head.next_payload == 0)
    else:
        return None
    return head if ok else None


def _flags(head: _Header) -> list[str]:
    if head.major == 1:
        bits = ((0x01, "encrypted"), (0x02, "commit"), (0x04, "authentication_only"))
    else:
        bits = ((0x08, "initiator"), (0x10, "version"), (0x20, "response"))
    return [name for bit, name in bits if head.flags & bit]
