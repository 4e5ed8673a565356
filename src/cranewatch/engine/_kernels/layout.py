"""Column indices and codes shared by the kernels and the Python that reads their arrays.

numba treats module-level integers as compile-time constants, so the kernels index their state
arrays with these names at no cost. Nothing here is part of the observation schemas: the engine
translates these codes into schema columns at the edge (``engine/tables.py``).
"""

# ---- limits -------------------------------------------------------------------------------
MAX_RECORD = 262144  # bytes; larger capture records are refused (tshark's limit too)
MAX_LAYERS = 4  # outer IP layer + up to three tunnel layers decoded per frame

# ---- kernel return status -----------------------------------------------------------------
ST_NEED_DATA = 0  # the buffer ends before the next complete record
ST_NEED_GROW = 1  # a hash table is near its load limit: grow it, then call again
ST_NEED_FLUSH = 2  # the emitted-flow buffer or the packet batch is full: drain, then call again
ST_BAD_RECORD = 3  # a record header is corrupt (length too large): stop reading this file
ST_PYTHON_BLOCK = 4  # pcapng: a block the Python side must parse (SHB, IDB) starts here
ST_BAD_BLOCK = 5  # pcapng: a block length is invalid: stop reading this file

# ---- per-layer decode scratch (pk[layer, field]) ------------------------------------------
L_VALID = 0  # 1 when the layer holds a decoded network layer (IP) or a layer-2 frame
L_ETHERTYPE = 1
L_VLAN = 2  # -1 when untagged
L_OUTER_VLAN = 3  # -1 without a second tag
L_HAS_MAC = 4  # 0 none, 1 source only (SLL), 2 both
L_SRC_MAC = 5
L_DST_MAC = 6
L_IPVER = 7  # 0 for layer-2 only
L_PROTO = 8
L_SRC_HI = 9
L_SRC_LO = 10
L_DST_HI = 11
L_DST_LO = 12
L_HAS_PORTS = 13
L_SPORT = 14
L_DPORT = 15
L_TCP_FLAGS = 16
L_TCP_SEQ = 17
L_TCP_OK = 18  # 1 when the whole TCP header is captured (sequence analysis allowed)
L_PAYLOAD_OFF = 19  # absolute offset in the buffer of the transport payload
L_PAYLOAD_LEN = 20  # payload length as the headers report it (may exceed what is captured)
L_FRAG = 21  # 0 not a fragment, 1 first fragment (offset 0, more to come), 2 later fragment
L_IP_ID = 22
L_TUNNEL = 23  # code of the encapsulation this layer was found in (TUN_*), 0 for the outer layer
L_DEPTH = 24
L_L3_OFF = 25
L_NFIELDS = 26

TUN_NONE = 0
TUN_GTP = 1
TUN_GRE = 2
TUN_IPIP = 3
TUN_VXLAN = 4
TUNNEL_NAMES = ("", "gtp", "gre", "ipip", "vxlan")

# ---- skip reasons (counters[C_SKIP0 + code]) -----------------------------------------------
SK_SHORT_LINK = 0
SK_LINKTYPE = 1
SK_IP_TRUNCATED = 2
SK_IP_INVALID = 3
SK_IPV6_EXT_TRUNCATED = 4
SK_L4_TRUNCATED = 5
SK_FRAGMENT_ORPHAN = 6
SK_RECORD_TOO_LARGE = 7
SK_TRUNCATED_AT_EOF = 8
SK_BAD_BLOCK = 9
SK_UNKNOWN_INTERFACE = 10
SK_CAPLEN_EXCEEDS_BLOCK = 11
SK_COMPRESSION = 12
SK_ZERO_LENGTH = 13
SK_PACKET_TOO_LARGE = 14
N_SKIP = 15
SKIP_REASONS = (
    "frame shorter than its link-layer header",
    "unsupported link type",
    "IP header cut off by the snap length",
    "invalid IP header (version, header length or total length)",
    "IPv6 extension header cut off",
    "TCP/UDP header cut off by the snap length",
    "IP fragment whose first fragment was never seen",
    "record length larger than 256 KiB (rest of file not read)",
    "last record cut off at end of file",
    "pcapng block with an invalid length (rest of file not read)",
    "packet block for an undeclared pcapng interface",
    "pcapng packet longer than its block",
    "compressed stream corrupt or cut off",
    "zero-length record",
    "pcapng packet larger than 256 KiB (skipped, reading goes on)",
)

# ---- counters[...] --------------------------------------------------------------------------
C_FRAMES = 0  # packet records seen (the next frame number is C_FRAMES + 1)
C_BYTES = 1  # sum of original (wire) lengths
C_CAPTURED = 2  # sum of captured lengths
C_TRUNCATED = 3  # frames with caplen < wire length
C_DECODED = 4  # frames whose link layer was decoded
C_FIRST_TS = 5
C_LAST_TS = 6
C_FLOWS = 7  # live entries in the flow table
C_ASSETS = 8
C_FRAGS = 9
C_NEXT_FLOW_ID = 10
C_OUT = 11  # emitted flows waiting in the output buffer
C_PKTS = 12  # packet-batch rows filled
C_NOW = 13  # timestamp of the last frame processed (for expiry)
C_AGEN = 14  # asset-table generation: bumped whenever the asset table is rehashed
C_PROCESSED = 15  # frames handed to the decoder (timestamps known)
C_SKIP0 = 16
N_COUNTERS = C_SKIP0 + N_SKIP

# ---- flow table ------------------------------------------------------------------------------
# key words: K_META, K_A_HI, K_A_LO, K_B_HI, K_B_LO, K_PORTS ; endpoint A sorts before B
N_KEY = 6
K_META = 0
K_A_HI = 1
K_A_LO = 2
K_B_HI = 3
K_B_LO = 4
K_PORTS = 5

F_USED = 0
F_ID = 1
F_FIRST_TS = 2
F_LAST_TS = 3
F_PKTS_A = 4
F_BYTES_A = 5
F_PKTS_B = 6
F_BYTES_B = 7
F_PAY_A = 8
F_PAY_B = 9
F_FLAGS_A = 10
F_FLAGS_B = 11
F_INIT_B = 12  # 1 when endpoint B is the initiator
F_INIT_KIND = 13  # 0 first frame, 1 SYN, 2 SYN/ACK
F_FIRST_FRAME = 14
F_LAST_FRAME = 15
F_FIRST_DIR_B = 16  # 1 when the first frame was sent by B
F_FIRST_SMAC = 17
F_FIRST_DMAC = 18
F_HAS_MAC = 19
F_BASE_A = 20  # TCP base sequence number per sender, as tshark keeps it
F_BASE_B = 21
F_BASE_SET = 22  # bit 1: A set, bit 2: B set
F_FRAGS = 23
F_END = 24
F_ASLOT_A = 25  # cached asset-table slot of endpoint A (-1 unknown), valid for F_AGEN
F_ASLOT_B = 26
F_AMAC_A = 27  # link address the cached slot was found with (bit 48 set when present)
F_AMAC_B = 28
F_AGEN = 29  # asset-table generation the cached slots belong to
N_FSTATS = 30

END_EOF = 0
END_IDLE = 1
END_REUSED = 2
END_NAMES = ("eof", "idle", "reused")
INIT_NAMES = ("first", "syn", "synack")

# ---- asset table -----------------------------------------------------------------------------
# key words: AK_META (vlan, outer vlan, ip version, flags), AK_MAC, AK_IP_HI, AK_IP_LO
N_AKEY = 4
AK_META = 0
AK_MAC = 1
AK_IP_HI = 2
AK_IP_LO = 3

A_USED = 0
A_FIRST_TS = 1
A_LAST_TS = 2
A_PKTS_SENT = 3
A_BYTES_SENT = 4
A_PKTS_RECV = 5
A_BYTES_RECV = 6
A_FIRST_FRAME = 7
N_ASTATS = 8

# ---- fragment table ---------------------------------------------------------------------------
# key: RK_META (ip version, proto, vlan/tunnel meta), src hi/lo, dst hi/lo, IP id
N_RKEY = 6
R_USED = 0
R_LAST_TS = 1
R_NLAYERS = 2  # flows the first fragment was attributed to (0 = first fragment not seen yet)
R_PEND_PKTS = 3
R_PEND_BYTES = 4
R_PEND_PAY = 5
R_PEND_FIRST_TS = 6
R_PEND_FIRST_FRAME = 7
R_PEND_LAST_TS = 8
R_PEND_LAST_FRAME = 9
R_LAYER0 = 10  # per attributed layer: 6 key words + direction
R_LAYER_WIDTH = N_KEY + 1
N_RSTATS = R_LAYER0 + MAX_LAYERS * R_LAYER_WIDTH
FRAG_TIMEOUT_NS = 60_000_000_000

# ---- packet batch (one row per decoded frame, for protocol analyzers) -------------------------
PB_FRAME = 0
PB_TS = 1
PB_DATA_OFF = 2  # offset of the frame in the chunk buffer
PB_CAPLEN = 3
PB_WIRELEN = 4
PB_FLOW_ID = 5  # innermost flow with ports (or innermost flow), -1 when none
PB_DIR = 6  # 0 from the flow's initiator, 1 from its responder
PB_PROTO = 7
PB_PAYLOAD_OFF = 8  # absolute offset in the buffer, -1 when none (layer 2: after the EtherType)
PB_PAYLOAD_CAPLEN = 9  # payload bytes actually captured
PB_TCP_SEQ = 10
PB_TCP_FLAGS = 11
PB_ETHERTYPE = 12
PB_FRAG = 13
PB_SPORT = 14  # transport ports of this frame's sender and receiver, -1 when none
PB_DPORT = 15
PB_PAYLOAD_LEN = 16  # payload length as the headers report it (more than captured: snapped)
N_PB = 17

# ---- link types ------------------------------------------------------------------------------
DLT_NULL = 0
DLT_EN10MB = 1
DLT_RAW = 101
DLT_RAW_BSD12 = 12
DLT_RAW_BSD14 = 14
DLT_LOOP = 108
DLT_LINUX_SLL = 113
DLT_LINUX_SLL2 = 276
DLT_IPV4 = 228
DLT_IPV6 = 229
LINKTYPE_NAMES = {
    DLT_NULL: "null",
    DLT_EN10MB: "ethernet",
    DLT_RAW: "raw_ip",
    DLT_RAW_BSD12: "raw_ip",
    DLT_RAW_BSD14: "raw_ip",
    DLT_LOOP: "loop",
    DLT_LINUX_SLL: "linux_sll",
    DLT_LINUX_SLL2: "linux_sll2",
    DLT_IPV4: "ipv4",
    DLT_IPV6: "ipv6",
}
