"""Flow records as the Flow JSONL contract describes them (README, DESIGN.md): field names and order,
orientation, per-protocol ports, Zeek's state and history vocabulary, end reasons."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from tests.strategies import T0_NS, eth, frame_batch
from zonewarden.decode.packets import decode
from zonewarden.flow.layout import (
    END_ACTIVE,
    END_ACTIVE_TIMEOUT,
    END_EVICTED,
    END_IDLE,
    END_PORT_REUSE,
    F_ACK,
    F_DATA,
    F_FIN,
    F_RST,
    F_SYN,
    F_SYNACK,
    FLOW_DTYPE,
    H_ACK,
    H_DATA,
    H_FIN,
    H_RETRANS,
    H_SYN,
    H_SYNACK,
)
from zonewarden.flow.names import history_string, proto_name, tcp_state
from zonewarden.flow.records import FLOW_FIELDS, flow_dicts
from zonewarden.flow.table import FlowTable
from zonewarden.simulate import frames as f

V4_MAPPED = 0xFFFF << 32
README_FIELDS = ("flow_id, ts_start, ts_end, proto, src, sport, dst, dport, vlan, vlan_inner, packets_orig, "
                 "packets_resp, bytes_orig, bytes_resp, payload_orig, payload_resp, state, history, end_reason")


def record(**fields: Any) -> npt.NDArray[np.void]:
    """One FLOW_DTYPE record: 10.0.0.1:1000 (side A) <-> 10.0.0.2:502 (side B), TCP, A the originator."""
    rec = np.zeros(1, FLOW_DTYPE)
    defaults: dict[str, Any] = dict(
        used=1, proto=6, ipver=4, orig_is_a=1, end_reason=END_ACTIVE, vlan_outer=-1, vlan_inner=-1, a_port=1000,
        b_port=502, a_hi=0, a_lo=V4_MAPPED | 0x0A000001, b_hi=0, b_lo=V4_MAPPED | 0x0A000002, uid=0, fid=0xABC,
        ts_first=T0_NS, ts_last=T0_NS + 2_500_000_000, pkts_o=3, pkts_r=2, bytes_o=300, bytes_r=200,
        payload_o=30, payload_r=20, icmp_type=-1, icmp_code=-1,
    )
    defaults.update(fields)
    for name, value in defaults.items():
        rec[name] = value
    return rec


def one(**fields: Any) -> dict[str, Any]:
    (row,) = flow_dicts(record(**fields))
    return row


def history_value(*codes: int) -> int:
    """Pack history letter codes (responder's: code + 7) the way the flow table does, in order."""
    value = 0
    for n, code in enumerate(codes):
        value |= (code + 1) << (4 * n)
    return value


def test_fields_are_the_documented_ones_in_order() -> None:
    assert tuple(one()) == FLOW_FIELDS
    assert ", ".join(FLOW_FIELDS) == README_FIELDS


def test_originator_side_a() -> None:
    row = one()
    assert (row["src"], row["sport"], row["dst"], row["dport"]) == ("10.0.0.1", 1000, "10.0.0.2", 502)
    assert (row["packets_orig"], row["packets_resp"], row["bytes_orig"], row["bytes_resp"]) == (3, 2, 300, 200)
    assert (row["payload_orig"], row["payload_resp"]) == (30, 20)


def test_originator_side_b_swaps_endpoints_only() -> None:
    row = one(orig_is_a=0)
    assert (row["src"], row["sport"], row["dst"], row["dport"]) == ("10.0.0.2", 502, "10.0.0.1", 1000)
    # Counters are already per originator/responder in the record, not per side.
    assert (row["packets_orig"], row["packets_resp"]) == (3, 2)


def test_times_are_float_seconds_of_packet_time() -> None:
    row = one()
    assert row["ts_start"] == T0_NS / 1e9
    assert row["ts_end"] == (T0_NS + 2_500_000_000) / 1e9
    assert isinstance(row["ts_start"], float)


def test_flow_id_text() -> None:
    assert one(fid=0xABC)["flow_id"] == "C0000000000000abc"
    assert one(fid=2**64 - 1)["flow_id"] == "Cffffffffffffffff"


def test_vlans_absent_are_none() -> None:
    assert (one()["vlan"], one()["vlan_inner"]) == (None, None)
    assert (one(vlan_outer=0, vlan_inner=4095)["vlan"], one(vlan_outer=0, vlan_inner=4095)["vlan_inner"]) == (0, 4095)


def test_ipv6_addresses_are_compressed_text() -> None:
    row = one(a_hi=0x20010DB8_00000000, a_lo=1, b_hi=0xFE800000_00000000, b_lo=0x0200_5EFF_FE00_5301)
    assert (row["src"], row["dst"]) == ("2001:db8::1", "fe80::200:5eff:fe00:5301")


@pytest.mark.parametrize(("proto", "name", "has_ports"), [
    (6, "tcp", True), (17, "udp", True), (132, "sctp", True), (47, "gre", False), (50, "esp", False),
    (2, "igmp", False), (89, "ospf", False), (112, "vrrp", False), (253, "ip-253", False),
])
def test_protocol_names_and_ports(proto: int, name: str, has_ports: bool) -> None:
    row = one(proto=proto)
    assert row["proto"] == name == proto_name(proto)
    assert (row["sport"], row["dport"]) == ((1000, 502) if has_ports else (None, None))


@pytest.mark.parametrize(("proto", "name"), [(1, "icmp"), (58, "icmp6")])
def test_icmp_reports_type_and_code_as_ports(proto: int, name: str) -> None:
    row = one(proto=proto, a_port=0, b_port=0, icmp_type=3, icmp_code=13)
    assert (row["proto"], row["sport"], row["dport"]) == (name, 3, 13)


@pytest.mark.parametrize(("pkts_r", "state"), [(0, "S0"), (1, "SF")])
def test_udp_state_is_whether_the_responder_answered(pkts_r: int, state: str) -> None:
    assert one(proto=17, pkts_r=pkts_r)["state"] == state


@pytest.mark.parametrize(("reason", "text"), [
    (END_ACTIVE, "active"), (END_IDLE, "idle"), (END_ACTIVE_TIMEOUT, "active_timeout"),
    (END_PORT_REUSE, "port_reuse"), (END_EVICTED, "evicted"),
])
def test_end_reasons(reason: int, text: str) -> None:
    assert one(end_reason=reason)["end_reason"] == text


# Zeek's conn_state for each combination of flags per side (base/protocols/conn/main.zeek).
@pytest.mark.parametrize(("flags_o", "flags_r", "state"), [
    (F_SYN, 0, "S0"),
    (F_SYN | F_ACK, F_SYNACK | F_ACK, "S1"),
    (F_SYN | F_ACK | F_FIN, F_SYNACK | F_ACK | F_FIN, "SF"),
    (F_SYN, F_RST | F_ACK, "REJ"),
    (F_SYN | F_ACK | F_FIN, F_SYNACK | F_ACK, "S2"),
    (F_SYN | F_ACK, F_SYNACK | F_ACK | F_FIN, "S3"),
    (F_SYN | F_ACK | F_RST, F_SYNACK, "RSTO"),
    (F_SYN | F_ACK, F_SYNACK | F_RST, "RSTR"),
    (F_SYN | F_RST, 0, "RSTOS0"),
    (0, F_SYNACK | F_RST, "RSTRH"),
    (F_SYN | F_FIN, 0, "SH"),
    (0, F_SYNACK | F_FIN, "SHR"),
    (F_ACK | F_DATA, F_ACK | F_DATA, "OTH"),
    (0, F_SYNACK, "OTH"),
    (F_ACK | F_FIN, F_ACK | F_FIN, "OTH"),
])
def test_tcp_state_vocabulary(flags_o: int, flags_r: int, state: str) -> None:
    assert tcp_state(flags_o, flags_r) == state
    assert one(flags_o=flags_o, flags_r=flags_r)["state"] == state


def test_history_letters_in_order_responder_lower_case() -> None:
    value = history_value(H_SYN, H_SYNACK + 7, H_ACK, H_DATA, H_DATA + 7, H_FIN, H_FIN + 7, H_RETRANS)
    assert history_string(value) == "ShADdFfT"
    assert one(history=value)["history"] == "ShADdFfT"
    assert history_string(0) == ""


def test_records_from_the_table_carry_their_uids_and_used_flag() -> None:
    packet = f.ipv4("10.0.0.1", "10.0.0.2", 17, f.udp("10.0.0.1", "10.0.0.2", 1, 2, b"x"))
    table = FlowTable()
    table.update(decode(frame_batch([(T0_NS, eth(packet))])))
    table.finish_all()
    (records,) = table.take_finished()
    assert records.dtype == FLOW_DTYPE
    assert records["uid"].tolist() == [0]
    (row,) = flow_dicts(records)
    assert (row["proto"], row["packets_orig"], row["payload_orig"], row["history"]) == ("udp", 1, 1, "D")


def test_ipv6_with_ipv4_mapped_addresses_is_not_the_ipv4_flow() -> None:
    p4 = f.ipv4("10.0.0.1", "10.0.0.2", 17, f.udp("10.0.0.1", "10.0.0.2", 1, 2, b"x"))
    p6 = f.ipv6("::ffff:10.0.0.1", "::ffff:10.0.0.2", 17, f.udp("::ffff:10.0.0.1", "::ffff:10.0.0.2", 1, 2, b"x"))
    table = FlowTable()
    att = table.update(decode(frame_batch([(T0_NS, eth(p4)), (T0_NS + 1, eth(p6)), (T0_NS + 2, eth(p4))])))
    table.finish_all()
    rows = [row for batch in table.take_finished() for row in flow_dicts(batch)]
    assert len(rows) == 2
    assert att.uid.tolist() == [0, 1, 0]
    by_src = {r["src"]: r for r in rows}
    assert sorted(by_src) == ["10.0.0.1", "::ffff:10.0.0.1"]
    assert (by_src["10.0.0.1"]["dst"], by_src["10.0.0.1"]["packets_orig"]) == ("10.0.0.2", 2)
    assert (by_src["::ffff:10.0.0.1"]["dst"], by_src["::ffff:10.0.0.1"]["packets_orig"]) == ("::ffff:10.0.0.2", 1)
    assert rows[0]["flow_id"] != rows[1]["flow_id"]


def test_ipv4_mapped_address_prints_by_the_flow_family() -> None:
    assert (one()["src"], one()["dst"]) == ("10.0.0.1", "10.0.0.2")
    assert (one(ipver=6)["src"], one(ipver=6)["dst"]) == ("::ffff:10.0.0.1", "::ffff:10.0.0.2")
    # Other IPv6 addresses print the same either way.
    assert one(ipver=6, a_hi=0x20010DB8 << 32, a_lo=1)["src"] == "2001:db8::1"


def test_records_past_a_slice_come_in_order_and_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    from zonewarden.flow import records as records_module

    many = np.concatenate([record(fid=i, a_port=1000 + i, ts_first=T0_NS + i) for i in range(10)])
    whole = list(records_module.flow_records(many))
    monkeypatch.setattr(records_module, "RECORD_SLICE", 3)
    assert list(records_module.flow_records(many)) == whole
    assert [r.sport for r in whole] == list(range(1000, 1010))
    assert list(records_module.flow_records(many[:0])) == []
