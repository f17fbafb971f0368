"""The compiled L2-L4 decoder: one pass over a frame batch filling struct-of-arrays outputs.

Addresses are kept as two uint64 halves of a 128-bit IPv6 address; IPv4 addresses are stored
IPv4-mapped (::ffff:a.b.c.d) so one key layout serves both families (``l3`` says which family it is).

Payload lengths on the wire (``l4_wire_len``) come from the IP and UDP length fields, but never reach
past the frame's own wire length: a length field cannot make a packet bigger than what was sent.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from zonewarden.decode import anomalies as A

L3_NONE = 0
L3_ARP = 1
L3_OTHER = 2
L3_IPV4 = 4
L3_IPV6 = 6

IPPROTO_ICMP = 1
IPPROTO_TCP = 6
IPPROTO_UDP = 17
IPPROTO_ICMPV6 = 58

V4_MAPPED = np.uint64(0x0000FFFF00000000)

# Link types, repeated here as literals the compiler can fold.
_LT_NULL = 0
_LT_ETHERNET = 1
_LT_RAW = 101
_LT_RAW12 = 12
_LT_RAW14 = 14
_LT_LOOP = 108
_LT_SLL = 113
_LT_IPV4 = 228
_LT_IPV6 = 229
_LT_SLL2 = 276
_LT_PPP = 9
_LT_PPP_HDLC = 50


@njit(cache=True, inline="always")
def _be16(d, p):  # type: ignore[no-untyped-def]
    return (np.int64(d[p]) << 8) | np.int64(d[p + 1])


@njit(cache=True, inline="always")
def _be32(d, p):  # type: ignore[no-untyped-def]
    return (np.int64(d[p]) << 24) | (np.int64(d[p + 1]) << 16) | (np.int64(d[p + 2]) << 8) | np.int64(d[p + 3])


@njit(cache=True, inline="always")
def _be64u(d, p):  # type: ignore[no-untyped-def]
    v = np.uint64(0)
    for k in range(8):
        v = (v << np.uint64(8)) | np.uint64(d[p + k])
    return v


@njit(cache=True)
def decode_batch(  # type: ignore[no-untyped-def]
    data, offset, caplen, wirelen, linktype,
    l3, ethertype, vlan_outer, vlan_inner, l2_off, ip_off,
    src_hi, src_lo, dst_hi, dst_lo, proto, sport, dport,
    tcp_flags, seq, ack, l4_off, l4_len, l4_wire_len, frag, err,
):
    """Decode every frame of a batch; each output array has one slot per frame."""
    n = offset.shape[0]
    for i in range(n):
        start = offset[i]
        end = start + caplen[i]
        frame_wire_end = start + wirelen[i] if wirelen[i] > caplen[i] else end
        lt = linktype[i]
        pr = np.int64(0)
        l3[i] = L3_NONE
        ethertype[i] = 0
        vlan_outer[i] = -1
        vlan_inner[i] = -1
        l2_off[i] = -1
        ip_off[i] = -1
        src_hi[i] = 0
        src_lo[i] = 0
        dst_hi[i] = 0
        dst_lo[i] = 0
        proto[i] = 0
        sport[i] = 0
        dport[i] = 0
        tcp_flags[i] = 0
        seq[i] = 0
        ack[i] = 0
        l4_off[i] = -1
        l4_len[i] = 0
        l4_wire_len[i] = 0
        frag[i] = 0
        err[i] = A.OK

        # ---- link layer: find the ethertype (or IP version) and where L3 starts
        p = start
        etype = -1  # -1: decide by IP version nibble
        if lt == _LT_ETHERNET:
            if p + 14 > end:
                err[i] = A.L2_TRUNCATED
                continue
            l2_off[i] = p
            etype = _be16(data, p + 12)
            p += 14
            nvlan = 0
            while etype == 0x8100 or etype == 0x88A8 or etype == 0x9100 or etype == 0x9200:
                if p + 4 > end:
                    err[i] = A.VLAN_TRUNCATED
                    break
                vid = _be16(data, p) & 0x0FFF
                if nvlan == 0:
                    vlan_outer[i] = vid
                elif nvlan == 1:
                    vlan_inner[i] = vid
                nvlan += 1
                etype = _be16(data, p + 2)
                p += 4
            if err[i] != A.OK:
                continue
            if etype <= 1500:  # 802.3 length field: LLC/SNAP payload, not IP
                ethertype[i] = 0
                l3[i] = L3_OTHER
                continue
        elif lt == _LT_SLL:
            if p + 16 > end:
                err[i] = A.L2_TRUNCATED
                continue
            etype = _be16(data, p + 14)
            p += 16
        elif lt == _LT_SLL2:
            if p + 20 > end:
                err[i] = A.L2_TRUNCATED
                continue
            etype = _be16(data, p)
            p += 20
        elif lt == _LT_NULL or lt == _LT_LOOP:
            if p + 4 > end:
                err[i] = A.L2_TRUNCATED
                continue
            if lt == _LT_LOOP:
                fam = _be32(data, p)
            else:
                fam = np.int64(data[p]) | (np.int64(data[p + 1]) << 8) | (np.int64(data[p + 2]) << 16)
                fam |= np.int64(data[p + 3]) << 24
                if fam > 0xFFFF:  # written in the other byte order
                    fam = _be32(data, p)
            p += 4
            if fam == 2:
                etype = 0x0800
            elif fam == 10 or fam == 24 or fam == 28 or fam == 30:
                etype = 0x86DD
            else:
                err[i] = A.NULL_UNKNOWN_FAMILY
                continue
        elif lt == _LT_RAW or lt == _LT_RAW12 or lt == _LT_RAW14 or lt == _LT_IPV4 or lt == _LT_IPV6:
            etype = -1
        elif lt == _LT_PPP or lt == _LT_PPP_HDLC:
            # PPP: optional HDLC address/control (0xff 0x03), then a 16-bit protocol number.
            if p + 2 <= end and data[p] == 0xFF and data[p + 1] == 0x03:
                p += 2
            if p + 2 > end:
                err[i] = A.L2_TRUNCATED
                continue
            ppp = _be16(data, p)
            p += 2
            if ppp == 0x0021:
                etype = 0x0800
            elif ppp == 0x0057:
                etype = 0x86DD
            else:
                l3[i] = L3_OTHER
                ip_off[i] = p
                continue
        else:
            err[i] = A.UNKNOWN_LINKTYPE
            continue

        # Shims between the link layer and IP: PPPoE sessions (DSL uplinks) and MPLS label stacks.
        if etype == 0x8864:
            if p + 8 > end:
                err[i] = A.L2_TRUNCATED
                continue
            ppp = _be16(data, p + 6)
            p += 8
            if ppp == 0x0021:
                etype = 0x0800
            elif ppp == 0x0057:
                etype = 0x86DD
            else:
                ethertype[i] = etype
                l3[i] = L3_OTHER
                ip_off[i] = p
                continue
        elif etype == 0x8847 or etype == 0x8848:
            bottom = False
            for _label in range(8):
                if p + 4 > end:
                    break
                bottom = (data[p + 2] & 1) != 0
                p += 4
                if bottom:
                    break
            if not bottom:
                err[i] = A.L2_TRUNCATED
                continue
            etype = -1  # MPLS does not say what it carries: the IP version nibble does

        if etype == -1:
            if p >= end:
                err[i] = A.IPV6_TRUNCATED if lt == _LT_IPV6 else A.IPV4_TRUNCATED
                continue
            ver = data[p] >> 4
            if ver == 4:
                etype = 0x0800
            elif ver == 6:
                etype = 0x86DD
            else:
                err[i] = A.IP_BAD_VERSION
                continue
        ethertype[i] = etype

        # ---- network layer
        l4_end = end
        wire_end = end
        if etype == 0x0800:
            if p + 20 > end:
                err[i] = A.IPV4_TRUNCATED
                continue
            if data[p] >> 4 != 4:
                err[i] = A.IP_BAD_VERSION
                continue
            ihl = (np.int64(data[p]) & 0x0F) * 4
            if ihl < 20:
                err[i] = A.IPV4_BAD_IHL
                continue
            if p + ihl > end:
                err[i] = A.IPV4_TRUNCATED
                continue
            total = _be16(data, p + 2)
            if total < ihl:
                # TSO/offloaded captures write 0 here; take what was captured, as Wireshark does.
                if total == 0:
                    total = end - p
                else:
                    err[i] = A.IPV4_BAD_TOTAL_LENGTH
                    continue
            l3[i] = L3_IPV4
            ip_off[i] = p
            src_hi[i] = 0
            src_lo[i] = V4_MAPPED | np.uint64(_be32(data, p + 12))
            dst_hi[i] = 0
            dst_lo[i] = V4_MAPPED | np.uint64(_be32(data, p + 16))
            pr = np.int64(data[p + 9])
            proto[i] = pr
            fl = _be16(data, p + 6)
            if (fl & 0x2000) != 0 or (fl & 0x1FFF) != 0:
                frag[i] = 1
                # Only the last fragment may end off an 8-byte boundary, and none may end past 65535.
                frag_len = total - ihl
                if (fl & 0x1FFF) * 8 + frag_len > 65535 or ((fl & 0x2000) != 0 and frag_len % 8 != 0):
                    err[i] = A.IPV4_BAD_FRAGMENT
                    continue
            wire_end = p + total
            if wire_end > frame_wire_end:
                wire_end = frame_wire_end
            l4_end = wire_end if wire_end < end else end
            p += ihl
            if frag[i] != 0 and (fl & 0x1FFF) != 0:
                # Not the first fragment: no L4 header here; the reassembler takes it from here.
                l4_off[i] = p
                l4_len[i] = l4_end - p if l4_end > p else 0
                l4_wire_len[i] = wire_end - p
                continue
        elif etype == 0x86DD:
            if p + 40 > end:
                err[i] = A.IPV6_TRUNCATED
                continue
            if data[p] >> 4 != 6:
                err[i] = A.IP_BAD_VERSION
                continue
            l3[i] = L3_IPV6
            ip_off[i] = p
            src_hi[i] = _be64u(data, p + 8)
            src_lo[i] = _be64u(data, p + 16)
            dst_hi[i] = _be64u(data, p + 24)
            dst_lo[i] = _be64u(data, p + 32)
            plen = _be16(data, p + 4)
            nh = np.int64(data[p + 6])
            p += 40
            wire_end = p + plen
            if plen == 0:  # jumbogram or offloaded capture: use what was captured
                wire_end = end
            ip_end = wire_end  # as announced, for the fragment checks
            if wire_end > frame_wire_end:
                wire_end = frame_wire_end
            l4_end = wire_end if wire_end < end else end
            bad = False
            bad_fragment = False
            later_fragment = False
            for _hop in range(16):
                if nh == 0 or nh == 43 or nh == 60 or nh == 135 or nh == 139 or nh == 140:
                    if p + 8 > l4_end:
                        bad = True
                        break
                    nxt = np.int64(data[p])
                    p += (np.int64(data[p + 1]) + 1) * 8
                    nh = nxt
                elif nh == 51:  # AH: length in 4-octet units minus 2
                    if p + 8 > l4_end:
                        bad = True
                        break
                    nxt = np.int64(data[p])
                    p += (np.int64(data[p + 1]) + 2) * 4
                    nh = nxt
                elif nh == 44:
                    if p + 8 > l4_end:
                        bad = True
                        break
                    frag[i] = 1
                    frag_field = _be16(data, p + 2)
                    frag_len = ip_end - (p + 8)
                    if (frag_field & 0xFFF8) + frag_len > 65535 or ((frag_field & 1) != 0 and frag_len % 8 != 0):
                        bad_fragment = True
                        break
                    if (frag_field & 0xFFF8) != 0:
                        later_fragment = True
                    nh = np.int64(data[p])
                    p += 8
                else:
                    break
            if bad_fragment:
                err[i] = A.IPV6_BAD_FRAGMENT
                continue
            if bad or p > l4_end:
                err[i] = A.IPV6_BAD_EXTENSION
                continue
            proto[i] = nh
            pr = nh
            if later_fragment:
                l4_off[i] = p
                l4_len[i] = l4_end - p
                l4_wire_len[i] = wire_end - p
                continue
        elif etype == 0x0806:
            if p + 8 > end:
                err[i] = A.ARP_TRUNCATED
                continue
            l3[i] = L3_ARP
            ip_off[i] = p
            continue
        else:
            l3[i] = L3_OTHER
            ip_off[i] = p
            continue

        # ---- transport layer
        if frag[i] != 0:
            # A first fragment too short to hold the transport header is not truncated: the header
            # continues in the next fragment, and the reassembled datagram is decoded whole.
            need = 0
            if pr == IPPROTO_TCP:
                need = 20
            elif pr == IPPROTO_UDP:
                need = 8
            elif pr == IPPROTO_ICMP or pr == IPPROTO_ICMPV6:
                need = 4
            if p + need > wire_end:
                l4_off[i] = p
                l4_len[i] = l4_end - p if l4_end > p else 0
                l4_wire_len[i] = wire_end - p if wire_end > p else 0
                continue
        if pr == IPPROTO_TCP:
            if p + 20 > l4_end:
                err[i] = A.TCP_TRUNCATED
                continue
            sport[i] = _be16(data, p)
            dport[i] = _be16(data, p + 2)
            seq[i] = _be32(data, p + 4)
            ack[i] = _be32(data, p + 8)
            doff = (np.int64(data[p + 12]) >> 4) * 4
            tcp_flags[i] = data[p + 13]
            if doff < 20:
                err[i] = A.TCP_BAD_OFFSET
                continue
            if p + doff > l4_end:
                if frag[i] != 0 and p + doff > wire_end:  # options continue in the next fragment
                    l4_off[i] = p
                    l4_len[i] = l4_end - p
                    l4_wire_len[i] = wire_end - p
                    continue
                err[i] = A.TCP_TRUNCATED if p + doff <= wire_end else A.TCP_BAD_OFFSET
                continue
            p += doff
        elif pr == IPPROTO_UDP:
            if p + 8 > l4_end:
                err[i] = A.UDP_TRUNCATED
                continue
            sport[i] = _be16(data, p)
            dport[i] = _be16(data, p + 2)
            ulen = _be16(data, p + 4)
            if frag[i] == 0:
                if ulen < 8:
                    # UDP length 0 is legal for IPv6 jumbograms only; below 8 it cannot even cover the header.
                    if not (ulen == 0 and l3[i] == L3_IPV6):
                        err[i] = A.UDP_BAD_LENGTH
                        continue
                elif p + ulen > wire_end:
                    # Claims more than IP carries: an anomaly, but the datagram still belongs to its flow
                    # (as tshark and Zeek count it); the payload is what IP delivered.
                    err[i] = A.UDP_LENGTH_EXCEEDS_IP
                else:
                    wire_end = p + ulen
                    if wire_end < l4_end:
                        l4_end = wire_end
            p += 8
        elif pr == IPPROTO_ICMP or pr == IPPROTO_ICMPV6:
            if p + 4 > l4_end:
                err[i] = A.ICMP_TRUNCATED
                continue
            sport[i] = data[p]
            dport[i] = data[p + 1]
            p += 4
        l4_off[i] = p
        l4_len[i] = l4_end - p if l4_end > p else 0
        l4_wire_len[i] = wire_end - p if wire_end > p else 0
