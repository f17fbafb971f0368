"""Hostile input in `make bench`: SYN floods of forged sources, zonewarden against tshark on the same file.

A flood is where a passive sensor is cheapest to hurt: every forged packet is a new flow, a new address, a
new half-open connection on a PLC's port. The floods are built here, reproducibly (a fixed seed): N SYNs
from random sources and ports to one server, on Modbus/TCP's port 502 (a protocol of the compiled fast
lane) and IEC 60870-5-104's port 2404 (the Python analyzers' path). Each zonewarden command and tshark's
conversation table run on each, one timed run after a warm-up; the time and peak RSS go to BENCHMARKS.md
between the flood markers.
"""

import argparse
import ipaddress
import os
import random
import sys
from pathlib import Path

from run_bench import (
    REPO,
    Case,
    Result,
    machine,
    markdown,
    plain,
    rss_cell,
    run_case,
    write_report,
)

from zonewarden.simulate import frames as f
from zonewarden.simulate.pcap_writer import PcapStreamWriter

BEGIN, END = "<!-- flood:begin -->", "<!-- flood:end -->"
SEED = 7
SERVER, SERVER_MAC, CLIENT_MAC = "10.0.0.5", "00:00:00:00:00:05", "02:00:00:00:00:01"
PORTS = (502, 2404)
CASES = (
    Case("tshark-conv", "peer", ("tshark", "-r", "{pcap}", "-q", "-z", "conv,tcp")),
    Case("zonewarden-flows", "zonewarden", ("{zonewarden}", "flows", "{pcap}", "--format", "jsonl")),
    Case("zonewarden-events", "zonewarden", ("{zonewarden}", "events", "{pcap}", "-q")),
    Case("zonewarden-analyze", "zonewarden", ("{zonewarden}", "analyze", "{pcap}", "--db", ":memory:", "-q")),
)


def build_flood(out: Path, packets: int, port: int) -> None:
    """``packets`` SYNs to 10.0.0.5:``port`` from random unicast sources, 10,000 a second, as a pcap (the
    simulator's frame builders and pcap writer)."""
    if out.exists():
        return
    rnd = random.Random(SEED)
    tmp = out.with_suffix(".partial")
    with open(tmp, "wb") as fh:
        pcap = PcapStreamWriter(fh)
        for i in range(packets):
            src = str(ipaddress.IPv4Address(rnd.getrandbits(32) | 0x01000000))
            syn = f.tcp(src, SERVER, rnd.randrange(1024, 65535), port, rnd.getrandbits(32), 0, "S")
            frame = f.ethernet(SERVER_MAC, CLIENT_MAC, f.ETH_P_IP, f.ip(src, SERVER, f.IPPROTO_TCP, syn))
            pcap.write(1_700_000_000_000_000 + i * 100, frame)
    tmp.rename(out)  # a half-written capture is never reused


def rows(results: dict[int, list[Result]], packets: int) -> list[list[str]]:
    out = [["flood", "case", "status", "s", "packets/s", "peak RSS MB", "vs tshark-conv"]]
    for port, runs in results.items():
        peer = next((r for r in runs if r.case.name == "tshark-conv" and r.ok), None)
        for r in runs:
            if not r.ok:
                out.append([f"port {port}", r.case.name, "FAILED", "-", "-", "-", "-"])
                continue
            x = f"{peer.median / r.median:.2f}x" if peer is not None and r is not peer else ""
            out.append([f"port {port}", r.case.name, "ok", f"{r.median:.2f}", f"{packets / r.median:,.0f}",
                        rss_cell(r), x])
    return out


def main() -> int:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "zonewarden-bench"
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, help="Markdown report to create or update (between the flood markers)")
    ap.add_argument("--cache-dir", type=Path, default=cache, help=f"where the floods are built ({cache})")
    ap.add_argument("--zonewarden", type=Path, default=REPO / ".venv/bin/zonewarden", help="executable")
    ap.add_argument("--packets", type=int, default=500_000, help="SYNs per flood (500,000)")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds before a single run is killed")
    a = ap.parse_args()
    if a.packets < 1:
        ap.error("--packets must be at least 1")
    a.cache_dir.mkdir(parents=True, exist_ok=True)
    results: dict[int, list[Result]] = {}
    for port in PORTS:
        pcap = a.cache_dir / f"flood-syn-{port}-{a.packets}-v2.pcap"  # (v2: with checksums)
        build_flood(pcap, a.packets, port)
        subs = {"zonewarden": str(a.zonewarden), "pcap": str(pcap)}
        results[port] = []
        for case in CASES:
            print(f"port {port}, {case.name}:", file=sys.stderr)
            results[port].append(run_case(case, subs, 1, a.cache_dir, a.timeout))
    table = rows(results, a.packets)
    print("\n" + plain(table))
    if a.out:
        block = "\n".join([
            "## Floods", "",
            f"Produced by `make bench` (`bench/flood_bench.py --out BENCHMARKS.md --packets {a.packets}`).", "",
            *machine(), "",
            f"Captures: {a.packets:,} TCP SYNs from random forged sources and ports to 10.0.0.5, 10,000 a second "
            f"(seed {SEED}), to port 502 (Modbus/TCP: the compiled fast lane's) and to port 2404 (IEC 104: the "
            "Python analyzers'); built by bench/flood_bench.py in the cache directory. One timed run per case "
            "after a warm-up (zonewarden); the last column is tshark's time over the case's.", "",
            markdown(table),
        ])
        write_report(a.out, block, BEGIN, END)
        print(f"\nwrote {a.out}", file=sys.stderr)
    return 1 if any(not r.ok for runs in results.values() for r in runs if r.case.kind == "zonewarden") else 0


if __name__ == "__main__":
    sys.exit(main())
