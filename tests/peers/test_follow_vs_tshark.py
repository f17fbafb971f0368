"""Reassembled TCP bytes equal Wireshark's "Follow TCP stream" (tshark -z follow,tcp,raw,N)."""

from __future__ import annotations

import subprocess
from collections import defaultdict
from pathlib import Path

import pytest

from zonewarden.flow.records import flow_dicts
from zonewarden.flow.tcp_reassembly import Chunk
from zonewarden.pipeline.packets import PacketPipeline
from zonewarden.pipeline.streams import TcpStreams

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
STREAMS_PER_FILE = 6
# A spread of real plant captures: long-lived polling, many short sessions, segmentation, loss.
SAMPLE = [
    "modbus/controlthings-ct-samples/Plant1_ModbusTCP.pcap",
    "s7comm/controlthings-ct-samples/Plant1_S7comm.pcap",
    "dnp3/cisagov-icsnpp-dnp3/dnp3_example.pcap",
    "enip-cip/iti-ics-security-tools/EthernetIP-CIP.pcap",
    "iec104/emreekin-ics-pcaps/iec104.pcap",
    "iec104/controlthings-ct-samples/090813_diverse.pcap",
    "opcua/cisagov-icsnpp-opcua-binary/opcua_with-gap.pcap",
    "modbus/lemay-modbus-dataset/characterization_modbus_6RTU_with_operate.pcap",
    "s7comm/emreekin-ics-pcaps/icss7.pcap",
]


def tshark_follow(path: Path, streams: int) -> dict[int, tuple[str, bytes, bytes]]:
    """tcp.stream index -> (node 0 "ip:port", node 0's bytes, node 1's bytes)."""
    args = ["tshark", "-n", "-r", str(path), "-q"]
    for n in range(streams):
        args += ["-z", f"follow,tcp,raw,{n}"]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    result: dict[int, tuple[str, bytes, bytes]] = {}
    for block in out.split("=" * 67):
        lines = block.strip("\n").splitlines()
        head = [ln for ln in lines if ln.startswith(("Filter:", "Node 0:"))]
        if len(head) < 2:
            continue
        stream = int(head[0].split("eq")[-1])
        node0 = head[1].split(":", 1)[1].strip()
        sides: list[bytearray] = [bytearray(), bytearray()]
        body = False
        for ln in lines:
            if ln.startswith("Node 1:"):
                body = True
                continue
            if body and ln.strip():
                sides[1 if ln.startswith("\t") else 0] += bytes.fromhex(ln.strip())
        result[stream] = (node0, bytes(sides[0]), bytes(sides[1]))
    return result


def our_streams(path: Path) -> dict[str, list[tuple[str, bytes, bytes]]]:
    """"src:sport>dst:dport" of each TCP flow -> [(orig "ip:port", orig bytes, resp bytes)] in order."""
    data: dict[tuple[int, int], bytearray] = defaultdict(bytearray)

    def sink(uid: int, direction: int, chunks: list[Chunk]) -> None:
        for c in chunks:
            data[(uid, direction)] += c.data  # gaps carry no bytes; tshark's follow shows none either

    pipeline = PacketPipeline([str(path)], consumers=[TcpStreams(sink)])
    found: dict[str, list[tuple[str, bytes, bytes]]] = defaultdict(list)
    for records in pipeline.flow_batches():
        for uid, flow in zip(records["uid"].tolist(), flow_dicts(records), strict=True):
            if flow["proto"] != "tcp":
                continue
            a, b = f"{flow['src']}:{flow['sport']}", f"{flow['dst']}:{flow['dport']}"
            entry = (a, bytes(data.pop((uid, 0), b"")), bytes(data.pop((uid, 1), b"")))
            found[">".join(sorted((a, b)))].append(entry)
    return found


@pytest.mark.parametrize("rel", SAMPLE)
def test_reassembled_bytes_equal_tshark_follow(rel: str) -> None:
    path = CORPUS / rel
    assert path.exists(), f"corpus capture missing: {path}"
    theirs = tshark_follow(path, STREAMS_PER_FILE)
    ours = our_streams(path)
    assert theirs, "tshark followed no stream"
    compared = 0
    for stream, (node0, t0, t1) in sorted(theirs.items()):
        if node0.startswith(":") or (not t0 and not t1):
            continue  # no such stream in this file, or a stream without payload
        node1 = next(k for k in ours if node0 in k.split(">")).split(">")
        key = ">".join(sorted(node1))
        candidates = ours[key]
        # Port reuse can give one 5-tuple several flows; tshark numbers them apart too.
        match = [(o0, o1) if orig == node0 else (o1, o0) for orig, o0, o1 in candidates]
        assert (t0, t1) in match, f"stream {stream} ({key}): bytes differ from tshark follow"
        compared += 1
    assert compared >= 1, "no stream with payload compared"
