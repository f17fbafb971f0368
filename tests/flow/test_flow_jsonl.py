"""The flows command's JSONL writers: flow_jsonl (Python) says exactly what encoding the flow dicts with msgspec
says, and the compiled writer (flow_jsonl_pieces) exactly what flow_jsonl says: over the corpus and over random
records."""

from __future__ import annotations

from pathlib import Path

import msgspec
import numpy as np
import pytest
from hypothesis import given, settings

from tests.strategies import INT32, INT64, T0_NS, TS_MIN_NS, flow_record_arrays
from zonewarden import kernels
from zonewarden.flow.layout import FLOW_DTYPE, JSONL_ROW_MAX
from zonewarden.flow.records import flow_dicts, flow_jsonl, flow_jsonl_pieces
from zonewarden.pipeline.packets import PacketPipeline

SAMPLES = [
    "modbus/controlthings-ct-samples/Plant1_ModbusTCP.pcap",  # many TCP flows
    "encapsulation/zeek/mixed-vlan-mpls.pcap",  # VLANs
    "it/ndpi/dns.pcap",  # UDP, PPPoE, QinQ
    "robustness/ndpi/ip_fragmented_garbage.pcap",  # fragments, odd protocols
    "c1222/cisagov-icsnpp-c1222/c1222_over_ipv6.pcap",  # IPv6, ICMPv6, SLL
]


def compiled(records: np.ndarray) -> str:
    return b"".join(flow_jsonl_pieces(records)).decode()


@pytest.mark.parametrize("rel", SAMPLES)
def test_direct_writer_matches_msgspec(corpus_dir: Path, rel: str) -> None:
    encoder = msgspec.json.Encoder()
    records = 0
    for batch in PacketPipeline([str(corpus_dir / rel)]).flow_batches():
        assert flow_jsonl(batch) == encoder.encode_lines(list(flow_dicts(batch))).decode()
        records += batch.shape[0]
    assert records > 0


def test_compiled_writer_matches_flow_jsonl_over_the_corpus(corpus_dir: Path) -> None:
    # Every capture, read as the flows command reads a directory: IPv4 and IPv6, VLANs, ICMP, fragments,
    # odd protocols, captures dated 1970 (rows the compiled writer leaves to flow_jsonl).
    rows = left = 0
    ipv6 = 0
    for batch in PacketPipeline([str(corpus_dir)]).flow_batches():
        assert compiled(batch) == flow_jsonl(batch)
        out, ends = np.empty(batch.shape[0] * JSONL_ROW_MAX, np.uint8), np.empty(batch.shape[0], np.int64)
        kernels.flow_jsonl_rows(np.ascontiguousarray(batch), out, ends)
        left += int((np.diff(ends, prepend=0) == 0).sum())
        rows += batch.shape[0]
        ipv6 += int((batch["ipver"] == 6).sum())
    assert rows > 9000 and ipv6 > 100
    assert 0 < left < 10


@settings(max_examples=300, deadline=None)
@given(flow_record_arrays())
def test_compiled_writer_matches_flow_jsonl_on_any_record(records: np.ndarray) -> None:
    assert compiled(records) == flow_jsonl(records)


def test_compiled_writer_on_many_random_records() -> None:
    # Uniform draws over every field's range, many rows at once (the rows flow_jsonl writes among them too).
    rng = np.random.default_rng(7)
    n = 20_000
    records = np.zeros(n, FLOW_DTYPE)
    for name in ("fid", "history", "a_hi", "a_lo", "b_hi", "b_lo"):
        records[name] = rng.integers(0, 1 << 64, n, np.uint64, endpoint=False)
    for name in ("vlan_outer", "vlan_inner", "a_port", "b_port", "icmp_type", "icmp_code"):
        records[name] = rng.integers(*INT32, n, np.int32, endpoint=True)
    for name in ("pkts_o", "pkts_r", "bytes_o", "bytes_r", "payload_o", "payload_r"):
        records[name] = rng.integers(*INT64, n, np.int64, endpoint=True)
    records["ts_first"] = rng.integers(TS_MIN_NS - 10**9, INT64[1], n, np.int64, endpoint=True)
    records["ts_last"] = T0_NS + rng.integers(0, 10**15, n)
    records["proto"] = rng.choice([1, 6, 17, 58, 132, 2, 255, 0], n)
    records["ipver"] = rng.choice([4, 6], n)
    mapped = rng.random(n) < 0.5
    records["a_hi"][mapped] = 0
    records["a_lo"][mapped] = (0xFFFF << 32) | (records["a_lo"][mapped] & 0xFFFFFFFF)
    records["b_hi"][rng.random(n) < 0.3] = 0x20010DB8 << 32
    records["orig_is_a"] = rng.integers(0, 2, n, endpoint=True)
    records["end_reason"] = rng.integers(0, 4, n, endpoint=True)
    records["flags_o"] = rng.integers(0, 1 << 16, n)
    records["flags_r"] = rng.integers(0, 1 << 16, n)
    assert compiled(records) == flow_jsonl(records)


def test_rows_left_to_flow_jsonl_keep_their_places() -> None:
    records = np.zeros(6, FLOW_DTYPE)
    records["fid"] = np.arange(6)
    records["ts_first"] = records["ts_last"] = T0_NS
    records["a_lo"] = records["b_lo"] = 0xFFFF << 32
    records["ts_first"][[0, 2, 3, 5]] = 0  # 1970: flow_jsonl's
    pieces = flow_jsonl_pieces(records)
    assert len(pieces) == 7  # flow_jsonl's rows 0, 2-3 and 5 between the compiled writer's 1 and 4
    assert b"".join(pieces).decode() == flow_jsonl(records)
    assert flow_jsonl_pieces(records[:0]) == []


def test_a_nameless_end_reason_fails_as_in_flow_jsonl() -> None:
    records = np.zeros(2, FLOW_DTYPE)
    records["ts_first"] = records["ts_last"] = T0_NS
    records["end_reason"][1] = 5
    with pytest.raises(IndexError):
        flow_jsonl(records)
    with pytest.raises(IndexError):
        flow_jsonl_pieces(records)


def test_the_longest_lines_fit_the_row_bound() -> None:
    records = np.zeros(2, FLOW_DTYPE)
    records["fid"] = records["history"] = (1 << 64) - 1
    records["proto"] = 6, 255  # TCP: ports of int32's longest and a state; or no ports, the longest name
    records["ipver"] = 6
    for name in ("a_hi", "a_lo", "b_hi", "b_lo"):
        records[name] = 0xFFFEFFFEFFFEFFFE
    for name in ("vlan_outer", "vlan_inner", "a_port", "b_port"):
        records[name] = INT32[0] + 1
    for name in ("pkts_o", "pkts_r", "bytes_o", "bytes_r", "payload_o", "payload_r"):
        records[name] = INT64[0] + 1
    records["ts_first"] = records["ts_last"] = INT64[1]  # the latest time
    records["flags_o"] = 9  # SYN and RST from the originator alone: RSTOS0
    records["end_reason"] = 2  # active_timeout
    lines = compiled(records).splitlines(keepends=True)
    assert lines == flow_jsonl(records).splitlines(keepends=True)
    assert '"ts_start":9223372036.854776' in lines[0] and '"state":"RSTOS0"' in lines[0]
    assert '"proto":"ip-255"' in lines[1]
    assert max(len(line) for line in lines) <= JSONL_ROW_MAX
