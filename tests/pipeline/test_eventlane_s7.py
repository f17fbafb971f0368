"""The event lane's S7comm encoder against the S7comm analyzer: hand-built payloads, the same bytes as msgspec
writes for the analyzer's events, and refusals where the analyzer would do what the encoder does not."""

from __future__ import annotations

import struct

import msgspec
import numpy as np
import pytest

from zonewarden.pipeline import eventlane_layout as L
from zonewarden.pipeline.eventlane_s7 import MAX_PENDING, ST_DECIDED_FRAME, ST_HELD_FRAME, encode_s7
from zonewarden.protocols.base import FlowContext
from zonewarden.protocols.s7comm.analyzer import MAX_HELD, IsoTcpAnalyzer

TS = 1_700_000_000_123_456_789
CTX = ("C0123456789abcdef", "10.0.0.1", "10.0.0.2", 40000, 102)
ENCODER = msgspec.json.Encoder()


def header_row() -> np.ndarray:
    """The flow's header row as eventlane_kernel._new_row writes it."""
    flow_id, orig, resp, orig_port, resp_port = CTX
    row = np.zeros(L.N_UBYTES, np.uint8)
    for side, (src, dst, sport, dport) in enumerate(((orig, resp, orig_port, resp_port),
                                                    (resp, orig, resp_port, orig_port))):
        text = (f',"proto":"s7comm","kind":"message","src":"{src}","dst":"{dst}","sport":{sport},"dport":{dport},'
                f'"is_response":').encode()
        start = L.H_SIDE + side * L.H_SIDE_BYTES
        row[start] = len(text)
        row[start + 1 : start + 1 + len(text)] = np.frombuffer(text, np.uint8)
    flow = f',"flow_id":"{flow_id}","frame":'.encode()
    assert len(flow) == L.FLOW_BYTES
    row[L.H_FLOW : L.H_FLOW + len(flow)] = np.frombuffer(flow, np.uint8)
    return row


def tpkt(cotp: bytes) -> bytes:
    return struct.pack("!BBH", 3, 0, 4 + len(cotp)) + cotp


def dt(tsdu: bytes, eot: bool = True) -> bytes:
    return tpkt(bytes([2, 0xF0, 0x80 if eot else 0x00]) + tsdu)


def s7(rosctr: int, ref: int, param: bytes, data: bytes = b"", error: tuple[int, int] | None = None) -> bytes:
    head = struct.pack("!BBHHHH", 0x32, rosctr, 0, ref, len(param), len(data))
    if rosctr in (2, 3):
        head += bytes(error or (0, 0))
    return head + param + data


def s7any(tsize: int, length: int, db: int, area: int, address: int) -> bytes:
    return bytes([0x12, 0x0A, 0x10, tsize]) + struct.pack("!HHB", length, db, area) + address.to_bytes(3, "big")


CR = tpkt(bytes.fromhex("11e00000000100c0010ac1020100c2020102"))
CC = tpkt(bytes.fromhex("11d00001000200c0010ac1020100c2020102"))
SETUP = dt(s7(1, 0xFFFF, bytes.fromhex("f0000001000101e0")))
SETUP_ACK = dt(s7(3, 0xFFFF, bytes.fromhex("f0000001000100f0")))
ITEMS = s7any(2, 4, 1, 0x84, 0) + s7any(1, 1, 0, 0x82, 8 * 3 + 5) + s7any(4, 3, 7, 0x99, 16)
READ = dt(s7(1, 5, bytes([0x04, 3]) + ITEMS))
# results: 4 bytes (byte size), 1 bit (bit size, odd: a fill byte), 3 words of length in bits (48 bits = 6 bytes)
READ_ACK = dt(s7(3, 5, bytes([0x04, 3]),
                 bytes([0xFF, 0x04, 0x00, 0x20, 1, 2, 3, 4, 0xFF, 0x03, 0x00, 0x01, 1, 0, 0x0A, 0x00, 0x00, 0x00])))
WRITE = dt(s7(1, 6, bytes([0x05, 1]) + s7any(2, 2, 3, 0x84, 80), bytes([0x00, 0x04, 0x00, 0x10, 9, 9])))
WRITE_ACK = dt(s7(3, 6, bytes([0x05, 1]), bytes([0xFF])))


class Flow:
    """One S7 flow fed to the encoder and to the analyzer."""

    def __init__(self) -> None:
        self.hdr = header_row()
        self.st = np.zeros(L.ST_COLS, np.int64)
        self.sb = np.zeros(L.SB_BYTES, np.uint8)
        self.events: list[msgspec.Struct] = []
        self.analyzer = IsoTcpAnalyzer(FlowContext(*CTX), self.events.append)
        self.frame = 0

    def encode(self, side: int, payload: bytes, out_bytes: int = 1 << 20) -> tuple[int, bytes]:
        """The encoder on a payload (on copies of the state, kept only when it took the payload)."""
        self.frame += 1
        out = np.zeros(out_bytes, np.uint8)
        st, sb = self.st.copy(), self.sb.copy()
        status, pos = encode_s7(np.frombuffer(payload, np.uint8), 0, len(payload), side, TS + self.frame, self.frame,
                                self.hdr, st, sb, out, 0)
        if status == L.ENC_OK:
            self.st, self.sb = st, sb
        return status, out[:pos].tobytes()

    def both(self, side: int, payload: bytes) -> tuple[int, bytes]:
        status, written = self.encode(side, payload)
        self.analyzer.data(side, payload, TS + self.frame, self.frame)
        return status, written

    def python_lines(self) -> bytes:
        """The analyzer's events so far (after the end of the flow), as ``zonewarden events`` writes them."""
        self.analyzer.end()
        return b"".join(ENCODER.encode(e) + b"\n" for e in sorted(self.events, key=lambda e: e.frame))


def run(payloads: list[tuple[int, bytes]]) -> tuple[bytes, Flow]:
    flow = Flow()
    written = b""
    for side, payload in payloads:
        status, lines = flow.both(side, payload)
        assert status == L.ENC_OK, payload.hex()
        written += lines
    return written, flow


def test_a_connection_with_setup_read_and_write_is_written_as_the_analyzer_emits_it() -> None:
    written, flow = run([(0, CR), (1, CC), (0, SETUP), (1, SETUP_ACK), (0, READ), (1, READ_ACK), (0, WRITE),
                         (1, WRITE_ACK)])
    assert written == flow.python_lines()
    lines = [msgspec.json.decode(line) for line in written.splitlines()]
    assert [e.get("pdu_type_name") or e["rosctr_name"] for e in lines] == [
        "CR", "CC", "job", "ack_data", "job", "ack_data", "job", "ack_data"]
    cr, cc = lines[0], lines[1]
    assert (cr["tpdu_size"], cr["src_tsap"], cr["dst_tsap"], cr["connection_type"], cr["rack"], cr["slot"]) == (
        1024, "0100", "0102", "pg", 0, 2)
    assert cr["is_response"] is False and cc["is_response"] is True
    assert lines[3]["pdu_size"] == 240 and lines[3]["request_frame"] == 3
    read_ack = lines[5]
    assert read_ack["items"] == lines[4]["items"]
    assert read_ack["items"][1] == {"syntax_id": 16, "area": 130, "area_name": "outputs", "db_number": 0,
                                    "address": 29, "byte_address": 3, "bit": 5, "transport_size": 1, "length": 1}
    assert read_ack["items"][2]["area_name"] == "unknown-153"
    assert read_ack["return_codes"] == [255, 255, 10] and read_ack["request_frame"] == 5
    assert lines[7]["return_codes"] == [255] and lines[7]["items"][0]["byte_address"] == 10
    assert written.startswith(b'{"ts":1700000000.1234567,"proto":"s7comm","kind":"message","src":"10.0.0.1",'
                              b'"dst":"10.0.0.2","sport":40000,"dport":102,"is_response":false,'
                              b'"flow_id":"C0123456789abcdef","frame":1,"pdu_type":14,"pdu_type_name":"CR",')


def test_several_pdus_in_one_payload_and_other_item_syntaxes() -> None:
    dbread = bytes([0x12, 0x0C, 0xB0, 2, 4, 0, 9, 0, 2, 1, 0, 1, 0, 3])  # 2 areas: 4 bytes of DB9.2, 1 of DB1.3
    bare = bytes([0x12, 0x04, 0x13, 0x00, 0x00, 0x00])  # a syntax id the analyzer does not decode
    job = dt(s7(1, 9, bytes([0x04, 2]) + dbread + bare))
    ack = dt(s7(3, 9, bytes([0x04, 2]), bytes([0x05, 0x00, 0x00, 0x00, 0xFF, 0x09, 0x00, 0x01, 7])))
    written, flow = run([(0, job + dt(s7(1, 10, bytes([0x04, 0])))), (1, ack + dt(b"", eot=True))])
    assert written == flow.python_lines()
    items = msgspec.json.decode(written.splitlines()[2])["items"]
    assert [(i["syntax_id"], i["db_number"], i["byte_address"], i["length"]) for i in items] == [
        (0xB0, 9, 2, 4), (0xB0, 1, 3, 1), (0x13, None, None, None)]
    assert msgspec.json.decode(written.splitlines()[1])["items"] is None  # no items: null, not []


def test_connection_tpdus_with_text_tsaps_and_disconnects() -> None:
    name = b"SIMATIC-ROOT-HMI"
    # TPDU size code 14 (not 7..13: null), a called TSAP given twice (the first counts), a calling TSAP not printable
    header = (bytes([0xE0, 0, 0, 0, 7, 0, 0xC0, 1, 0x0E, 0xC2, len(name)]) + name
              + bytes([0xC1, 3, 0x10, 0x20, 0x7F, 0xC2, 1, 0]))
    cr = tpkt(bytes([len(header)]) + header + b"\x01")  # (a byte of user data after the header)
    dr = tpkt(bytes.fromhex("06800007000980"))
    dc = tpkt(bytes.fromhex("05c000070009"))
    written, flow = run([(0, cr), (1, dr), (0, dc)])
    assert written == flow.python_lines()
    first = msgspec.json.decode(written.splitlines()[0])
    assert (first["dst_tsap_text"], first["src_tsap"], first["src_tsap_text"], first["tpdu_size"]) == (
        "SIMATIC-ROOT-HMI", "10207f", None, None)
    assert msgspec.json.decode(written.splitlines()[1])["reason"] == 0x80


def test_held_connection_events_are_marked_for_the_driver() -> None:
    """The analyzer holds the connection TPDUs' events until the first data unit: the state says which frames."""
    flow = Flow()
    for side, payload in ((0, CR), (1, CC), (0, dt(b"")), (0, SETUP), (1, CR)):
        assert flow.encode(side, payload)[0] == L.ENC_OK
        if payload is CC:
            assert (flow.st[ST_HELD_FRAME], flow.st[ST_DECIDED_FRAME]) == (1, 0)
    assert (flow.st[ST_HELD_FRAME], flow.st[ST_DECIDED_FRAME]) == (1, 4)
    # Beyond MAX_HELD held events the analyzer decides by itself and emits them all at once: refused.
    flow = Flow()
    for _ in range(MAX_HELD):
        assert flow.encode(0, CR)[0] == L.ENC_OK
    assert flow.encode(1, CC)[0] == L.ENC_REFUSE


def test_responses_without_their_request() -> None:
    ack = dt(s7(2, 77, b"", error=(0x85, 0x00)))
    written, flow = run([(1, ack), (1, READ_ACK)])
    assert written == flow.python_lines()
    first = msgspec.json.decode(written.splitlines()[0])
    assert first["function"] is None and first["request_frame"] is None and first["error_class"] == 0x85


def test_a_response_takes_the_function_of_its_request_and_pending_jobs_are_bounded() -> None:
    jobs = [(0, dt(s7(1, ref, bytes([0x04, 1]) + s7any(2, 1, 1, 0x84, ref)))) for ref in range(MAX_PENDING + 4)]
    answers = [(1, dt(s7(2, ref, b"", error=(0x81, 0x04)))) for ref in (MAX_PENDING + 3, 5)]
    written, flow = run(jobs + answers)
    assert written == flow.python_lines()
    last = msgspec.json.decode(written.splitlines()[-2])
    assert last["function_name"] == "read_var" and last["items"][0]["address"] == MAX_PENDING + 3
    # Job 0 was pushed out of the slots: its answer cannot be matched by the encoder (the analyzer would).
    assert flow.encode(1, dt(s7(2, 0, b"", error=(0x81, 0x04))))[0] == L.ENC_REFUSE


@pytest.mark.parametrize("payload", [
    pytest.param(READ[:-3], id="tpkt-across-payloads"),
    pytest.param(READ + READ[:5], id="a-stray-tail"),
    pytest.param(dt(s7(1, 5, bytes([0x04, 1]) + ITEMS)[:-1] + b"\x00\x00"), id="length-mismatch"),
    pytest.param(dt(s7(1, 5, bytes([0x04, 2]) + ITEMS[:12])), id="items-truncated"),
    pytest.param(dt(s7(1, 5, bytes([0x04, 1, 0x11]) + ITEMS[1:12])), id="not-a-variable-specification"),
    pytest.param(dt(s7(1, 5, bytes([0x04, 1]) + ITEMS), eot=False), id="data-unit-in-fragments"),
    pytest.param(dt(bytes.fromhex("3207000100000008000800011204114401" "00ff09000400110000")), id="userdata-szl"),
    pytest.param(dt(bytes.fromhex("72010004310000")), id="s7comm-plus"),
    pytest.param(dt(s7(1, 2, bytes.fromhex("29000000000009505f50524f4752414d"))), id="plc-stop"),
    pytest.param(dt(s7(1, 2, bytes.fromhex("f00000"))), id="setup-too-short"),
    pytest.param(tpkt(bytes.fromhex("02f080")) + dt(bytes.fromhex("0101")), id="not-s7"),
    pytest.param(tpkt(bytes.fromhex("0410")), id="unexpected-cotp-tpdu"),
    pytest.param(bytes.fromhex("0400000702f080"), id="not-tpkt"),
    pytest.param(tpkt(bytes.fromhex("11e00000000100c105224142" "5c43c2020102")), id="tsap-text-to-escape"),
])
def test_refused(payload: bytes) -> None:
    assert Flow().encode(0, payload)[0] == L.ENC_REFUSE  # (what it wrote before refusing is discarded)


def test_refused_function_mismatch_and_read_results_cut_short() -> None:
    flow = Flow()
    assert flow.encode(0, READ)[0] == L.ENC_OK
    assert flow.encode(1, dt(s7(3, 5, bytes([0x05, 3]), bytes([0xFF] * 3))))[0] == L.ENC_REFUSE
    assert flow.encode(1, dt(s7(3, 5, bytes([0x04, 3]), bytes([0xFF, 0x04, 0x00, 0x20, 1, 2]))))[0] == L.ENC_REFUSE
    assert flow.encode(1, READ_ACK)[0] == L.ENC_OK  # the refusals changed nothing


def test_the_analyzer_reports_what_the_encoder_refuses() -> None:
    """The refusals above are anomalies (or hand-backs) in the analyzer, which still emits the PDU's event."""
    flow = Flow()
    flow.analyzer.data(0, SETUP, TS, 1)
    flow.analyzer.data(0, dt(s7(1, 5, bytes([0x04, 2]) + ITEMS[:12])), TS, 2)
    assert [e.kind for e in flow.events] == ["message", "anomaly", "message"]


def test_full_output() -> None:
    flow = Flow()
    assert flow.encode(0, SETUP, out_bytes=1000)[0] == L.ENC_FULL
