"""FTP: file transfers in and out of crane networks, and the server software that offers them.

Drives, PLCs, cellular routers and data loggers on cranes often run an FTP server (for
firmware, recipes and logs), and a file pulled out to an address abroad, or a firmware image
pushed in, is exactly what the analyst must see. The control connection is clear text: the
server's 220 greeting names its software, and every command says what happens (RETR reads a
file, STOR writes one, DELE deletes one).

PDUs: one CRLF-terminated line (at most 4096 bytes; a longer line is lost framing). Operations:
one per client command, named after the verb in lower case (``code`` is its index in
:data:`COMMANDS`, 0 for a verb not listed), with the path or argument as target: RETR (and LIST,
NLST, MLSD, MLST, SIZE) ``is_read``; STOR, STOU, APPE and DELE, RMD, MKD, RNFR, RNTO
``is_write``; USER with the user name as target; PASS never with its argument (``detail``
says a password was sent). One per server reply, named ``reply``, with the reply code as
``code`` and as ``exception`` from 400 on; a multi-line reply (RFC 959 4.2) is one operation,
on its last line. The 220 greeting gives the server's ``software`` (confidence 0.7, source
"ftp greeting"): the product and version when the greeting names a known server (vsFTPd,
ProFTPD, Pure-FTPd, FileZilla Server, Microsoft FTP Service, ...), else the greeting text.
After ``AUTH TLS``/``AUTH SSL`` is accepted (234) the control connection turns into TLS: the
result has ``stop=True`` and ``error="encrypted"``.

Specifications: RFC 959 (FTP), RFC 2228 (security extensions: AUTH, PBSZ, PROT), RFC 2389
(FEAT, OPTS), RFC 2428 (EPRT, EPSV), RFC 3659 (MLST, MLSD, SIZE, MDTM), RFC 4217 (FTP over TLS).

Hand-written because ftplib is a client of one live side and pyftpdlib a server; scapy and
dpkt have no FTP command parser.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from cranewatch.protocols._base import IdentityFact, Operation, ParseResult

NAME = "ftp"
PORTS = (21, 2121)
MAX_LINE = 4096
MAX_TEXT = 255
MAX_REPLY_LINES = 64

#: the command table: ``code`` of a command is its index here (0: a verb not listed)
COMMANDS = ("", "USER", "PASS", "ACCT", "CWD", "CDUP", "SMNT", "QUIT", "REIN", "PORT", "PASV",
            "TYPE", "STRU", "MODE", "RETR", "STOR", "STOU", "APPE", "ALLO", "REST", "RNFR",
            "RNTO", "ABOR", "DELE", "RMD", "MKD", "PWD", "LIST", "NLST", "SITE", "SYST",
            "STAT", "HELP", "NOOP", "AUTH", "ADAT", "PBSZ", "PROT", "CCC", "MIC", "CONF", "ENC",
            "FEAT", "OPTS", "EPRT", "EPSV", "LANG", "MDTM", "SIZE", "MLST", "MLSD", "XCWD",
            "XCUP", "XMKD", "XRMD", "XPWD", "CLNT", "HOST")  # fmt: skip
COMMAND_CODES = {c.encode(): i for i, c in enumerate(COMMANDS) if c}
READ_COMMANDS = {"RETR", "LIST", "NLST", "MLSD", "MLST", "SIZE"}
WRITE_COMMANDS = {"STOR", "STOU", "APPE", "DELE", "RMD", "XRMD", "MKD", "XMKD", "RNFR", "RNTO"}
#: commands whose argument is not shown (PASS: the password; ACCT: account information)
SECRET_ARGUMENTS = {"PASS", "ACCT", "ADAT"}
#: SMTP's and others' first client words, which FTP never sends
NOT_FTP = (b"EHLO", b"HELO", b"MAIL ", b"GET ", b"POST ", b"SSH-")

_REPLY = re.compile(rb"([1-5]\d\d)([ -])(.*)$", re.S)
_SOFTWARE = re.compile(
    r"(vsFTPd [\d.]+|ProFTPD(?: [\d.]+\w*)?|Pure-FTPd|FileZilla Server(?: version)?(?: [\d.]+\w*)?|"
    r"Microsoft FTP Service|Serv-U FTP Server v[\d.]+|wu-[\d.]+\S*|"
    r"(?:Gene6|WS_FTP|Titan|Wing|Cerberus|CrushFTP|GoAnywhere|Xlight|FTPD)[^\r\n(]{0,30})",
    re.I,
)


def line_length(buf: bytes, offset: int) -> int:
    """One line up to and including LF; 0 when not all there yet; -1 beyond 4096 bytes or when
    the line starts with a control byte (a TLS record after AUTH TLS, binary data)."""
    if offset >= len(buf):
        return 0
    first = buf[offset]
    if (first < 0x20 and first not in (0x09, 0x0A, 0x0D)) or first == 0x7F:
        return -1
    eol = buf.find(b"\n", offset, offset + MAX_LINE)
    if eol < 0:
        return 0 if len(buf) - offset < MAX_LINE else -1
    return eol + 1 - offset


def greeting_software(text: str) -> str:
    match = _SOFTWARE.search(text)
    return (match.group(0).strip() if match else text.strip())[:MAX_TEXT]


class FtpAnalyzer:
    """FTP control connection: commands, replies, greeting software; passwords never kept."""

    name = NAME
    description = "FTP control connection: commands (RETR/STOR/...), replies, server software"
    status: Literal["stable", "beta"] = "beta"
    ports: tuple[int, ...] = PORTS

    def detect(self, client: bytes, server: bytes, server_port: int) -> float:
        if client.startswith(NOT_FTP) or b"SMTP" in server[:200].upper():
            return 0.0
        greeting = _REPLY.match(server.split(b"\n", 1)[0].rstrip(b"\r"))
        greets = greeting is not None and greeting.group(1) in (b"220", b"120", b"421")
        verb = client.split(b"\n", 1)[0].split(b" ", 1)[0].strip().upper()
        commands = verb in COMMAND_CODES and client.split(b"\n", 1)[0].endswith(b"\r")
        if greets and commands:
            return 0.95
        if greets and b"FTP" in server[:200].upper():
            return 0.9
        if greets and server_port in PORTS:
            return 0.75
        if commands and verb in (b"USER", b"AUTH", b"FEAT", b"SYST") and server_port in PORTS:
            return 0.6
        return 0.0

    def pdu_length(self, buf: bytes, offset: int) -> int:
        return line_length(buf, offset)

    def parse(self, pdu: bytes, from_client: bool, state: dict[str, Any]) -> ParseResult:
        ftp = state.setdefault("ftp", {"auth": False, "lines": [], "code": None,
                                       "greeted": False})  # fmt: skip
        line = pdu.rstrip(b"\r\n")
        if b"\n" in line or b"\r" in line:
            return ParseResult(error="more than one line in the PDU")
        if from_client:
            return _command(line, ftp)
        return _reply_line(line, ftp)


def _command(line: bytes, ftp: dict[str, Any]) -> ParseResult:
    if not line.strip():
        return ParseResult()
    verb_raw, _, arg_raw = line.partition(b" ")
    verb = verb_raw.upper().decode("ascii", errors="replace")
    if not verb.isalpha() or len(verb) > 8:
        return ParseResult(error="not an FTP command line")
    code = COMMAND_CODES.get(verb.encode(), 0)
    detail: dict[str, Any] = {}
    target: str | None = None
    arg = arg_raw.decode("utf-8", errors="replace").strip()
    if verb in SECRET_ARGUMENTS:
        detail[f"{verb.lower()}_present"] = bool(arg)
    elif arg:
        target = arg[:MAX_TEXT]
    if verb == "AUTH":
        ftp["auth"] = arg.upper() in ("TLS", "SSL", "TLS-C", "TLS-P")
    return ParseResult(operations=[Operation(
        protocol=NAME, code=code, name=verb.lower(), direction="request", target=target,
        is_read=verb in READ_COMMANDS, is_write=verb in WRITE_COMMANDS,
        detail=detail or None,
    )])  # fmt: skip


def _reply_line(line: bytes, ftp: dict[str, Any]) -> ParseResult:
    match = _REPLY.match(line)
    lines: list[str] = ftp["lines"]
    if ftp["code"] is not None:  # inside a multi-line reply
        text = line.decode("utf-8", errors="replace")
        if match is None or match.group(1).decode() != ftp["code"] or match.group(2) != b" ":
            if len(lines) < MAX_REPLY_LINES:
                lines.append(text[:MAX_TEXT])
            return ParseResult()
    elif match is None:
        return ParseResult(error="not an FTP reply line")
    code = match.group(1).decode()
    text = match.group(3).decode("utf-8", errors="replace").strip()
    if match.group(2) == b"-" and ftp["code"] is None:
        ftp["code"] = code
        ftp["lines"] = [text[:MAX_TEXT]]
        return ParseResult()
    full = " ".join([*lines, text]) if ftp["code"] is not None else text
    ftp["code"], ftp["lines"] = None, []
    return _reply(int(code), full.strip()[:MAX_TEXT], ftp)


def _reply(code: int, text: str, ftp: dict[str, Any]) -> ParseResult:
    result = ParseResult()
    direction: Literal["response", "unsolicited"] = "response"
    detail: dict[str, Any] = {"text": text}
    if code == 220 and not ftp["greeted"]:
        ftp["greeted"] = True
        direction = "unsolicited"
        if text:
            software = greeting_software(text)
            result.identities.append(IdentityFact(NAME, "software", software, 0.7, "sender",
                                                  "ftp greeting"))  # fmt: skip
    elif code == 227:
        pasv = re.search(r"(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)", text)
        if pasv:
            n = [int(x) for x in pasv.groups()]
            if all(0 <= x <= 255 for x in n):
                detail["passive"] = f"{n[0]}.{n[1]}.{n[2]}.{n[3]}:{n[4] * 256 + n[5]}"
    result.operations.append(Operation(
        protocol=NAME, code=code, name="reply", direction=direction, target=text or None,
        exception=code if code >= 400 else None, detail=detail,
    ))  # fmt: skip
    if code == 234 and ftp["auth"]:
        result.stop, result.error = True, "encrypted"
    return result


ANALYZER = FtpAnalyzer()
