"""Sorts a packet batch's frames into the dispatcher's paths in one compiled pass.

The dispatcher used to pick its frames with a dozen numpy masks per batch (TCP with payload of
a flow still wanted, UDP, other IP protocols, layer-2 EtherTypes, SYNs), each a pass over a
strided column of the batch; at five million frames that glue cost as much as the stream
kernel. This kernel reads each row once and writes one route code per frame; the dispatcher
then takes each path's rows with ``np.flatnonzero(route == R_*)`` in frame order.

Kernel modules import nothing from cranewatch besides ``_jit`` and each other (see ``_jit``);
the packet-batch columns come from the engine's layout module, which imports nothing either.
"""

from __future__ import annotations

from cranewatch._jit import kernel
from cranewatch.engine._kernels.layout import (
    PB_ETHERTYPE,
    PB_FLOW_ID,
    PB_PAYLOAD_CAPLEN,
    PB_PAYLOAD_LEN,
    PB_PROTO,
    PB_TCP_FLAGS,
)

# ---- route codes (route[i]) ----------------------------------------------------------------------
R_NONE = 0  # no analyzer looks at this frame
R_TCP = 1  # TCP payload of a flow with its analyzer: straight to the stream kernel
R_TCP_HELD = 2  # TCP payload of a flow not decided yet: held back until it is
R_UDP = 3
R_IP_OTHER = 4  # IP protocols named by an analyzer's ``ip_protocols`` (ESP)
R_LAYER2 = 5  # a frame without IP whose EtherType (or LLC, as 0) an analyzer reads

UNDECIDED = 0
NO_ANALYZER = -1


@kernel
def route(rows, decision, stopped, syn, tcp_wanted, udp_wanted, ip_wanted, l2_types, out):
    """Write the route code of every row of ``rows`` (packet-batch rows) into ``out``.

    ``decision``/``stopped``/``syn`` are the dispatcher's per-flow arrays (``syn`` is set here
    for every TCP SYN of a flow, as the stream analyzers need it before deciding);
    ``ip_wanted[p]`` is true for IP protocols other than UDP some analyzer reads;
    ``l2_types`` holds the EtherTypes layer-2 analyzers read (0 for LLC frames)."""
    n_l2 = l2_types.shape[0]
    for i in range(rows.shape[0]):
        out[i] = R_NONE
        f = rows[i, PB_FLOW_ID]
        if f < 0:
            continue
        proto = rows[i, PB_PROTO]
        if proto == -1:
            if n_l2 == 0 or rows[i, PB_PAYLOAD_CAPLEN] <= 0:
                continue
            ethertype = rows[i, PB_ETHERTYPE]
            for j in range(n_l2):
                if l2_types[j] == ethertype:
                    out[i] = R_LAYER2
                    break
            continue
        wanted = decision[f] != NO_ANALYZER and not stopped[f]
        if proto == 6:
            if not tcp_wanted:
                continue
            if (rows[i, PB_TCP_FLAGS] & 2) != 0:
                syn[f] = True
            if wanted and rows[i, PB_PAYLOAD_LEN] > 0:
                out[i] = R_TCP_HELD if decision[f] == UNDECIDED else R_TCP
            continue
        if not wanted or rows[i, PB_PAYLOAD_CAPLEN] <= 0:
            continue
        if proto == 17:
            if udp_wanted:
                out[i] = R_UDP
        elif 0 <= proto < ip_wanted.shape[0] and ip_wanted[proto]:
            out[i] = R_IP_OTHER
