"""The fair Python-library peer for `zonewarden flows`: a plain dpkt loop.

Parses Ethernet (dpkt strips 802.1Q tags itself) -> IPv4/IPv6 -> TCP/UDP for every packet and counts
packets and bytes per bidirectional 5-tuple, which is what a flow table is. Prints one summary line
so a run can be sanity-checked. Usage: dpkt_l4_loop.py FILE.pcap
"""

import sys

import dpkt

FlowKey = tuple[bytes, int, bytes, int, int]


def count_flows(path: str) -> tuple[int, dict[FlowKey, list[int]]]:
    flows: dict[FlowKey, list[int]] = {}
    packets = 0
    with open(path, "rb") as f:
        for _ts, buf in dpkt.pcap.Reader(f):
            packets += 1
            try:
                eth = dpkt.ethernet.Ethernet(buf)
            except dpkt.UnpackError:  # NeedData is a subclass: truncated and malformed alike
                continue
            ip = eth.data
            if not isinstance(ip, dpkt.ip.IP | dpkt.ip6.IP6):
                continue
            l4 = ip.data
            if isinstance(l4, dpkt.tcp.TCP):
                proto = 6
            elif isinstance(l4, dpkt.udp.UDP):
                proto = 17
            else:
                continue
            a, b = (ip.src, l4.sport), (ip.dst, l4.dport)
            key = (*a, *b, proto) if a <= b else (*b, *a, proto)
            counts = flows.get(key)
            if counts is None:
                flows[key] = [1, len(buf)]
            else:
                counts[0] += 1
                counts[1] += len(buf)
    return packets, flows


def main() -> None:
    packets, flows = count_flows(sys.argv[1])
    in_flows = sum(c[0] for c in flows.values())
    print(f"packets={packets} flows={len(flows)} l4_packets={in_flows}")


if __name__ == "__main__":
    main()
