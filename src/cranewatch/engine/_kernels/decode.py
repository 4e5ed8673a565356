"""Decodes one captured frame, link layer to transport header, into the ``pk`` scratch array.

Written by hand because no library decodes packets inside a numba kernel: dpkt and scapy build a
Python object per layer (100k and 7k packets/s), which cannot meet the engine's speed bar. The
decoder reads only what flows and assets need: link addresses and VLAN tags, IPv4/IPv6
addresses (through IPv6 extension headers and IP fragments), transport ports, TCP flags and
sequence number, and the payload position for the protocol analyzers. Tunnels whose inner
packets are plain IP (GTP-U, GRE incl. PPTP, IP-in-IP, VXLAN) are followed, one ``pk`` row per
layer, so inner conversations become flows of their own.

Every read is bounds-checked against the captured length; a frame that ends early is decoded as
far as it goes and the missing part is counted as a skip with its reason.

The module is longer than our usual 400 lines on purpose: it is one walk down the layers of a
frame, read top to bottom, and most of its lines are those bounds checks.
"""

from __future__ import annotations

import numpy as np

from cranewatch._jit import kernel
from cranewatch.engine._kernels.layout import (
    C_DECODED,
    C_SKIP0,
    DLT_EN10MB,
    DLT_IPV4,
    DLT_IPV6,
    DLT_LINUX_SLL,
    DLT_LINUX_SLL2,
    DLT_LOOP,
    DLT_NULL,
    DLT_RAW,
    DLT_RAW_BSD12,
    DLT_RAW_BSD14,
    L_DEPTH,
    L_DPORT,
    L_DST_HI,
    L_DST_LO,
    L_DST_MAC,
    L_ETHERTYPE,
    L_FRAG,
    L_HAS_MAC,
    L_HAS_PORTS,
    L_IP_ID,
    L_IPVER,
    L_L3_OFF,
    L_OUTER_VLAN,
    L_PAYLOAD_LEN,
    L_PAYLOAD_OFF,
    L_PROTO,
    L_SPORT,
    L_SRC_HI,
    L_SRC_LO,
    L_SRC_MAC,
    L_TCP_FLAGS,
    L_TCP_OK,
    L_TCP_SEQ,
    L_TUNNEL,
    L_VALID,
    L_VLAN,
    MAX_LAYERS,
    SK_IP_INVALID,
    SK_IP_TRUNCATED,
    SK_IPV6_EXT_TRUNCATED,
    SK_L4_TRUNCATED,
    SK_LINKTYPE,
    SK_SHORT_LINK,
    SK_ZERO_LENGTH,
    TUN_GRE,
    TUN_GTP,
    TUN_IPIP,
    TUN_VXLAN,
)

ETH_IPV4 = 0x0800
ETH_IPV6 = 0x86DD
ETH_VLAN = 0x8100
ETH_QINQ = 0x88A8
ETH_QINQ_OLD = 0x9100
ETH_MPLS = 0x8847
ETH_MPLS_MC = 0x8848
ETH_PPPOE = 0x8864
ETH_TEB = 0x6558  # transparent Ethernet bridging (GRE)

# what the inner payload of a layer is, returned by decode_ip
NEXT_NONE = 0
NEXT_IP = 1  # plain IPv4/IPv6 at the returned offset
NEXT_ETHERNET = 2  # an Ethernet frame at the returned offset (VXLAN, GRE TEB)
NEXT_PPP = 3  # a PPP frame (PPTP GRE)


@kernel(inline="always")
def u16(buf, p):
    return (np.int64(buf[p]) << 8) | np.int64(buf[p + 1])


@kernel(inline="always")
def u32(buf, p):
    return (
        (np.int64(buf[p]) << 24)
        | (np.int64(buf[p + 1]) << 16)
        | (np.int64(buf[p + 2]) << 8)
        | np.int64(buf[p + 3])
    )


@kernel(inline="always")
def u64(buf, p):
    return (u32(buf, p) << 32) | u32(buf, p + 4)


@kernel(inline="always")
def mac48(buf, p):
    return (u16(buf, p) << 32) | u32(buf, p + 2)


@kernel(inline="always")
def reset_layer(pk, li, vlan, outer_vlan, tunnel, depth):
    pk[li, L_VALID] = 0
    pk[li, L_ETHERTYPE] = 0
    pk[li, L_VLAN] = vlan
    pk[li, L_OUTER_VLAN] = outer_vlan
    pk[li, L_HAS_MAC] = 0
    pk[li, L_SRC_MAC] = 0
    pk[li, L_DST_MAC] = 0
    pk[li, L_IPVER] = 0
    pk[li, L_PROTO] = 0
    pk[li, L_SRC_HI] = 0
    pk[li, L_SRC_LO] = 0
    pk[li, L_DST_HI] = 0
    pk[li, L_DST_LO] = 0
    pk[li, L_HAS_PORTS] = 0
    pk[li, L_SPORT] = 0
    pk[li, L_DPORT] = 0
    pk[li, L_TCP_FLAGS] = 0
    pk[li, L_TCP_SEQ] = 0
    pk[li, L_TCP_OK] = 0
    pk[li, L_PAYLOAD_OFF] = -1
    pk[li, L_PAYLOAD_LEN] = 0
    pk[li, L_FRAG] = 0
    pk[li, L_IP_ID] = 0
    pk[li, L_TUNNEL] = tunnel
    pk[li, L_DEPTH] = depth
    pk[li, L_L3_OFF] = -1


@kernel(inline="always")
def skip(counters, reason):
    counters[C_SKIP0 + reason] += 1


@kernel
def decode_ethernet(buf, pos, end, pk, li):
    """Ethernet header and its VLAN tags at ``pos``; returns (offset after, ethertype) or -1."""
    if pos + 14 > end:
        return -1, 0
    pk[li, L_DST_MAC] = mac48(buf, pos)
    pk[li, L_SRC_MAC] = mac48(buf, pos + 6)
    pk[li, L_HAS_MAC] = 2
    return decode_vlan_tags(buf, pos + 14, end, u16(buf, pos + 12), pk, li)


@kernel(inline="always")
def decode_vlan_tags(buf, pos, end, ethertype, pk, li):
    """802.1Q/802.1ad tags: the first tag is the outer one, the last the innermost."""
    tags = 0
    while ethertype == ETH_VLAN or ethertype == ETH_QINQ or ethertype == ETH_QINQ_OLD:
        if pos + 4 > end:
            return -1, ethertype
        vid = u16(buf, pos) & 0x0FFF
        if tags == 0:
            pk[li, L_VLAN] = vid
        else:
            if tags == 1:
                pk[li, L_OUTER_VLAN] = pk[li, L_VLAN]
            pk[li, L_VLAN] = vid
        tags += 1
        ethertype = u16(buf, pos + 2)
        pos += 4
    return pos, ethertype


@kernel(inline="always")
def decode_below_ip(buf, pos, end, ethertype, pk, li):
    """MPLS label stacks and PPPoE sessions between the link layer and IP.

    Returns (offset, ethertype, inner_ethernet): inner_ethernet is True for an Ethernet
    pseudowire behind an MPLS stack (first nibble 0 = control word).
    """
    guard = 0
    while guard < 16:
        guard += 1
        if ethertype == ETH_MPLS or ethertype == ETH_MPLS_MC:
            bottom = False
            while not bottom:
                if pos + 4 > end:
                    return -1, ethertype, False
                bottom = (buf[pos + 2] & 1) == 1
                pos += 4
            if pos >= end:
                return -1, ethertype, False
            nib = buf[pos] >> 4
            if nib == 4:
                return pos, ETH_IPV4, False
            if nib == 6:
                return pos, ETH_IPV6, False
            if nib == 0:
                return pos + 4, 0, True
            return pos, 0, False
        elif ethertype == ETH_PPPOE:
            if pos + 8 > end:
                return -1, ethertype, False
            ppp = u16(buf, pos + 6)
            pos += 8
            if ppp == 0x0021:
                return pos, ETH_IPV4, False
            if ppp == 0x0057:
                return pos, ETH_IPV6, False
            return pos, ethertype, False
        else:
            return pos, ethertype, False
    return pos, ethertype, False


@kernel(inline="always")
def decode_transport(buf, l4, end, ip_end, proto, pk, li, counters):
    """Ports, TCP flags/sequence and payload position of a TCP, UDP, UDP-Lite or SCTP header."""
    if proto == 6:
        if l4 + 4 > end:
            skip(counters, SK_L4_TRUNCATED)
            return
        if l4 + 20 > end:
            skip(counters, SK_L4_TRUNCATED)
            return
        doff = (np.int64(buf[l4 + 12]) >> 4) * 4
        if doff < 20:
            # tshark gives up on a bogus header length before its conversation tap
            skip(counters, SK_L4_TRUNCATED)
            return
        pk[li, L_HAS_PORTS] = 1
        pk[li, L_SPORT] = u16(buf, l4)
        pk[li, L_DPORT] = u16(buf, l4 + 2)
        pk[li, L_TCP_SEQ] = u32(buf, l4 + 4)
        pk[li, L_TCP_FLAGS] = u16(buf, l4 + 12) & 0x0FFF
        pk[li, L_TCP_OK] = 1
        pk[li, L_PAYLOAD_OFF] = l4 + doff
        plen = ip_end - (l4 + doff)
        pk[li, L_PAYLOAD_LEN] = plen if plen > 0 else 0
    elif proto == 17 or proto == 136:
        if l4 + 8 > end:
            skip(counters, SK_L4_TRUNCATED)
            return
        pk[li, L_HAS_PORTS] = 1
        pk[li, L_SPORT] = u16(buf, l4)
        pk[li, L_DPORT] = u16(buf, l4 + 2)
        pk[li, L_PAYLOAD_OFF] = l4 + 8
        plen = ip_end - (l4 + 8)
        if proto == 17:
            ulen = u16(buf, l4 + 4) - 8
            if 0 <= ulen < plen:
                plen = ulen
        pk[li, L_PAYLOAD_LEN] = plen if plen > 0 else 0
    elif proto == 132:
        if l4 + 12 > end:
            skip(counters, SK_L4_TRUNCATED)
            return
        pk[li, L_HAS_PORTS] = 1
        pk[li, L_SPORT] = u16(buf, l4)
        pk[li, L_DPORT] = u16(buf, l4 + 2)
        pk[li, L_PAYLOAD_OFF] = l4 + 12
        plen = ip_end - (l4 + 12)
        pk[li, L_PAYLOAD_LEN] = plen if plen > 0 else 0
    else:
        pk[li, L_PAYLOAD_OFF] = l4
        plen = ip_end - l4
        pk[li, L_PAYLOAD_LEN] = plen if plen > 0 else 0


@kernel
def decode_ip(buf, pos, end, ethertype, pk, li, counters):
    """IPv4/IPv6 plus transport at ``pos``. Returns (next_kind, next_offset, tunnel_code)."""
    pk[li, L_ETHERTYPE] = ethertype
    pk[li, L_L3_OFF] = pos
    if ethertype == ETH_IPV4:
        if pos + 20 > end:
            skip(counters, SK_IP_TRUNCATED)
            return NEXT_NONE, 0, 0
        vihl = np.int64(buf[pos])
        ihl = (vihl & 15) * 4
        if (vihl >> 4) != 4 or ihl < 20:
            skip(counters, SK_IP_INVALID)
            return NEXT_NONE, 0, 0
        if pos + ihl > end:
            skip(counters, SK_IP_TRUNCATED)
            return NEXT_NONE, 0, 0
        total = u16(buf, pos + 2)
        if total == 0:
            total = end - pos  # segmentation offload: length left to the NIC
        if total < ihl:
            skip(counters, SK_IP_INVALID)
            return NEXT_NONE, 0, 0
        pk[li, L_IPVER] = 4
        pk[li, L_VALID] = 1
        proto = np.int64(buf[pos + 9])
        pk[li, L_PROTO] = proto
        pk[li, L_SRC_LO] = u32(buf, pos + 12)
        pk[li, L_DST_LO] = u32(buf, pos + 16)
        pk[li, L_IP_ID] = u16(buf, pos + 4)
        fo = u16(buf, pos + 6)
        offset = fo & 0x1FFF
        more = (fo & 0x2000) != 0
        ip_end = pos + total
        l4 = pos + ihl
        if offset != 0:
            pk[li, L_FRAG] = 2
            pk[li, L_PAYLOAD_OFF] = l4
            pk[li, L_PAYLOAD_LEN] = total - ihl
            return NEXT_NONE, 0, 0
        if more:
            pk[li, L_FRAG] = 1
    elif ethertype == ETH_IPV6:
        if pos + 40 > end:
            skip(counters, SK_IP_TRUNCATED)
            return NEXT_NONE, 0, 0
        if (buf[pos] >> 4) != 6:
            skip(counters, SK_IP_INVALID)
            return NEXT_NONE, 0, 0
        pk[li, L_IPVER] = 6
        pk[li, L_VALID] = 1
        pk[li, L_SRC_HI] = u64(buf, pos + 8)
        pk[li, L_SRC_LO] = u64(buf, pos + 16)
        pk[li, L_DST_HI] = u64(buf, pos + 24)
        pk[li, L_DST_LO] = u64(buf, pos + 32)
        plen = u16(buf, pos + 4)
        ip_end = pos + 40 + plen
        if plen == 0:
            ip_end = end  # jumbogram or offload
        nh = np.int64(buf[pos + 6])
        l4 = pos + 40
        guard = 0
        while guard < 16:
            guard += 1
            if nh == 0 or nh == 43 or nh == 60 or nh == 135 or nh == 139 or nh == 140:
                if l4 + 8 > end:
                    pk[li, L_PROTO] = nh
                    skip(counters, SK_IPV6_EXT_TRUNCATED)
                    return NEXT_NONE, 0, 0
                nxt = np.int64(buf[l4])
                l4 += (np.int64(buf[l4 + 1]) + 1) * 8
                nh = nxt
            elif nh == 51:
                if l4 + 8 > end:
                    pk[li, L_PROTO] = nh
                    skip(counters, SK_IPV6_EXT_TRUNCATED)
                    return NEXT_NONE, 0, 0
                nxt = np.int64(buf[l4])
                l4 += (np.int64(buf[l4 + 1]) + 2) * 4
                nh = nxt
            elif nh == 44:
                if l4 + 8 > end:
                    pk[li, L_PROTO] = nh
                    skip(counters, SK_IPV6_EXT_TRUNCATED)
                    return NEXT_NONE, 0, 0
                nxt = np.int64(buf[l4])
                fo = u16(buf, l4 + 2)
                pk[li, L_IP_ID] = u32(buf, l4 + 4)
                l4 += 8
                nh = nxt
                if (fo >> 3) != 0:
                    pk[li, L_PROTO] = nh
                    pk[li, L_FRAG] = 2
                    pk[li, L_PAYLOAD_OFF] = l4
                    pk[li, L_PAYLOAD_LEN] = ip_end - l4
                    return NEXT_NONE, 0, 0
                if (fo & 1) != 0:
                    pk[li, L_FRAG] = 1
            else:
                break
        pk[li, L_PROTO] = nh
        proto = nh
        if l4 > end:
            skip(counters, SK_IPV6_EXT_TRUNCATED)
            return NEXT_NONE, 0, 0
    else:
        return NEXT_NONE, 0, 0

    decode_transport(buf, l4, end, ip_end, proto, pk, li, counters)
    if li + 1 >= MAX_LAYERS:
        return NEXT_NONE, 0, 0
    # ---- tunnels whose payload is another packet
    if proto == 4 or proto == 41:
        return NEXT_IP, l4, TUN_IPIP
    if proto == 47:
        return decode_gre(buf, l4, end)
    if proto == 17 and pk[li, L_HAS_PORTS] == 1:
        p = pk[li, L_PAYLOAD_OFF]
        sport = pk[li, L_SPORT]
        dport = pk[li, L_DPORT]
        if sport == 2152 or dport == 2152:
            return decode_gtpu(buf, p, end)
        if dport == 4789 or sport == 4789:
            if p + 8 <= end and (buf[p] & 0x08) != 0:
                return NEXT_ETHERNET, p + 8, TUN_VXLAN
    return NEXT_NONE, 0, 0


@kernel
def decode_gtpu(buf, p, end):
    """GTPv1-U G-PDU header (3GPP TS 29.281) in front of a user IP packet."""
    if p + 8 > end:
        return NEXT_NONE, 0, 0
    flags = np.int64(buf[p])
    if (flags >> 5) != 1 or (flags & 0x10) == 0 or buf[p + 1] != 0xFF:
        return NEXT_NONE, 0, 0
    q = p + 8
    if (flags & 0x07) != 0:
        if q + 4 > end:
            return NEXT_NONE, 0, 0
        next_ext = np.int64(buf[q + 3])
        q += 4
        guard = 0
        while next_ext != 0 and guard < 8:
            guard += 1
            if q + 1 > end:
                return NEXT_NONE, 0, 0
            elen = np.int64(buf[q]) * 4
            if elen == 0 or q + elen > end:
                return NEXT_NONE, 0, 0
            next_ext = np.int64(buf[q + elen - 1])
            q += elen
    if q >= end:
        return NEXT_NONE, 0, 0
    nib = buf[q] >> 4
    if nib == 4 or nib == 6:
        return NEXT_IP, q, TUN_GTP
    return NEXT_NONE, 0, 0


@kernel
def decode_gre(buf, p, end):
    """GRE (RFC 2784/2890) and enhanced GRE of PPTP (RFC 2637)."""
    if p + 4 > end:
        return NEXT_NONE, 0, 0
    flags = u16(buf, p)
    ptype = u16(buf, p + 2)
    version = flags & 7
    q = p + 4
    if version == 0:
        if flags & 0x8000:
            q += 4
        if flags & 0x2000:
            q += 4
        if flags & 0x1000:
            q += 4
    elif version == 1:
        q += 4  # payload length + call id
        if flags & 0x1000:
            q += 4
        if flags & 0x0080:
            q += 4
    else:
        return NEXT_NONE, 0, 0
    if q > end:
        return NEXT_NONE, 0, 0
    if ptype == ETH_IPV4 or ptype == ETH_IPV6:
        return NEXT_IP, q, TUN_GRE
    if ptype == ETH_TEB:
        return NEXT_ETHERNET, q, TUN_GRE
    if ptype == 0x880B:
        return NEXT_PPP, q, TUN_GRE
    return NEXT_NONE, 0, 0


@kernel(inline="always")
def ip_ethertype_at(buf, pos, end):
    if pos >= end:
        return 0
    nib = buf[pos] >> 4
    if nib == 4:
        return ETH_IPV4
    if nib == 6:
        return ETH_IPV6
    return 0


@kernel
def decode_frame(buf, off, caplen, linktype, pk, counters):
    """Decode one frame into ``pk``; returns the number of layers filled (0 = nothing usable)."""
    end = off + caplen
    reset_layer(pk, 0, -1, -1, 0, 0)
    if caplen == 0:
        skip(counters, SK_ZERO_LENGTH)
        return 0
    pos = off
    ethertype = 0
    if linktype == DLT_EN10MB:
        pos, ethertype = decode_ethernet(buf, off, end, pk, 0)
        if pos < 0:
            skip(counters, SK_SHORT_LINK)
            return 0
    elif linktype == DLT_LINUX_SLL:
        if caplen < 16:
            skip(counters, SK_SHORT_LINK)
            return 0
        if u16(buf, off + 2) == 1 and u16(buf, off + 4) == 6:
            pk[0, L_SRC_MAC] = mac48(buf, off + 6)
            pk[0, L_HAS_MAC] = 1
        ethertype = u16(buf, off + 14)
        pos, ethertype = decode_vlan_tags(buf, off + 16, end, ethertype, pk, 0)
        if pos < 0:
            skip(counters, SK_SHORT_LINK)
            return 0
    elif linktype == DLT_LINUX_SLL2:
        if caplen < 20:
            skip(counters, SK_SHORT_LINK)
            return 0
        if u16(buf, off + 8) == 1 and buf[off + 11] == 6:
            pk[0, L_SRC_MAC] = mac48(buf, off + 12)
            pk[0, L_HAS_MAC] = 1
        ethertype = u16(buf, off)
        pos, ethertype = decode_vlan_tags(buf, off + 20, end, ethertype, pk, 0)
        if pos < 0:
            skip(counters, SK_SHORT_LINK)
            return 0
    elif linktype == DLT_NULL or linktype == DLT_LOOP:
        if caplen < 4:
            skip(counters, SK_SHORT_LINK)
            return 0
        fam_be = u32(buf, off)
        fam_le = (
            np.int64(buf[off])
            | (np.int64(buf[off + 1]) << 8)
            | (np.int64(buf[off + 2]) << 16)
            | (np.int64(buf[off + 3]) << 24)
        )
        fam = fam_be if linktype == DLT_LOOP else (fam_le if fam_le < 256 else fam_be)
        pos = off + 4
        if fam == 2:
            ethertype = ETH_IPV4
        elif fam == 10 or fam == 24 or fam == 28 or fam == 30:
            ethertype = ETH_IPV6
        else:
            ethertype = ip_ethertype_at(buf, pos, end)
    elif (
        linktype == DLT_RAW
        or linktype == DLT_RAW_BSD12
        or linktype == DLT_RAW_BSD14
        or linktype == DLT_IPV4
        or linktype == DLT_IPV6
    ):
        ethertype = ip_ethertype_at(buf, off, end)
    else:
        skip(counters, SK_LINKTYPE)
        return 0
    counters[C_DECODED] += 1

    pos, ethertype, inner_eth = decode_below_ip(buf, pos, end, ethertype, pk, 0)
    if pos < 0:
        pk[0, L_ETHERTYPE] = ethertype
        pk[0, L_VALID] = 1 if pk[0, L_HAS_MAC] > 0 else 0
        return 1 if pk[0, L_VALID] == 1 else 0
    if inner_eth:
        pos, ethertype = decode_ethernet(buf, pos, end, pk, 0)
        if pos < 0:
            pk[0, L_ETHERTYPE] = 0
            pk[0, L_VALID] = 1 if pk[0, L_HAS_MAC] > 0 else 0
            return 1 if pk[0, L_VALID] == 1 else 0

    li = 0
    while True:
        if ethertype != ETH_IPV4 and ethertype != ETH_IPV6:
            # a layer-2 frame (ARP, LLDP, PROFINET, LLC, ...) is a flow between MACs
            pk[li, L_ETHERTYPE] = ethertype if ethertype >= 0x0600 else 0
            pk[li, L_L3_OFF] = pos
            if pk[li, L_HAS_MAC] > 0:
                pk[li, L_VALID] = 1
                return li + 1
            return li
        kind, npos, tunnel = decode_ip(buf, pos, end, ethertype, pk, li, counters)
        if pk[li, L_VALID] == 0:
            # IP header unusable: keep the frame as a layer-2 sighting
            if li == 0 and pk[0, L_HAS_MAC] > 0:
                pk[0, L_VALID] = 1
                pk[0, L_IPVER] = 0
                return 1
            return li
        if kind == NEXT_NONE:
            return li + 1
        nli = li + 1
        reset_layer(pk, nli, pk[li, L_VLAN], pk[li, L_OUTER_VLAN], tunnel, pk[li, L_DEPTH] + 1)
        if kind == NEXT_IP:
            ethertype = ip_ethertype_at(buf, npos, end)
            pos = npos
        elif kind == NEXT_ETHERNET:
            reset_layer(pk, nli, -1, -1, tunnel, pk[li, L_DEPTH] + 1)
            pos, ethertype = decode_ethernet(buf, npos, end, pk, nli)
            if pos < 0:
                return li + 1
        else:  # PPP inside PPTP GRE: optional address/control, 1- or 2-byte protocol
            q = npos
            if q + 2 <= end and buf[q] == 0xFF and buf[q + 1] == 0x03:
                q += 2
            if q + 1 > end:
                return li + 1
            if (buf[q] & 1) == 1:
                proto = np.int64(buf[q])
                q += 1
            else:
                if q + 2 > end:
                    return li + 1
                proto = u16(buf, q)
                q += 2
            if proto == 0x21:
                ethertype = ETH_IPV4
            elif proto == 0x57:
                ethertype = ETH_IPV6
            else:
                return li + 1
            pos = q
        if ethertype == 0:
            return li + 1
        li = nli
