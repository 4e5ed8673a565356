"""Declares every observation table once: its Arrow schema, its version and a doc per field.

These schemas are cranewatch's own. Parser internals (kernel column indices, numba arrays) never
appear here: the engine converts its arrays into these columns at the edge. To change a table,
bump its ``version``, update the golden baselines and CHANGELOG.md in the same commit.
``docs/observations.md`` is generated from this module (``python -m cranewatch.observe.docs``)
and a test fails when it is stale.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

TIMESTAMP = pa.timestamp("ns", tz="UTC")


@dataclass(frozen=True)
class Field:
    name: str
    type: pa.DataType
    doc: str
    nullable: bool = True


@dataclass(frozen=True)
class TableSchema:
    """One observation table: name, schema version, purpose and fields."""

    name: str
    version: int
    doc: str
    fields: tuple[Field, ...]

    @property
    def arrow(self) -> pa.Schema:
        return pa.schema(
            [pa.field(f.name, f.type, nullable=f.nullable) for f in self.fields],
            metadata={
                b"cranewatch.table": self.name.encode(),
                b"cranewatch.schema_version": str(self.version).encode(),
            },
        )

    @property
    def column_names(self) -> list[str]:
        return [f.name for f in self.fields]


_SKIP = pa.struct([pa.field("reason", pa.string()), pa.field("count", pa.int64())])

CAPTURES = TableSchema(
    name="captures",
    version=2,
    doc="One row per ingested capture file, keyed by the SHA-256 of its bytes as stored.",
    fields=(
        Field(
            "sha256",
            pa.string(),
            "SHA-256 of the file as stored (compressed bytes for .gz).",
            False,
        ),
        Field("path", pa.string(), "Absolute path the file was first ingested from."),
        Field("size", pa.int64(), "File size in bytes as stored."),
        Field("format", pa.string(), "`pcap` or `pcapng`."),
        Field("compression", pa.string(), "`gzip` when the file was compressed, else null."),
        Field(
            "link_types",
            pa.list_(pa.string()),
            "Link types of the frames, e.g. `ethernet`, `linux_sll`.",
        ),
        Field("sections", pa.int32(), "pcapng sections (1 for classic pcap)."),
        Field(
            "interfaces", pa.int32(), "pcapng interfaces over all sections (1 for classic pcap)."
        ),
        Field("first_ts", TIMESTAMP, "Timestamp of the earliest frame."),
        Field("last_ts", TIMESTAMP, "Timestamp of the latest frame."),
        Field("packets", pa.int64(), "Frames (packet records) in the file, decoded or not."),
        Field("bytes", pa.int64(), "Sum of the frames' lengths on the wire (original length)."),
        Field(
            "captured_bytes", pa.int64(), "Sum of the bytes actually captured (after snap length)."
        ),
        Field(
            "truncated_frames",
            pa.int64(),
            "Frames captured shorter than on the wire (snap length).",
        ),
        Field("decoded_packets", pa.int64(), "Frames whose link layer was decoded."),
        Field(
            "skipped", pa.int64(), "Records or frames skipped; the reasons are in `skip_reasons`."
        ),
        Field("skip_reasons", pa.list_(_SKIP), "Why records were skipped, with counts."),
        Field("ingested_at", TIMESTAMP, "When the ingest finished."),
        Field("tool_version", pa.string(), "cranewatch version that wrote the observations."),
        Field("idle_timeout_s", pa.float64(), "Flow idle timeout used (0 = none)."),
        Field(
            "analyzers",
            pa.list_(pa.string()),
            "Protocol analyzers that ran over the capture (`cranewatch analyzers`); a protocol "
            "whose analyzer was switched off shows as unrecognised in `coverage`. Empty with "
            "`--no-analyzers`; null in rows written by version 1 of this table.",
        ),
    ),
)

ASSETS = TableSchema(
    name="assets",
    version=1,
    doc=(
        "One row per (vlan, MAC, IP) seen in one capture. `mac` is the link-layer address that "
        "carried the IP, so hosts behind a router appear with the router's MAC. Frames without IP "
        "give rows with a null `ip`; addresses inside tunnels give rows with a null `mac`. The "
        "`assets` view merges the rows of all captures; `capture_assets` keeps them per capture."
    ),
    fields=(
        Field("capture_sha256", pa.string(), "Capture the row comes from.", False),
        Field("vlan", pa.uint16(), "Innermost 802.1Q VLAN id, null when untagged."),
        Field(
            "outer_vlan", pa.uint16(), "Outer (QinQ service) VLAN id, null without a second tag."
        ),
        Field("mac", pa.string(), "Link-layer address, lower-case `aa:bb:cc:dd:ee:ff`."),
        Field("ip", pa.string(), "IPv4 or IPv6 address in its usual text form."),
        Field("vendor", pa.string(), "IEEE registry organisation of the MAC's OUI (netaddr)."),
        Field("group_address", pa.bool_(), "True for broadcast/multicast MAC or IP addresses."),
        Field(
            "tunnelled", pa.bool_(), "True when the IP was seen inside a tunnel (GTP, GRE, ...)."
        ),
        Field("first_ts", TIMESTAMP, "First frame seen from or to this (vlan, MAC, IP)."),
        Field("last_ts", TIMESTAMP, "Last frame seen from or to it."),
        Field("packets_sent", pa.int64(), "Frames with this address as source."),
        Field("bytes_sent", pa.int64(), "Wire bytes of those frames."),
        Field("packets_received", pa.int64(), "Frames with this address as destination."),
        Field("bytes_received", pa.int64(), "Wire bytes of those frames."),
        Field(
            "first_frame",
            pa.int64(),
            "Frame number (1-based, as tshark counts) of the first sighting.",
        ),
    ),
)

FLOWS = TableSchema(
    name="flows",
    version=1,
    doc=(
        "Bidirectional conversations keyed by protocol, VLAN, addresses and ports. `src` is the "
        "initiator (SYN sender for TCP, first packet's sender otherwise). A TCP 5-tuple reused "
        "with a new initial sequence number starts a new flow, as in tshark; a flow idle longer "
        "than the idle timeout ends. Frames without IP (ARP, LLDP, PROFINET, ...) form layer-2 "
        "flows keyed by EtherType and MAC addresses, with null IP columns."
    ),
    fields=(
        Field("capture_sha256", pa.string(), "Capture the flow comes from.", False),
        Field(
            "flow_id",
            pa.int64(),
            "Number of the flow within its capture, in order of first frame.",
            False,
        ),
        Field(
            "ethertype",
            pa.uint16(),
            "EtherType of the layer the flow is keyed on (0x0800 IPv4, 0x86dd IPv6, ...).",
        ),
        Field(
            "proto",
            pa.uint8(),
            "IP protocol number (6 TCP, 17 UDP, 1 ICMP, ...); null for layer-2 flows.",
        ),
        Field("ip_version", pa.uint8(), "4 or 6; null for layer-2 flows."),
        Field("vlan", pa.uint16(), "Innermost VLAN id, null when untagged."),
        Field("outer_vlan", pa.uint16(), "Outer QinQ VLAN id, null without a second tag."),
        Field(
            "tunnel",
            pa.string(),
            "Encapsulation the flow was found in (`gtp`, `gre`, `ipip`, `vxlan`), null when none.",
        ),
        Field(
            "src_mac",
            pa.string(),
            "Link-layer address the initiator sent from (taken from the flow's first frame).",
        ),
        Field(
            "dst_mac",
            pa.string(),
            "Link-layer address the initiator sent to (taken from the flow's first frame).",
        ),
        Field("src_ip", pa.string(), "Initiator address."),
        Field("dst_ip", pa.string(), "Responder address."),
        Field("src_port", pa.uint16(), "Initiator port (TCP, UDP, SCTP), else null."),
        Field("dst_port", pa.uint16(), "Responder port (TCP, UDP, SCTP), else null."),
        Field("first_ts", TIMESTAMP, "First frame of the flow."),
        Field("last_ts", TIMESTAMP, "Last frame of the flow."),
        Field("packets", pa.int64(), "Frames in both directions."),
        Field(
            "bytes",
            pa.int64(),
            "Wire bytes in both directions (frame lengths, as tshark counts them).",
        ),
        Field("src_packets", pa.int64(), "Frames from the initiator."),
        Field("src_bytes", pa.int64(), "Wire bytes from the initiator."),
        Field("dst_packets", pa.int64(), "Frames from the responder."),
        Field("dst_bytes", pa.int64(), "Wire bytes from the responder."),
        Field(
            "src_payload_bytes",
            pa.int64(),
            "Transport payload bytes from the initiator (as on the wire).",
        ),
        Field("dst_payload_bytes", pa.int64(), "Transport payload bytes from the responder."),
        Field(
            "tcp_flags",
            pa.uint16(),
            "OR of the TCP flags seen in both directions (FIN=1 SYN=2 RST=4 PSH=8 ACK=16 ...).",
        ),
        Field("src_tcp_flags", pa.uint16(), "OR of the TCP flags sent by the initiator."),
        Field("dst_tcp_flags", pa.uint16(), "OR of the TCP flags sent by the responder."),
        Field(
            "initiator",
            pa.string(),
            "How `src` was chosen: `syn`, `synack` (SYN missed) or `first` (first frame).",
        ),
        Field(
            "end_reason",
            pa.string(),
            "Why the flow ended: `eof`, `idle` (timeout) or `reused` (new TCP SYN).",
        ),
        Field("fragments", pa.int64(), "Frames that were IP fragments of this flow's datagrams."),
        Field(
            "first_frame",
            pa.int64(),
            "Frame number (1-based, as tshark counts) of the first frame.",
            False,
        ),
        Field("last_frame", pa.int64(), "Frame number of the last frame."),
    ),
)

_ADDRESSING = (
    Field("vlan", pa.uint16(), "Innermost VLAN id of the flow, null when untagged."),
    Field("src_ip", pa.string(), "Address that sent these PDUs (null for layer-2 protocols)."),
    Field("dst_ip", pa.string(), "Address they were sent to."),
    Field("src_port", pa.uint16(), "Sender's TCP/UDP port, null for layer-2 protocols."),
    Field("dst_port", pa.uint16(), "Receiver's TCP/UDP port."),
    Field("src_mac", pa.string(), "Sender's link-layer address when the capture has one."),
    Field("dst_mac", pa.string(), "Receiver's link-layer address."),
)

OPERATIONS = TableSchema(
    name="operations",
    version=1,
    doc=(
        "What was done over the protocols the analyzers decode, industrial and network (a "
        "Modbus write, an S7 PLC stop, a DNS query, a TLS ClientHello, an SSH key exchange): "
        "one row per (capture, flow, sender, protocol, code, direction) with the number of "
        "PDUs, when, example frames, the target "
        "and what kind of operation it is. Every PDU counts, including several in one TCP "
        "segment and services nested in CIP Multiple Service Packets, so the sum of `pdus` per "
        "code equals tshark's occurrences of the protocol's function-code field."
    ),
    fields=(
        Field("capture_sha256", pa.string(), "Capture the PDUs come from.", False),
        Field("flow_id", pa.int64(), "Flow (see `flows.flow_id`) that carried them.", False),
        Field(
            "protocol",
            pa.string(),
            "Protocol of the operation: the industrial `modbus`, `s7comm`, `s7comm_plus`, "
            "`enip`, `cip`, `profinet_dcp`, `profinet_io`, `opcua`, `dnp3`, `iec104`, `bacnet`, "
            "`mqtt`, `mms`, `goose`, and the network analyzers' names (`dns`, `dhcp`, `tls`, "
            "`ssh`, `rdp`, `openvpn`, `ike`, `esp`, ...; see `cranewatch analyzers`).",
            False,
        ),
        Field(
            "code",
            pa.int64(),
            "Function or service code as the protocol defines it (CIP: without the response "
            "bit 0x80; S7comm userdata: 0x4000 | group << 8 | subfunction).",
            False,
        ),
        Field("operation", pa.string(), "Name of the code, e.g. `write_multiple_registers`."),
        Field("direction", pa.string(), "`request`, `response` or `unsolicited`.", False),
        *_ADDRESSING,
        Field("pdus", pa.int64(), "PDUs of this code, every occurrence counted.", False),
        Field("first_ts", TIMESTAMP, "Time of the first of them."),
        Field("last_ts", TIMESTAMP, "Time of the last of them."),
        Field(
            "example_frames",
            pa.list_(pa.int64()),
            "Frame numbers of the first (up to three) PDUs: evidence to carve or open in Wireshark.",
        ),
        Field(
            "target",
            pa.string(),
            "What was addressed: unit, area, address range or object, as readable text "
            "(several targets separated by `; `).",
        ),
        Field("is_read", pa.bool_(), "Reads process data, configuration or a program.", False),
        Field("is_write", pa.bool_(), "Writes process data, configuration or a program.", False),
        Field(
            "is_control",
            pa.bool_(),
            "Stop, start, restart, mode change, or program/firmware download.",
            False,
        ),
        Field("is_diagnostic", pa.bool_(), "Diagnostics, identification or status.", False),
        Field(
            "exceptions",
            pa.int64(),
            "PDUs that were exception or error answers (Modbus exception, S7 error class, ...).",
            False,
        ),
        Field("errors", pa.int64(), "PDUs that could be decoded only in part.", False),
    ),
)

IDENTITIES = TableSchema(
    name="identities",
    version=2,
    doc=(
        "What devices say about themselves: one row per (capture, device, attribute, value, "
        "protocol), e.g. the order number and firmware of an S7 CPU from an SZL answer, a "
        "Modbus device identification, a CIP identity, a PROFINET station name, a DHCP host "
        "name and vendor class, an SSH banner, an LLDP system description, or a role the "
        "device plays (`role`: DHCP server, DNS server, switch, router). Version 2 added "
        "`source` and the network attributes. A flow contributes at most 1,024 distinct facts "
        "(side, protocol, attribute, value), so a sender that puts a new name in every message "
        "cannot grow memory without end; the flow's `coverage` row then notes that the rest "
        "were dropped."
    ),
    fields=(
        Field("capture_sha256", pa.string(), "Capture the facts come from.", False),
        Field("vlan", pa.uint16(), "VLAN id of the device's traffic, null when untagged."),
        Field("mac", pa.string(), "Link-layer address of the device, when known."),
        Field(
            "ip",
            pa.string(),
            "IP address of the device (null for layer-2 protocols and for a host that sent "
            "from 0.0.0.0 or ::, having no address yet).",
        ),
        Field(
            "attribute",
            pa.string(),
            "`vendor`, `vendor_url`, `vendor_id`, `device_id`, `product_name`, `product_code`, "
            "`model`, `order_number`, `firmware`, `hardware_version`, `serial`, `hostname`, "
            "`station_name`, `device_role`, `software`, `application_uri`, `client_id`, "
            "`ip_address`, `mac_address`, `vendor_class`, `dhcp_fingerprint`, `platform`, "
            "`system_description`, `capabilities`, `management_address`, `os`, `user_agent`, "
            "`tls_fingerprint`, `domain`, `role`, `offered_router`, `offered_dns`, `imsi`, "
            "`imei`, `msisdn`, `apn`.",
            False,
        ),
        Field("value", pa.string(), "The value as announced.", False),
        Field("protocol", pa.string(), "Protocol that carried it.", False),
        Field(
            "confidence",
            pa.float64(),
            "1.0 when the device announced it in a well-formed answer; lower when inferred.",
            False,
        ),
        Field(
            "source",
            pa.string(),
            "Where in the protocol the fact came from, e.g. `dhcp option 12`, `ssh banner`, "
            "`lldp system name`; null where the analyzer does not say (the industrial "
            "analyzers, whose protocol names the source) and in rows of version 1.",
        ),
        Field("flow_id", pa.int64(), "Flow of the first PDU that said so."),
        Field("first_frame", pa.int64(), "Frame of the first PDU that said so (evidence)."),
        Field("last_frame", pa.int64(), "Frame of the last one."),
        Field("first_ts", TIMESTAMP, "Time of the first one."),
        Field("count", pa.int64(), "PDUs that said so.", False),
    ),
)

COVERAGE = TableSchema(
    name="coverage",
    version=1,
    doc=(
        "How much of each flow the analyzers understood: one row per TCP or UDP flow that "
        "carried payload, and per layer-2 flow of an analyzed EtherType, with the protocol "
        "decided, how it was decided, and what could not be decoded (holes, a start in the "
        "middle of a session, lost framing, encryption, PDUs decoded only in part)."
    ),
    fields=(
        Field("capture_sha256", pa.string(), "Capture of the flow.", False),
        Field("flow_id", pa.int64(), "The flow (see `flows.flow_id`).", False),
        Field("transport", pa.string(), "`tcp`, `udp` or `ethernet`.", False),
        Field("src_ip", pa.string(), "Initiator address (as in `flows`)."),
        Field("dst_ip", pa.string(), "Responder address."),
        Field("src_port", pa.uint16(), "Initiator port."),
        Field("dst_port", pa.uint16(), "Responder port."),
        Field("protocol", pa.string(), "Analyzer that decoded the flow; null when none did."),
        Field(
            "method",
            pa.string(),
            "`content` (recognised by its bytes), `port` (bytes inconclusive, well-known port "
            "and no contradiction) or `unknown` (no analyzer recognised it).",
            False,
        ),
        Field("confidence", pa.float64(), "Detection confidence 0..1 of the chosen analyzer."),
        Field("pdus", pa.int64(), "PDUs (or datagrams, frames) decoded.", False),
        Field("payload_bytes", pa.int64(), "Payload bytes taken in order (TCP) or seen.", False),
        Field(
            "gap_bytes", pa.int64(), "TCP bytes never seen: lost segments, snapped payload.", False
        ),
        Field("gaps", pa.int64(), "Holes in the TCP sequence.", False),
        Field(
            "retransmitted_bytes",
            pa.int64(),
            "TCP bytes seen again (retransmissions, keep-alives); counted once.",
            False,
        ),
        Field(
            "undecoded_bytes",
            pa.int64(),
            "Bytes where no PDU could start (framing lost after a hole or mid-session start), "
            "and datagrams or frames no analyzer took.",
            False,
        ),
        Field(
            "midstream",
            pa.bool_(),
            "The capture started in the middle of the TCP session (no SYN seen).",
            False,
        ),
        Field(
            "encrypted",
            pa.bool_(),
            "The analyzer found the payload encrypted (e.g. an OPC UA channel with a security "
            "policy other than None).",
            False,
        ),
        Field(
            "truncated_pdus",
            pa.int64(),
            "PDUs longer than 72 KiB: only their head was decoded.",
            False,
        ),
        Field("errors", pa.int64(), "PDUs the analyzer could decode only in part.", False),
        Field("notes", pa.list_(pa.string()), "The first few decoding problems, as text."),
    ),
)

_DEVICE = (
    Field("vlan", pa.uint16(), "VLAN id of the device's traffic, null when untagged."),
    Field("mac", pa.string(), "Link-layer address of the device, when known."),
    Field(
        "ip", pa.string(), "IP address of the device; null for one that sent from 0.0.0.0 or ::."
    ),
)

NAMES = TableSchema(
    name="names",
    version=1,
    doc=(
        "Which device asked for, resolved, connected to, announced or was certified for which "
        "name: one row per (capture, device, name, action, protocol, record type, peer). DNS, "
        "mDNS, LLMNR and NBNS queries and answers, TLS server names (SNI) and certificate "
        "names, HTTP hosts; and connections to an address that an earlier DNS answer gave the "
        "device for a name (`inferred`)."
    ),
    fields=(
        Field("capture_sha256", pa.string(), "Capture the names come from.", False),
        *_DEVICE,
        Field("name", pa.string(), "The name, lower-case, without the trailing dot.", False),
        Field(
            "action",
            pa.string(),
            "`asked` (sent a query), `resolved` (received an answer), `connected` (TLS SNI, "
            "HTTP Host, or a connection to a resolved address), `announced` (claimed the name "
            "as its own: mDNS, NBNS, LLMNR, DHCP host name), `certified` (presented a "
            "certificate for it).",
            False,
        ),
        Field(
            "protocol",
            pa.string(),
            "Protocol that carried it (`dns`, `mdns`, `llmnr`, `nbns`, `tls`, `http`, `dhcp`, "
            "...); for an inferred connection, the protocol of the connecting flow, or `tcp`/"
            "`udp` when no analyzer recognised it.",
            False,
        ),
        Field("record_type", pa.string(), "DNS record type asked or answered (A, AAAA, PTR, ...)."),
        Field("peer_ip", pa.string(), "The other end: DNS server asked, server connected to."),
        Field(
            "addresses",
            pa.list_(pa.string()),
            "Addresses an answer gave for the name (up to 16), or the resolved addresses the "
            "device connected to.",
        ),
        Field(
            "inferred",
            pa.bool_(),
            "True for connections to an address from a DNS answer "
            "(the name itself was not in the connection).",
            False,
        ),
        Field("count", pa.int64(), "Messages (or connections) that carried it.", False),
        Field("first_ts", TIMESTAMP, "First time."),
        Field("last_ts", TIMESTAMP, "Last time."),
        Field("flow_id", pa.int64(), "Flow of the first occurrence."),
        Field("first_frame", pa.int64(), "Frame of the first occurrence (evidence)."),
    ),
)

SESSIONS = TableSchema(
    name="sessions",
    version=1,
    doc=(
        "Remote-access and tunnel sessions: one row per flow decided as SSH, Telnet, VNC, RDP, "
        "TeamViewer, AnyDesk, OpenVPN, IKE/ESP, WireGuard, L2TP, PPTP or GTP, with its "
        "endpoints, duration, volume each way, the keep-alive interval when its contacts are "
        "periodic, and whether industrial operations were sent by either end (or by a host "
        "inside the tunnel) during the session or within `follow_window_s` after it."
    ),
    fields=(
        Field("capture_sha256", pa.string(), "Capture of the session.", False),
        Field("flow_id", pa.int64(), "The flow (see `flows.flow_id`).", False),
        Field("protocol", pa.string(), "`ssh`, `rdp`, `openvpn`, `wireguard`, ...", False),
        Field("kind", pa.string(), "`remote_access` or `tunnel`.", False),
        Field("transport", pa.string(), "`tcp`, `udp` or `ip` (ESP).", False),
        Field("vlan", pa.uint16(), "VLAN id, null when untagged."),
        Field(
            "tunnel",
            pa.string(),
            "Set when the session itself ran inside a decapsulated tunnel (`gtp`, `gre`).",
        ),
        Field("client_ip", pa.string(), "Initiator address."),
        Field("client_port", pa.uint16(), "Initiator port."),
        Field("client_mac", pa.string(), "Initiator link-layer address."),
        Field("server_ip", pa.string(), "Responder address."),
        Field("server_port", pa.uint16(), "Responder port."),
        Field("server_mac", pa.string(), "Responder link-layer address."),
        Field("start_ts", TIMESTAMP, "First frame of the session.", False),
        Field("end_ts", TIMESTAMP, "Last frame of the session.", False),
        Field("duration_s", pa.float64(), "end_ts - start_ts in seconds.", False),
        Field("client_packets", pa.int64(), "Frames from the initiator.", False),
        Field("client_bytes", pa.int64(), "Wire bytes from the initiator.", False),
        Field("server_packets", pa.int64(), "Frames from the responder.", False),
        Field("server_bytes", pa.int64(), "Wire bytes from the responder.", False),
        Field("encrypted", pa.bool_(), "The analyzer saw the payload turn encrypted.", False),
        Field(
            "contacts",
            pa.int64(),
            "Bursts of frames separated by at least 0.5 s of silence (a keep-alive is one); "
            "null for a tunnel whose frames the engine decapsulated (GTP-U carrier).",
        ),
        Field(
            "keepalive_interval_s",
            pa.float64(),
            "Median interval between contacts when they are periodic (at least 4 intervals, "
            "three quarters of them within 10% of the median); null otherwise.",
        ),
        Field(
            "regularity",
            pa.float64(),
            "Share of the intervals within 10% of the median interval (0..1); null with fewer "
            "than 2 intervals.",
        ),
        Field(
            "industrial_pdus",
            pa.int64(),
            "Industrial-protocol PDUs (see `operations`) sent by either end of the session, or by "
            "a host inside it, between its start and `follow_window_s` after its end.",
            False,
        ),
        Field(
            "industrial_writes",
            pa.int64(),
            "Of those, PDUs of write or control operations (writes, stop/start, downloads).",
            False,
        ),
        Field(
            "controllers",
            pa.list_(pa.string()),
            "Addresses those industrial PDUs were sent to (up to 16).",
        ),
        Field(
            "follow_window_s",
            pa.float64(),
            "How long after the session industrial operations still count.",
            False,
        ),
    ),
)

ROLES = TableSchema(
    name="roles",
    version=1,
    doc=(
        "Roles a device plays on the network, derived per capture from what it said and how it "
        "forwarded traffic: `dhcp_server`, `dns_server`, `ntp_server`, `default_gateway`, "
        "`nat`, `switch`, `router`, `dual_homed`, `address_conflict`; each with the basis in "
        "words, a confidence and evidence."
    ),
    fields=(
        Field("capture_sha256", pa.string(), "Capture the evidence comes from.", False),
        *_DEVICE,
        Field("role", pa.string(), "The role (see the table description).", False),
        Field("basis", pa.string(), "Why, in words (what was seen).", False),
        Field("confidence", pa.float64(), "0..1.", False),
        Field("evidence", pa.int64(), "Messages, flows or addresses the basis counts.", False),
        Field("first_ts", TIMESTAMP, "First time the basis was seen."),
        Field("flow_id", pa.int64(), "A flow that shows it (evidence)."),
        Field("first_frame", pa.int64(), "A frame that shows it (evidence)."),
    ),
)

TABLES: dict[str, TableSchema] = {
    t.name: t
    for t in (CAPTURES, ASSETS, FLOWS, OPERATIONS, IDENTITIES, COVERAGE, NAMES, SESSIONS, ROLES)
}


def table(name: str) -> TableSchema:
    """The schema of an observation table by name (``KeyError`` lists the known tables)."""
    try:
        return TABLES[name]
    except KeyError:
        raise KeyError(f"unknown observation table {name!r}; known: {', '.join(TABLES)}") from None
