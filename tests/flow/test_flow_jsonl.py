"""The flows command's direct JSONL writer says exactly what encoding the flow dicts with msgspec says."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from zonewarden.flow.records import flow_dicts, flow_jsonl
from zonewarden.pipeline.packets import PacketPipeline

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
SAMPLES = [
    "modbus/controlthings-ct-samples/Plant1_ModbusTCP.pcap",  # many TCP flows
    "encapsulation/zeek/mixed-vlan-mpls.pcap",  # VLANs
    "it/ndpi/dns.pcap",  # UDP, PPPoE, QinQ
    "robustness/ndpi/ip_fragmented_garbage.pcap",  # fragments, odd protocols
    "c1222/cisagov-icsnpp-c1222/c1222_over_ipv6.pcap",  # IPv6, ICMPv6, SLL
]


@pytest.mark.parametrize("rel", SAMPLES)
def test_direct_writer_matches_msgspec(rel: str) -> None:
    encoder = msgspec.json.Encoder()
    records = 0
    for batch in PacketPipeline([str(CORPUS / rel)]).flow_batches():
        assert flow_jsonl(batch) == encoder.encode_lines(list(flow_dicts(batch))).decode()
        records += batch.shape[0]
    assert records > 0
