"""SSH: remote shells into and out of crane networks, and the software at both ends.

An inbound SSH session to an HMI, a PLC gateway or a modem, or an outbound one from a crane PC
to a server abroad, is a remote-access path (``session_kind = "remote_access"``). Before
encryption starts, both sides announce themselves: the identification line
("SSH-2.0-OpenSSH_8.2p1 Ubuntu-4ubuntu0.3", "SSH-2.0-dropbear_2019.78" on an embedded router,
"SSH-2.0-ROSSSH" on a MikroTik), and the KEXINIT message lists the algorithms each side's
software supports (a fingerprint of the implementation, HASSH).

PDUs: the identification line (and any text lines a server sends before it) up to LF, at most
255 bytes (RFC 4253 4.2); then binary packets, ``packet_length`` + 4 bytes (at most 35000,
RFC 4253 6.1). SSH 1.x packets (RFC-less SSH 1.5 protocol: length, 1-8 padding bytes, type,
data, CRC) are framed by their own rule, told apart by the SSH 2 constraint that an unencrypted
packet is a multiple of 8 bytes with at least 4 bytes of padding.

Operations: ``banner`` (code 0) per identification line, then one per binary packet named by
its message number: ``disconnect`` (1), ``ignore`` (2), ``service_request`` (5), ``kexinit``
(20, with the first key-exchange algorithm, the host-key algorithms and the HASSH/HASSH-server
in ``detail``), ``newkeys`` (21), ``kexdh_init`` (30), ``kexdh_reply`` (31), the group-exchange
messages (32-34), ... After NEWKEYS from both sides the result has ``stop=True`` and
``error="encrypted"``; a packet a side sends after its own NEWKEYS is not decoded. SSH 1.x:
``v1_public_key`` (2) and ``v1_session_key`` (3), after which the session is encrypted.

Facts (source "ssh banner"): the software version of each side (``software``, confidence 1.0,
e.g. "OpenSSH_8.2p1") and, when the comment or software names one, its operating system
(``os``: Ubuntu, Debian, FreeBSD, Raspbian, Windows, ...; confidence 0.7: the comment is a
packager's convention, not a statement).

Specifications: RFC 4253 (transport: identification string 4.2, binary packet 6, KEXINIT 7.1,
message numbers 12), RFC 4250 (assigned numbers), RFC 4419 (group exchange), RFC 5656 (ECDH);
HASSH as published by Salesforce (md5 of kex;encryption;mac;compression name-lists).

Hand-written because paramiko and asyncssh implement one live side of a connection and cannot
be fed captured bytes of both directions, and scapy has no SSH layer.
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from cranewatch.protocols._base import IdentityFact, Operation, ParseResult

NAME = "ssh"
PORTS = (22, 2222)
MAX_LINE = 255
MAX_PACKET = 35000
MAX_TEXT = 255
MAX_ALGORITHMS = 32

MESSAGES = {
    1: "disconnect", 2: "ignore", 3: "unimplemented", 4: "debug", 5: "service_request",
    6: "service_accept", 7: "ext_info", 20: "kexinit", 21: "newkeys", 30: "kexdh_init",
    31: "kexdh_reply", 32: "kex_dh_gex_init", 33: "kex_dh_gex_reply",
    34: "kex_dh_gex_request", 50: "userauth_request", 51: "userauth_failure",
    52: "userauth_success", 53: "userauth_banner", 80: "global_request",
    90: "channel_open", 94: "channel_data",
}  # fmt: skip
V1_MESSAGES = {1: "v1_disconnect", 2: "v1_public_key", 3: "v1_session_key"}
KEXINIT_LISTS = ("kex_algorithms", "server_host_key_algorithms", "encryption_c2s",
                 "encryption_s2c", "mac_c2s", "mac_s2c", "compression_c2s", "compression_s2c",
                 "languages_c2s", "languages_s2c")  # fmt: skip
#: operating systems named in identification comments or software versions (lower-case key)
OS_NAMES = (("ubuntu", "Ubuntu"), ("raspbian", "Raspbian"), ("debian", "Debian"),
            ("freebsd", "FreeBSD"), ("netbsd", "NetBSD"), ("openbsd", "OpenBSD"),
            ("for_windows", "Windows"), ("windows", "Windows"), ("centos", "CentOS"),
            ("redhat", "Red Hat"), ("rhel", "Red Hat"), ("fedora", "Fedora"),
            ("suse", "SUSE"), ("alpine", "Alpine"), ("openwrt", "OpenWrt"),
            ("solaris", "Solaris"), ("sun_ssh", "Solaris"), ("cisco", "Cisco IOS"),
            ("rosssh", "RouterOS"), ("mikrotik", "RouterOS"))  # fmt: skip


def _is_v2_packet(buf: bytes, offset: int, length: int) -> bool:
    """An unencrypted SSH 2 packet: 4 + length is a multiple of 8, padding of 4 bytes or more."""
    padding = buf[offset + 4]
    return (length + 4) % 8 == 0 and 4 <= padding < length


def packet_length(buf: bytes, offset: int) -> int:
    """Length of the identification line or packet at ``offset`` (see the module docstring)."""
    if offset >= len(buf):
        return 0
    first = buf[offset]
    if first != 0:  # a text line: the identification string or a line before it
        if (first < 0x20 and first not in (0x0D, 0x0A, 0x09)) or first > 0x7E:
            return -1
        eol = buf.find(b"\n", offset, offset + MAX_LINE)
        if eol < 0:
            return 0 if len(buf) - offset < MAX_LINE else -1
        return eol + 1 - offset
    if len(buf) - offset < 5:
        return 0
    length = int.from_bytes(buf[offset : offset + 4], "big")
    if length < 5 or length > MAX_PACKET:
        return -1
    if _is_v2_packet(buf, offset, length):
        return 4 + length
    return 4 + (8 - length % 8) + length  # SSH 1.x: length excludes the 1-8 padding bytes


def os_from_banner(software: str, comment: str) -> str | None:
    text = f"{software} {comment}".lower()
    return next((name for key, name in OS_NAMES if key in text), None)


class SshAnalyzer:
    """SSH identification lines and cleartext transport packets -> software, OS, key exchange."""

    name = NAME
    description = "SSH identification banners and key exchange (software, OS, algorithms)"
    status: Literal["stable", "beta"] = "beta"
    ports: tuple[int, ...] = PORTS
    session_kind = "remote_access"

    def detect(self, client: bytes, server: bytes, server_port: int) -> float:
        client_banner = _banner_at_start(client)
        server_banner = _banner_at_start(server)
        if client_banner and server_banner:
            return 0.98
        if client_banner or server_banner:
            return 0.95
        # a server may send text lines before its identification string (RFC 4253 4.2)
        if b"\r\nSSH-2.0-" in server[:1024] or b"\nSSH-1.99-" in server[:1024]:
            return 0.8
        return 0.0

    def pdu_length(self, buf: bytes, offset: int) -> int:
        return packet_length(buf, offset)

    def parse(self, pdu: bytes, from_client: bool, state: dict[str, Any]) -> ParseResult:
        side = 0 if from_client else 1
        ssh = state.setdefault("ssh", {"newkeys": [False, False], "v1": False, "stopped": False})
        if ssh["stopped"]:
            return ParseResult(error="encrypted", stop=True)
        if not pdu:
            return ParseResult(error="empty PDU")
        if pdu[0] != 0:
            return _line(pdu, from_client, ssh)
        if ssh["newkeys"][side]:
            return ParseResult(error="encrypted")
        if len(pdu) < 6:
            return ParseResult(error="SSH packet shorter than its header")
        length = int.from_bytes(pdu[:4], "big")
        if ssh["v1"] or not _is_v2_packet(pdu, 0, length):
            return _v1_packet(pdu, from_client, ssh)
        if 4 + length != len(pdu):
            return ParseResult(error=f"packet_length {length} does not match the PDU")
        padding = pdu[4]
        payload = pdu[5 : 4 + length - padding]
        if not payload:
            return ParseResult(error="SSH packet without a payload")
        return _packet(payload, from_client, side, ssh)


def _banner_at_start(data: bytes) -> bool:
    return data.startswith((b"SSH-2.0-", b"SSH-1.99-", b"SSH-1.5-", b"SSH-1.3-"))


def _direction(from_client: bool) -> Literal["request", "response"]:
    return "request" if from_client else "response"


def _line(pdu: bytes, from_client: bool, ssh: dict[str, Any]) -> ParseResult:
    line = pdu.rstrip(b"\r\n").decode("utf-8", errors="replace")[:MAX_TEXT]
    if not line.startswith("SSH-"):
        return ParseResult()  # a text line a server may send before its identification
    proto, _, rest = line[4:].partition("-")
    software, _, comment = rest.partition(" ")
    if not proto or not software:
        return ParseResult(error="malformed SSH identification string")
    if from_client and proto.startswith("1.") and proto != "1.99":
        ssh["v1"] = True  # the client chose SSH 1
    detail = {"proto_version": proto, "software": software, "banner": line}
    if comment:
        detail["comments"] = comment
    result = ParseResult(operations=[Operation(
        protocol=NAME, code=0, name="banner", direction=_direction(from_client),
        target=line, detail=detail,
    )])  # fmt: skip
    result.identities.append(IdentityFact(NAME, "software", software, 1.0, "sender", "ssh banner"))
    os_name = os_from_banner(software, comment)
    if os_name:
        result.identities.append(IdentityFact(NAME, "os", os_name, 0.7, "sender", "ssh banner"))
    return result


def _name_lists(payload: bytes) -> list[list[str]] | None:
    pos = 17  # message number + 16-byte cookie
    lists: list[list[str]] = []
    for _ in KEXINIT_LISTS:
        if pos + 4 > len(payload):
            return None
        n = int.from_bytes(payload[pos : pos + 4], "big")
        if pos + 4 + n > len(payload):
            return None
        raw = payload[pos + 4 : pos + 4 + n].decode("ascii", errors="replace")
        lists.append([a[:64] for a in raw.split(",")[: MAX_ALGORITHMS * 4] if a])
        pos += 4 + n
    return lists


def _packet(payload: bytes, from_client: bool, side: int, ssh: dict[str, Any]) -> ParseResult:
    msg = payload[0]
    name = MESSAGES.get(msg, f"message_{msg}")
    result = ParseResult()
    detail: dict[str, Any] = {"length": len(payload)}
    target = None
    if msg == 20:
        lists = _name_lists(payload)
        if lists is None:
            result.error = "malformed KEXINIT name-lists"
        else:
            algs = dict(zip(KEXINIT_LISTS, lists, strict=True))
            suffix = "c2s" if from_client else "s2c"
            hassh = ";".join(",".join(algs[k]) for k in (
                "kex_algorithms", f"encryption_{suffix}", f"mac_{suffix}",
                f"compression_{suffix}"))  # fmt: skip
            detail.update(
                kex_algorithm=algs["kex_algorithms"][0] if algs["kex_algorithms"] else None,
                kex_algorithms=algs["kex_algorithms"][:MAX_ALGORITHMS],
                host_key_algorithms=algs["server_host_key_algorithms"][:MAX_ALGORITHMS],
                encryption=algs[f"encryption_{suffix}"][:MAX_ALGORITHMS],
                hassh=hashlib.md5(hassh.encode(), usedforsecurity=False).hexdigest(),
                hassh_algorithms=hassh[:MAX_TEXT],
            )
            target = detail["kex_algorithm"]
    elif msg == 1 and len(payload) >= 5:
        detail["reason_code"] = int.from_bytes(payload[1:5], "big")
    result.operations.append(Operation(
        protocol=NAME, code=msg, name=name, direction=_direction(from_client), target=target,
        exception=detail.get("reason_code"), detail=detail,
    ))  # fmt: skip
    if msg == 21:
        ssh["newkeys"][side] = True
        if all(ssh["newkeys"]):
            ssh["stopped"] = True
            result.stop = True
            result.error = result.error or "encrypted"
    return result


def _v1_packet(pdu: bytes, from_client: bool, ssh: dict[str, Any]) -> ParseResult:
    length = int.from_bytes(pdu[:4], "big")
    padding = 8 - length % 8
    if 4 + padding + length != len(pdu):
        return ParseResult(error="SSH 1 packet length does not match the PDU")
    msg = pdu[4 + padding]
    result = ParseResult(operations=[Operation(
        protocol=NAME, code=msg, name=V1_MESSAGES.get(msg, f"v1_message_{msg}"),
        direction=_direction(from_client), detail={"length": length, "ssh1": True},
    )])  # fmt: skip
    if msg == 3:  # SSH_CMSG_SESSION_KEY: everything after it is encrypted
        ssh["stopped"] = True
        result.stop, result.error = True, "encrypted"
    return result


ANALYZER = SshAnalyzer()
