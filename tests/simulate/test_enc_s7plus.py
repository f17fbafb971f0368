"""The S7comm-plus encoder: byte layouts against annotated fixtures and captures of real TIA Portal / WinCC
sessions, a round trip through zonewarden's own S7comm-plus parser, and a simulated capture that tshark
dissects cleanly and zonewarden's analyzers and inventory read back as the truth says.

tshark 4.0 has no S7comm-plus dissector (it is a plugin): it referees the TPKT/COTP framing and hands the
data units to its ``data`` layer, whose bytes must be exactly the messages zonewarden decodes.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from msgspec import structs

from tests.simulate.conftest import BROKEN, tshark, tshark_fields
from tests.simulate.truth_compare import find, identity_differences, zw_assets_by_address
from zonewarden.model.events import Event
from zonewarden.pipeline.analysis import analyze
from zonewarden.pipeline.app_layer import AppLayer
from zonewarden.pipeline.packets import PacketPipeline
from zonewarden.protocols.registry import ANALYZERS
from zonewarden.protocols.s7comm.wire_cotp import parse_tpkt
from zonewarden.protocols.s7comm.wire_plus import parse_plus_fragment, parse_plus_head, plus_identity
from zonewarden.simulate import enc_s7plus as p
from zonewarden.simulate.engine import simulate
from zonewarden.simulate.site import load_site
from zonewarden.store.db import Store


def h(text: str) -> bytes:
    return bytes.fromhex(text)


KEY = bytes(range(16))
MLFB = "6ES7 513-1AL02-0AB0"
PAOM = p.paom_string(MLFB, "V2.9.4")

# --- fixtures from captures of real sessions (controlthings S7-1511 HMI, TIA Portal V14 with an S7-1200) ---
# WinCC's CR to an S7-1511: calling TSAP 0x0620, called TSAP by name, TPDU size last.
REAL_HMI_CR = h("0300 0024"  # TPKT, 36 bytes
                "1f e0 0000 001b 00"  # length indicator 31, CR, dst-ref 0, src-ref 0x1b, class 0
                "c1 02 0620"  # calling TSAP
                "c2 10 53494d415449432d524f4f542d484d49"  # called TSAP "SIMATIC-ROOT-HMI"
                "c0 01 0a")  # TPDU size 1024
# The CPU's CC: size first, then both TSAPs echoed.
REAL_HMI_CC = h("0300 0024 1f d0 001b 0001 00 c0 01 0a c1 02 0620 c2 10 53494d415449432d524f4f542d484d49")
# The CPU's answer to the session setup: a version 2 SetMultiVariables response.
REAL_SESSION_SETUP_RESPONSE = h("72 02 0011"  # header: version 2, data length 17
                                "32 0000 0542 0000 0002 34"  # response, SetMultiVariables, seq 2, flags
                                "00"  # return value OK
                                "00"  # error list terminator
                                "00"  # integrity id 0
                                "00000000"  # end of the data part
                                "72 02 0000")  # trailer
# Object qualifier as every request on an object carries it.
REAL_OBJECT_QUALIFIER = h("000004e8"  # ObjectQualifier (1256)
                          "8969 00 12 00000000"  # ParentRID: RID 0
                          "896a 00 13 00"  # CompositionAID: AID 0
                          "896b 00 04 00"  # KeyQualifier: UDInt 0
                          "00")  # terminator

# --- annotated layouts (Wireshark s7comm_plus plugin field order) ---
GET_ONE_TAG_REQUEST = h("31"  # opcode: request
                        "0000 054c 0000"  # reserved, function GetMultiVariables, reserved
                        "0003"  # sequence number
                        "000003c4"  # session id
                        "34"  # transport flags
                        "00000000"  # link id 0: variables by address
                        "01"  # item count
                        "05"  # fields in the address list
                        "81 91 d1 ac 78"  # symbol CRC 0x12345678 (VLQ)
                        "88 d0 b8 80 01"  # access base area 0x8a0e0001: DB1
                        "02"  # LID nesting depth
                        "93 76"  # access area 2550 DB.ValueActual
                        "01"  # LID 1
                        + REAL_OBJECT_QUALIFIER.hex()
                        + "87 67"  # integrity id 999
                        "00000000")  # end of the data part
GET_TWO_VALUES_RESPONSE = h("32 0000 054c 0000 0003 34"  # response, GetMultiVariables, seq 3, flags
                            "00"  # return value OK
                            "01 00 0e 41480000"  # item 1: Real 12.5
                            "02 00 01 01"  # item 2: Bool true
                            "00"  # value list terminator
                            "00"  # error list terminator
                            "87 6a"  # integrity id 1002 (999 + seq 3)
                            "00000000")


def vlq_decode(data: bytes) -> tuple[int, int]:
    """The plugin's tvb_get_varuint32: at most 5 bytes, 7 bits each, high bit = more follows."""
    value = 0
    for n, octet in enumerate(data[:5], start=1):
        value = (value << 7 | octet & 0x7F) & 0xFFFFFFFF
        if not octet & 0x80:
            return value, n
    return value, 5


@given(st.integers(0, 0xFFFFFFFF))
def test_vlq_round_trip(value: int) -> None:
    raw = p.vlq(value)
    assert vlq_decode(raw) == (value, len(raw))
    assert all(b & 0x80 for b in raw[:-1]) and not raw[-1] & 0x80


def test_cotp_connect_matches_wincc() -> None:
    assert p.cotp_connect(p.CALLING_TSAP_HMI, p.TSAP_HMI, confirm=False, src_ref=0x1B) == REAL_HMI_CR
    assert p.cotp_connect(p.CALLING_TSAP_HMI, p.TSAP_HMI, confirm=True, src_ref=1, dst_ref=0x1B) == REAL_HMI_CC


def test_layouts_match_annotated_fixtures() -> None:
    assert p.object_qualifier() == REAL_OBJECT_QUALIFIER
    assert p.get_multi_variables_request(3, 0x3C4, 999, [p.Tag(0x12345678, 1, 1)]) == GET_ONE_TAG_REQUEST
    assert p.get_multi_variables_response(3, 1002, [12.5, True]) == GET_TWO_VALUES_RESPONSE
    assert unwrap(p.pdu(p.V2, p.set_multi_variables_response(2, 0))) == REAL_SESSION_SETUP_RESPONSE


def unwrap(wire: bytes) -> bytes:
    """The TSDU of one or more TPKT/COTP DT units (EOT on the last)."""
    out, pos = b"", 0
    while pos < len(wire):
        length = struct.unpack_from("!H", wire, pos + 2)[0]
        cotp = parse_tpkt(wire[pos : pos + length])
        out += cotp.data
        pos += length
        assert cotp.eot == (pos == len(wire))
    return out


CLIENT = p.Client("ServerSession_1A2B3C", "1:::6.0::eth0.TCPIP.1", "HMI-WATER", 2, 0x10000000)
# (message, version, opcode, function, sequence number, session in the head)
MESSAGES: dict[str, tuple[bytes, int, int, int, int, int | None]] = {
    "create_object_request": (p.create_object_request(1, CLIENT), p.V1, p.REQUEST, p.FN_CREATE_OBJECT, 1,
                              p.ID_NULL_SERVER_SESSION),
    "create_object_response": (p.create_object_response(1, 0x3B5, "01:BD426B091F08731A", "OMSP.REL.9010.27",
                                                        bytes(20), PAOM), p.V1, p.RESPONSE, p.FN_CREATE_OBJECT, 1,
                               None),
    "session_setup": (p.session_setup_request(2, 0x3B5, bytes(172), PAOM), p.V2, p.REQUEST,
                      p.FN_SET_MULTI_VARIABLES, 2, 0x3B5),
    "read": (p.get_multi_variables_request(3, 0x3B5, 11, [p.Tag(1, 1, 1), p.Tag(2, 1, 2)]), p.V3, p.REQUEST,
             p.FN_GET_MULTI_VARIABLES, 3, 0x3B5),
    "read_response": (p.get_multi_variables_response(3, 14, [1.5, False]), p.V3, p.RESPONSE,
                      p.FN_GET_MULTI_VARIABLES, 3, None),
    "write": (p.set_multi_variables_request(4, 0x3B5, 12, [(p.Tag(9, 1, 4), 25.0)]), p.V3, p.REQUEST,
              p.FN_SET_MULTI_VARIABLES, 4, 0x3B5),
    "explore": (p.explore_request(5, 0x3B5, 13, p.ID_AS_ROOT, [p.ID_OBJECT_VARIABLE_TYPE_NAME]), p.V3, p.REQUEST,
                p.FN_EXPLORE, 5, 0x3B5),
    "explore_response": (p.explore_response(5, 18, p.ID_AS_ROOT, p.ID_AS_ROOT_CLASS, "ASRoot",
                                            [(p.ID_PLC_PROGRAM, p.ID_PLC_PROGRAM_CLASS, "PLCProgram")]),
                         p.V3, p.RESPONSE, p.FN_EXPLORE, 5, None),
    "im0": (p.get_var_substreamed_request(6, 0x3B5, 14, p.ID_CPU_PROXY, p.ID_IM0_DATA), p.V3, p.REQUEST,
            p.FN_GET_VAR_SUBSTREAMED, 6, 0x3B5),
    "delete": (p.delete_object_request(7, 0x3B5, 15, 0x3B5), p.V3, p.REQUEST, p.FN_DELETE_OBJECT, 7, 0x3B5),
    "delete_response": (p.delete_object_response(7, 22, 0x3B5), p.V3, p.RESPONSE, p.FN_DELETE_OBJECT, 7, None),
}


@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_round_trip_through_zonewarden_parser(name: str) -> None:
    data, version, opcode, function, seq, session = MESSAGES[name]
    tsdu = unwrap(p.pdu(version, data, KEY))
    frag = parse_plus_fragment(tsdu)
    assert (frag.version, frag.ends_message, frag.problem) == (version, True, None)
    assert frag.v3_digest == (version == p.V3) and frag.data == data
    if version == p.V3:  # the digest is the keyed hash of the data part it protects
        assert tsdu[4] == p.DIGEST_LENGTH and tsdu[5:37] == p.digest(KEY, data)
    head = parse_plus_head(frag.data)
    assert (head.opcode, head.function, head.sequence_number, head.session) == (opcode, function, seq, session)
    assert head.transport_flags == (p.FLAGS_SETUP if function == p.FN_CREATE_OBJECT else p.FLAGS)
    assert not head.v2_digest
    assert data.endswith(bytes(4))


def test_identity_in_the_cpu_answers() -> None:
    created = MESSAGES["create_object_response"][0]
    assert plus_identity(created) == {"order_number": MLFB}
    assert f"1;{MLFB};V2.9".encode() in created
    record = p.im0_record(MLFB, "S V-L2N47110815", "V2.9.4", 3)
    assert len(record) == 60 and struct.unpack_from("!HH", record) == (0x0020, 56)
    answer = p.get_var_substreamed_response(6, 20, record)
    assert plus_identity(answer) == {"order_number": MLFB, "serial_number": "S V-L2N47110815",
                                     "firmware_version": "V2.9.4"}


def test_large_message_is_split_into_cotp_units() -> None:
    data = p.get_multi_variables_request(3, 0x3B5, 11, [p.Tag(n, 1, n) for n in range(1, 300)])
    wire = p.pdu(p.V3, data, KEY)
    assert wire.count(b"\x02\xf0\x00") >= 1 and len(data) > 1021
    frag = parse_plus_fragment(unwrap(wire))
    assert frag.data == data and frag.ends_message


# --- a simulated capture: the reference site, with TIA Portal going online over S7comm-plus ---

PLC, HMI, EWS = "10.21.1.12", "10.21.1.10", "10.30.0.20"


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """One minute of the reference site, where ews-1 goes online to the S7-1500 over S7comm-plus (another seed
    than the end-to-end baseline's)."""
    out = tmp_path_factory.mktemp("s7plus") / "s7plus.pcap"
    result = simulate(load_site(), out, seed=7, duration_s=60.0)
    return out, result.truth


@pytest.fixture(scope="module")
def plus_events(capture: tuple[Path, dict[str, Any]]) -> list[dict[str, Any]]:
    events: list[Event] = []
    spec = next(s for s in ANALYZERS if s.name == "s7comm")
    for _ in PacketPipeline([str(capture[0])], consumers=[AppLayer(events.append, [spec])]).flow_batches():
        pass
    return [structs.asdict(e) for e in sorted(events, key=lambda e: e.frame) if e.proto == "s7comm_plus"]


def _messages(events: list[dict[str, Any]], client: str) -> list[dict[str, Any]]:
    return [e for e in events if {e["src"], e["dst"]} == {client, PLC} and "opcode" in e]


def test_hmi_session_as_analyzed(plus_events: list[dict[str, Any]]) -> None:
    assert not [e for e in plus_events if e["kind"] != "message"]  # no anomalies
    cotp = [e for e in plus_events if {e["src"], e["dst"]} == {HMI, PLC} and "pdu_type" in e]
    assert [(c["pdu_type_name"], c["dst_tsap_text"]) for c in cotp] == [("CR", "SIMATIC-ROOT-HMI"),
                                                                         ("CC", "SIMATIC-ROOT-HMI")]
    msgs = _messages(plus_events, HMI)
    requests = [m for m in msgs if not m["is_response"]]
    names = [m["function_name"] for m in requests]
    assert names[:2] == ["create_object", "set_multi_variables"] and len(names) > 50
    assert set(names[2:]) <= {"get_multi_variables", "set_multi_variables"}
    session = requests[1]["session"]
    assert requests[0]["session"] == p.ID_NULL_SERVER_SESSION and session not in (None, 0)
    assert all(r["session"] == session for r in requests[1:])
    assert [r["sequence_number"] for r in requests] == list(range(1, len(requests) + 1))
    assert [(m["version"], m["protected"]) for m in msgs[:4]] == [(1, False), (1, False), (2, False), (2, False)]
    assert all(m["version"] == 3 and m["protected"] for m in msgs[4:])
    responses = [m for m in msgs if m["is_response"]]
    assert len(responses) == len(requests) and all(r["request_frame"] for r in responses)
    assert responses[0]["order_number"] == "6ES7 513-1AL02-0AB0"


def test_engineering_session_as_analyzed(plus_events: list[dict[str, Any]]) -> None:
    cotp = [e for e in plus_events if {e["src"], e["dst"]} == {EWS, PLC} and "pdu_type" in e]
    assert {c["dst_tsap_text"] for c in cotp} == {"SIMATIC-ROOT-ES"}
    requests = [m for m in _messages(plus_events, EWS) if not m["is_response"]]
    assert [r["function_name"] for r in requests] == ["create_object", "set_multi_variables", "explore",
                                                      "get_var_sub_streamed", "delete_object"]
    im0 = next(m for m in _messages(plus_events, EWS) if m["is_response"] and m["serial_number"])
    assert (im0["order_number"], im0["serial_number"], im0["firmware_version"]) == (
        "6ES7 513-1AL02-0AB0", "S V-L2N47110815", "V2.9.4")


@pytest.mark.peer
def test_tshark_frames_the_messages(capture: tuple[Path, dict[str, Any]], plus_events: list[dict[str, Any]]) -> None:
    pcap = capture[0]
    assert tshark(pcap, "-Y", BROKEN) == ""
    rows = tshark_fields(pcap, ("frame.number", "cotp.type", "data.data"), "-Y", f"ip.addr == {PLC} && cotp")
    units = {int(r["frame.number"]): r["data.data"] for r in rows if r["data.data"].startswith("72")}
    ours = {e["frame"] for e in plus_events if "opcode" in e}
    assert set(units) == ours and len(ours) > 100
    for raw in units.values():  # each data unit is one whole message: header, data, trailer
        tsdu = bytes.fromhex(raw)
        assert tsdu[0] == 0x72 and tsdu[-4:] == bytes((0x72, tsdu[1], 0, 0))
        assert struct.unpack_from("!H", tsdu, 2)[0] == len(tsdu) - 8


def test_inventory_reads_the_truth(capture: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    pcap, truth = capture
    asset = next(a for a in truth["assets"] if a["name"] == "plc-s7-filter")
    assert asset["disclosed"]["serial"] == ["s7comm", "s7comm_plus"]
    assert asset["identity"]["s7comm_plus"]["version_string"] == "1;6ES7 513-1AL02-0AB0;V2.9"
    result = analyze([str(pcap)], Store(str(tmp_path / "zw.db")))
    zw = find(asset, zw_assets_by_address(result.assets))
    assert zw is not None and zw.role == "plc" and "s7comm_plus" in zw.protocols["served"]
    assert identity_differences(asset, zw) == []
    edges = [e for e in truth["edges"] if e["proto"] == "s7comm_plus"]
    assert {(e["client"], e["server"]) for e in edges} == {("hmi-water", "plc-s7-filter"), ("ews-1", "plc-s7-filter")}
    assert all(e["observed"] and e["port"] == p.PORT for e in edges)
    ews = find(next(a for a in truth["assets"] if a["name"] == "ews-1"), zw_assets_by_address(result.assets))
    reason = next(ev.value for ev in ews.evidence if ev.attribute == "role_reason")
    assert ews.role == "engineering_workstation" and reason.startswith("opens TIA Portal engineering connections")


def test_reference_site_has_an_s7_1500_on_s7comm_plus() -> None:
    site = load_site()
    plc = site.devices["plc-s7-filter"]
    assert {"s7comm", "s7comm_plus"} <= set(plc.protocols) and plc.product.startswith("CPU 15")
    assert any(q.server == plc.name and q.proto == "s7comm_plus" for q in site.devices["hmi-water"].polls)
    tia = [q for q in site.devices["ews-1"].polls if q.server == plc.name]
    assert [(q.proto, q.options.get("session")) for q in tia] == [("s7comm_plus", "engineering")]
