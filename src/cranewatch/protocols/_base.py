"""The contract every protocol analyzer fulfils, and the facts it reports.

An analyzer is a small object (see STYLE.md section 2) that recognises its protocol by content,
frames a reassembled TCP byte stream into PDUs (or takes whole UDP datagrams / Ethernet frames),
and turns each PDU into protocol-neutral facts:

- :class:`Operation`: what one PDU asks or answers (a Modbus write, an S7 PLC stop, a CIP
  reset), with the function/service code as the protocol defines it and the read / write /
  control / diagnostic classification the findings engine relies on;
- :class:`IdentityFact`: what a device says about itself (vendor, model, order number,
  firmware, serial, station name, hostname, software, platform, ...) or a role it plays
  (``attribute="role"``: DHCP server, DNS server, switch, router);
- :class:`NameFact`: a DNS name, TLS server name or HTTP host a device asked for, resolved,
  connected to or announced.

Remote-access and tunnel analyzers set the class attribute ``session_kind`` (``"remote_access"``
or ``"tunnel"``): every flow they decide becomes a row of the ``sessions`` table. An analyzer
that has learnt all it can from a flow (a VPN after its handshake) sets ``ParseResult.stop``:
the dispatcher then stops handing it that flow's PDUs, and the flow keeps its protocol.

Analyzers never see the engine's arrays or the observation schemas: the dispatcher maps these
facts onto the ``operations`` and ``identities`` tables, so parser internals cannot leak there.
Malformed input never raises out of ``parse``: a PDU that cannot be decoded gives a
:class:`ParseResult` with ``error`` set, which the dispatcher counts in ``coverage``.

A protocol module exposes its analyzer as ``ANALYZER``; a protocol carried over both TCP and
UDP (DNP3) exposes ``ANALYZERS``, a tuple of its stream and datagram analyzers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

Direction = Literal["request", "response", "unsolicited"]

#: Identity attributes analyzers may report (the ``identities.attribute`` vocabulary).
IDENTITY_ATTRIBUTES = (
    "vendor",  # manufacturer name as announced
    "vendor_url",  # manufacturer URL as announced (Modbus device identification object 3)
    "vendor_id",  # numeric vendor id (CIP, PROFINET, BACnet) as text
    "device_id",  # numeric device/product id as text
    "product_name",
    "product_code",
    "model",
    "order_number",  # e.g. Siemens MLFB 6ES7 315-2EH14-0AB0
    "firmware",
    "hardware_version",
    "serial",
    "hostname",
    "station_name",  # PROFINET name of station
    "device_role",  # PROFINET DCP role (IO device, controller, supervisor)
    "software",  # software name/version (OPC UA application, MQTT client library)
    "application_uri",
    "client_id",  # MQTT client identifier
    "ip_address",  # an address the device announces for itself (DCP, ListIdentity, ARP)
    "mac_address",
    "vendor_class",  # DHCP option 60 / DHCPv6 vendor class, e.g. "MSFT 5.0", "udhcp 1.36.1"
    "dhcp_fingerprint",  # DHCP parameter request list (option 55) as comma-separated numbers
    "platform",  # CDP platform, LLDP/SNMP hardware platform
    "system_description",  # LLDP/CDP/SNMP system description
    "capabilities",  # LLDP/CDP capabilities, comma-separated: bridge, router, telephone, ...
    "management_address",  # LLDP/CDP management address
    "os",  # operating system as announced or fingerprinted (SSH banner comment, UA)
    "user_agent",  # HTTP User-Agent of a client
    "tls_fingerprint",  # JA4 (and JA3 as "ja3:<md5>") of a TLS client hello
    "domain",  # DHCP option 15 / NBNS workgroup / Kerberos realm
    "role",  # dhcp_server, dns_server, ntp_server, switch, router, ... (a role it plays)
    "offered_router",  # a default gateway a DHCP server hands out (value: its address)
    "offered_dns",  # a DNS server a DHCP server hands out (value: its address)
    "imsi",  # cellular subscriber identity (GTP-C)
    "imei",  # cellular equipment identity (GTP-C IMEI(SV))
    "msisdn",  # cellular phone number (GTP-C)
    "apn",  # cellular access point name (GTP-C)
)

#: How a :class:`NameFact` came about (the ``names.action`` vocabulary).
NAME_ACTIONS = (
    "asked",  # the device sent a query for the name (DNS, mDNS, LLMNR, NBNS)
    "resolved",  # the device received an answer mapping the name to addresses
    "connected",  # the device connected to a server under that name (TLS SNI, HTTP Host)
    "announced",  # the device announced the name as its own (mDNS, NBNS, LLMNR answer)
    "certified",  # the device presented a certificate for the name (TLS server)
)


@dataclass(frozen=True, slots=True)
class Operation:
    """One protocol operation carried by one PDU."""

    protocol: str  # lower-case protocol name: modbus, s7comm, s7comm_plus, enip, cip, ...
    code: int  # function/service code as the protocol defines it (CIP: without 0x80)
    name: str  # snake_case name of the code, e.g. "write_multiple_registers"
    direction: Direction
    target: str | None = None  # unit / area / address range / object, readable text
    is_read: bool = False
    is_write: bool = False
    is_control: bool = False  # stop/start/restart/mode change/program or firmware download
    is_diagnostic: bool = False
    exception: int | None = None  # exception / error / status code of a failed response
    detail: dict[str, Any] | None = None  # protocol-specific extras for a <proto>_detail table


@dataclass(frozen=True, slots=True)
class IdentityFact:
    """One thing a device says about itself."""

    protocol: str
    attribute: str  # one of IDENTITY_ATTRIBUTES
    value: str
    confidence: float = 1.0  # 1.0 = announced by the device itself in a well-formed PDU
    about: Literal["sender", "receiver"] = "sender"  # whose identity the PDU carries
    source: str | None = None  # where in the protocol it came from, e.g. "dhcp option 12"


@dataclass(frozen=True, slots=True)
class NameFact:
    """A name a device asked for, resolved, connected to, announced or was certified for."""

    protocol: str
    name: str  # as on the wire, lower-cased by the dispatcher; no trailing dot
    action: str  # one of NAME_ACTIONS
    record_type: str | None = None  # DNS query/answer type: A, AAAA, PTR, SRV, ... (NBNS: 0x20)
    addresses: tuple[str, ...] = ()  # addresses an answer gives for the name
    about: Literal["sender", "receiver"] = "sender"  # whose act it is (an answer: receiver)


@dataclass(slots=True)
class ParseResult:
    """What one PDU (or datagram, or frame) yielded."""

    operations: list[Operation] = field(default_factory=list)
    identities: list[IdentityFact] = field(default_factory=list)
    error: str | None = None  # why (part of) the PDU could not be decoded ("encrypted": not
    # an error, the rest of the flow is encrypted and counted as such in coverage)
    names: list[NameFact] = field(default_factory=list)
    stop: bool = False  # nothing more to learn from this flow: skip its further PDUs


@dataclass(frozen=True)
class CompiledTier:
    """The optional compiled fast path of a stream analyzer (see ``protocols/_pdu_kernel.py``).

    ``framing`` names a compiled framing (``mbap``, ``tpkt``, ``opcua``) equal to the
    analyzer's ``pdu_length``; ``classify_pdu`` is the numba function, compiled with
    ``PDU_SIGNATURE``, that reads one PDU's code, direction, target and flags or hands it to
    ``parse`` (the dispatcher's stream kernel calls it); ``classify`` is the same over arrays of
    PDUs; ``operation_name(code)`` gives the ``operations.operation`` name of a code, and
    ``describe_target(unit, lo, hi)`` the readable target of the ``O_UNIT``/``O_LO``/``O_HI``
    columns (None when there is nothing to say).
    """

    framing: str
    classify: Callable[..., None]
    operation_name: Callable[[int], str]
    describe_target: Callable[[int, int, int], str | None]
    classify_pdu: Callable[..., None]


@runtime_checkable
class StreamAnalyzer(Protocol):
    """An analyzer for a protocol carried in a TCP byte stream.

    Example (Modbus/TCP)::

        analyzer.detect(client_bytes, server_bytes, server_port=502)  # -> 0.95
        n = analyzer.pdu_length(stream, 0)  # MBAP length + 6, or 0 (need more), -1 (desync)
        result = analyzer.parse(stream[:n], from_client=True, state=flow_state)
    """

    name: str  # the protocol name used in tables
    description: str
    status: Literal["stable", "beta"]
    ports: tuple[int, ...]  # a hint only: detection is by content

    def detect(self, client: bytes, server: bytes, server_port: int) -> float:
        """Confidence 0..1 that a TCP flow with these first bytes is this protocol."""
        ...

    def pdu_length(self, buf: bytes, offset: int) -> int:
        """Length of the PDU starting at ``offset``: >0 the length, 0 more bytes are needed to
        tell, -1 the bytes there cannot start a PDU (lost framing)."""
        ...

    def parse(self, pdu: bytes, from_client: bool, state: dict[str, Any]) -> ParseResult:
        """Decode one whole PDU; ``state`` is private per-flow memory (request/response
        matching and the like). Never raises on malformed bytes."""
        ...


@runtime_checkable
class DatagramAnalyzer(Protocol):
    """An analyzer for a protocol in UDP datagrams or in Ethernet frames of an EtherType."""

    name: str
    description: str
    status: Literal["stable", "beta"]
    ports: tuple[int, ...]  # UDP ports (a hint)
    ethertypes: tuple[int, ...]  # EtherTypes for layer-2 protocols (PROFINET, GOOSE), else ()
    # optional: ``llc_saps``, the LLC DSAPs of 802.3 frames it reads (BACnet/Ethernet: 0x82);
    # such a frame's payload starts at its LLC header
    # optional: ``frame_ids``, (first, last) ranges of the frame's first big-endian 16-bit word
    # it reads (PROFINET DCP: 0xFEFC-0xFEFF); other frames of the EtherType skip ``detect``
    # optional: ``ip_protocols``, IP protocol numbers whose payload it reads (ESP: 50); such a
    # datagram's payload starts after the IP header
    # optional: ``stateless = True`` when ``parse`` reads the bytes alone, never ``state``
    # (LLDP, CDP): a datagram or frame seen before then reuses its result

    def detect(self, payload: bytes, from_client: bool, port: int) -> float:
        """Confidence 0..1 that this datagram (UDP payload, or frame data after the
        EtherType) is this protocol."""
        ...

    def parse(self, payload: bytes, from_client: bool, state: dict[str, Any]) -> ParseResult:
        """Decode one datagram or frame. Never raises on malformed bytes."""
        ...
