"""Syslog: which devices log, to whom, under which host and application names.

Switches, firewalls, cellular routers and Linux-based HMIs send their logs over UDP 514. The
header of every message names the sending host and the program that logged, so syslog shows
devices that announce themselves nowhere else (a modem whose web UI logs as ``RUT955`` or
``openvpn``), and a log stream leaving the site is itself a path worth knowing about.

Every message becomes one operation: code = PRI, name ``message``, target
``facility.severity`` (e.g. ``auth.warning``), direction ``unsolicited``. The header's HOSTNAME
becomes an identity fact ``hostname`` about the sender (confidence 0.8, source "syslog header":
a relay may forward others' messages), the APP-NAME (RFC 5424) or TAG (RFC 3164) a ``software``
fact (confidence 0.6). Every message reports its facts again; the dispatcher counts them into one
identity row per device and value. The analyzer keeps no per-flow state (``stateless``), so a
message repeated word for word (a switch's link-state log without a timestamp, sent every few
seconds) reuses the first one's result. The message text is never stored, since logs carry user names, commands and sometimes
passwords: only its length, and for RFC 5424 the structured-data element ids, go to ``detail``.

Specifications: RFC 5424 (the syslog protocol, section 6 message format, 6.2.1 PRI), RFC 3164
(BSD syslog, section 4.1 packet format, with the leniency section 4.3 asks of relays) and RFC
5426 (syslog over UDP: one message per datagram).

Hand-written: the Python syslog parsers (e.g. ``syslog-rfc5424-parser``) handle only one of the
two formats and raise on the other or on the variations real devices send; the standard
library's ``logging.handlers`` only writes syslog. Parsing the header is a few string splits.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from cranewatch.protocols._base import IdentityFact, Operation, ParseResult

NAME = "syslog"
PORT = 514
MAX_TEXT = 255
MAX_SD_IDS = 16

FACILITIES = ("kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
              "authpriv", "ftp", "ntp", "security", "console", "solaris_cron", "local0",
              "local1", "local2", "local3", "local4", "local5", "local6", "local7")  # fmt: skip
SEVERITIES = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")

_PRI = re.compile(rb"<(0|[1-9][0-9]{0,2})>")
# RFC 5424: VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP
_RFC5424 = re.compile(
    rb"([1-9][0-9]{0,2}) (-|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-]\d\d:\d\d)) "
    rb"(\S{1,255}) (\S{1,48}) (\S{1,128}) (\S{1,32})(?: |$)"
)
# RFC 3164: Mmm dd hh:mm:ss (day space-padded); some devices add a year or milliseconds
_RFC3164_TIME = re.compile(
    rb"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) ( \d|\d\d) \d\d:\d\d:\d\d"
    rb"(?:\.\d{1,6})?(?: \d{4})? "
)
_HOSTNAME = re.compile(rb"[A-Za-z0-9][A-Za-z0-9._:\-]{0,254}")
_TAG = re.compile(rb"([A-Za-z0-9_./\-]{1,48})(?:\[(\d{1,10})\])?:")


def _pri(payload: bytes) -> tuple[int, int] | None:
    """(PRI value, header end offset) of a valid PRI (0..191)."""
    m = _PRI.match(payload, 0, 5)
    if m is None:
        return None
    value = int(m.group(1))
    return (value, m.end()) if value <= 191 else None


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")[:MAX_TEXT]


class SyslogAnalyzer:
    """Syslog over UDP (RFC 5424 and BSD RFC 3164) -> one operation per message."""

    name = NAME
    description = "Syslog over UDP (RFC 5424, RFC 3164): facility, severity, host and app names"
    status: Literal["stable", "beta"] = "beta"
    ports: tuple[int, ...] = (PORT,)
    ethertypes: tuple[int, ...] = ()
    stateless = True  # parse reads the datagram alone: repeated messages reuse their result

    def detect(self, payload: bytes, from_client: bool, port: int) -> float:
        pri = _pri(payload)
        if pri is None:
            return 0.0
        rest = payload[pri[1] :]
        if _RFC5424.match(rest) or _RFC3164_TIME.match(rest):
            return 0.9
        # "<PRI>" followed by printable text: a bare message, or a device's own format
        head = rest[:32]
        printable = bool(head) and all(32 <= b < 127 or b in (9, 10, 13) for b in head)
        if not printable:
            return 0.0
        return 0.6 if port == PORT else 0.3

    def parse(self, payload: bytes, from_client: bool, state: dict[str, Any]) -> ParseResult:
        pri = _pri(payload)
        if pri is None:
            return ParseResult(error="no valid <PRI> (0..191) at the start")
        value, pos = pri
        facility, severity = value >> 3, value & 7
        detail: dict[str, Any] = {"facility": facility, "severity": severity}
        rest = payload[pos:]
        host = app = None
        app_source = ""
        m = _RFC5424.match(rest)
        if m is not None:
            detail["format"] = "rfc5424"
            detail["version"] = int(m.group(1))
            if m.group(2) != b"-":
                detail["timestamp"] = _text(m.group(2))
            host = m.group(3) if m.group(3) != b"-" else None
            app = m.group(4) if m.group(4) != b"-" else None
            app_source = "syslog app-name"
            for key, group in (("procid", 5), ("msgid", 6)):
                if m.group(group) != b"-":
                    detail[key] = _text(m.group(group))
            body = rest[m.end() :]
            sd_ids, body = _structured_data(body)
            if sd_ids:
                detail["structured_data_ids"] = ",".join(sd_ids)
            if body.startswith(b"\xef\xbb\xbf"):
                body = body[3:]  # the BOM of a UTF-8 MSG
        else:
            t = _RFC3164_TIME.match(rest)
            body = rest
            if t is not None:
                detail["format"] = "rfc3164"
                detail["timestamp"] = _text(t.group(0).strip())
                body = rest[t.end() :]
                host, body = _bsd_hostname(body)
            else:
                detail["format"] = "bare"
            tag = _TAG.match(body)
            if tag is not None:
                app, app_source = tag.group(1), "syslog tag"
                if tag.group(2):
                    detail["procid"] = tag.group(2).decode()
                body = body[tag.end() :].lstrip(b" ")
        detail["message_length"] = len(body)  # the text itself is never stored
        result = ParseResult()
        if host:
            detail["hostname"] = hostname = _text(host)
            result.identities.append(
                IdentityFact(NAME, "hostname", hostname, 0.8, "sender", "syslog header")
            )
        if app:
            detail["app_name"] = app_name = _text(app)
            result.identities.append(
                IdentityFact(NAME, "software", app_name, 0.6, "sender", app_source)
            )
        target = f"{FACILITIES[facility]}.{SEVERITIES[severity]}"
        result.operations.append(Operation(NAME, value, "message", "unsolicited", target,
                                           detail=detail))  # fmt: skip
        return result


def _bsd_hostname(body: bytes) -> tuple[bytes | None, bytes]:
    """HOSTNAME after an RFC 3164 timestamp, unless the next word is already the TAG."""
    word, sep, after = body.partition(b" ")
    if not word or not sep or word.endswith(b":") or b"[" in word:
        return None, body
    if _HOSTNAME.fullmatch(word) is None:
        return None, body
    return word, after


def _structured_data(body: bytes) -> tuple[list[str], bytes]:
    """SD-IDs of RFC 5424 STRUCTURED-DATA (param values are skipped, never stored)."""
    if body.startswith(b"-"):
        return [], body[2:] if body[1:2] == b" " else body[1:]
    ids: list[str] = []
    pos = 0
    while pos < len(body) and body[pos : pos + 1] == b"[" and len(ids) < MAX_SD_IDS:
        end_id = pos + 1
        while end_id < len(body) and body[end_id] not in b" ]":
            end_id += 1
        ids.append(_text(body[pos + 1 : end_id])[:64])
        # skip to the closing bracket, honouring escaped \] and quoted values
        i, quoted = end_id, False
        while i < len(body):
            c = body[i]
            if c == 0x5C:  # backslash escapes the next character
                i += 2
                continue
            if c == 0x22:
                quoted = not quoted
            elif c == 0x5D and not quoted:
                break
            i += 1
        pos = i + 1
    return ids, body[pos + 1 :] if body[pos : pos + 1] == b" " else body[pos:]


ANALYZER = SyslogAnalyzer()
