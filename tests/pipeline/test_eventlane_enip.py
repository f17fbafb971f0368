"""The event lane's EtherNet/IP encoder on hand-made payloads: the bytes it writes are those msgspec writes for
the events the Python analyzer (EnipStreamAnalyzer) emits on the same payloads, and it refuses what it does
not reproduce."""

from __future__ import annotations

import ipaddress
import random
import struct

import msgspec
import numpy as np
import pytest

from zonewarden.pipeline import eventlane_layout as E
from zonewarden.pipeline.eventlane_enip import MAX_PENDING, WRITE_UNMATCHED, encode_enip
from zonewarden.pipeline.eventlane_kernel import write_header
from zonewarden.pipeline.fastlane_layout import P_ENIP
from zonewarden.protocols.base import FlowContext
from zonewarden.protocols.enip import SPECS
from zonewarden.protocols.enip.analyzer import EnipStreamAnalyzer

T0 = 1_700_000_000_123_456_789
FLOW_ID = "C0123456789abcdef"
ENCODER = msgspec.json.Encoder()
SAMPLES = SPECS[0].samples


class Flow:
    """One ENIP flow fed to both the Python analyzer and the encoder (state kept as the lane's driver keeps it:
    committed only when the encoder takes the payload)."""

    def __init__(self) -> None:
        ctx = FlowContext(FLOW_ID, "10.0.0.1", "10.0.0.2", 50000, 44818)
        self.events: list[object] = []
        self.analyzer = EnipStreamAnalyzer(ctx, self.events.append)
        self.hdr = np.zeros(E.N_UBYTES, np.uint8)
        client, server = int(ipaddress.IPv4Address(ctx.orig)), int(ipaddress.IPv4Address(ctx.resp))
        write_header(self.hdr, P_ENIP, client, server, 50000, 44818, np.uint64(int(FLOW_ID[1:], 16)))
        self.st = np.zeros(E.ST_COLS, np.int64)
        self.sb = np.zeros(E.SB_BYTES, np.uint8)
        self.frame = 0

    def send(self, side: int, payload: bytes, out_bytes: int = 1 << 16) -> tuple[int, bytes, bytes]:
        """(status, the encoder's bytes, the Python path's bytes) for one payload sent by ``side``."""
        self.frame += 1
        ts = T0 + self.frame * 1_000_003
        before = len(self.events)
        self.analyzer.data(side, payload, ts, self.frame)
        python = b"".join(ENCODER.encode(e) + b"\n" for e in self.events[before:])
        st, sb = self.st.copy(), self.sb.copy()
        out = np.zeros(out_bytes, np.uint8)
        status, pos = encode_enip(np.frombuffer(payload, np.uint8), 0, len(payload), side, ts, self.frame, self.hdr,
                                  st, sb, out, 0)
        if status == E.ENC_OK:
            self.st, self.sb = st, sb
        return status, out[:pos].tobytes(), python

    def same(self, side: int, payload: bytes) -> bytes:
        """The payload's lines, asserting the encoder takes it and writes what the Python path writes."""
        status, lane, python = self.send(side, payload)
        assert status == E.ENC_OK
        assert lane == python
        return lane


# --- message builders -----------------------------------------------------------------------------------


def encap(command: int, body: bytes, context: bytes = b"ctx00001", session: int = 0x1000) -> bytes:
    return struct.pack("<HHII8sI", command, len(body), session, 0, context, 0) + body


def cpf(*items: tuple[int, bytes]) -> bytes:
    return struct.pack("<IHH", 0, 0, len(items)) + b"".join(struct.pack("<HH", t, len(d)) + d for t, d in items)


def rr(cip: bytes, context: bytes = b"ctx00001") -> bytes:
    return encap(0x6F, cpf((0, b""), (0xB2, cip)), context)


def unit(connection: int, sequence: int, cip: bytes) -> bytes:
    return encap(0x70, cpf((0xA1, struct.pack("<I", connection)), (0xB1, struct.pack("<H", sequence) + cip)))


def request(service: int, path: bytes, data: bytes = b"") -> bytes:
    return bytes([service, len(path) // 2]) + path + data


def reply(service: int, status: int = 0, data: bytes = b"", extended: tuple[int, ...] = ()) -> bytes:
    return bytes([service | 0x80, 0, status, len(extended)]) + struct.pack(f"<{len(extended)}H", *extended) + data


def logical(cls: int, instance: int | None = None) -> bytes:
    return bytes([0x20, cls]) + (bytes([0x24, instance]) if instance is not None else b"")


def symbol(name: bytes) -> bytes:
    return bytes([0x91, len(name)]) + name + b"\0" * (len(name) % 2)


def msp(entries: list[bytes]) -> bytes:
    offsets, at = [], 2 + 2 * len(entries)
    for e in entries:
        offsets.append(at)
        at += len(e)
    return struct.pack(f"<H{len(entries)}H", len(entries), *offsets) + b"".join(entries)


def unconnected_send(embedded: bytes, route: bytes = b"\x01\x00") -> bytes:
    data = bytes([0x0A, 0x9A]) + struct.pack("<H", len(embedded)) + embedded + b"\0" * (len(embedded) % 2)
    return request(0x52, logical(6, 1), data + bytes([len(route) // 2, 0]) + route)


def forward_open(ot: int, to: int, serial: int, path: bytes, large: bool = False) -> bytes:
    params = "I" if large else "H"
    data = struct.pack(f"<BBIIHHIB3xI{params}I{params}B", 10, 5, ot, to, serial, 0x1234, 0x55667788, 1, 10000, 0x43F4,
                       20000, 0x43F4, 0xA3)
    return request(0x5B if large else 0x54, logical(6, 1), data + bytes([len(path) // 2]) + path)


def forward_open_reply(ot: int, to: int, serial: int, status: int = 0, service: int = 0x54) -> bytes:
    if status:
        return reply(service, status, struct.pack("<HHIBB", serial, 0x1234, 0x55667788, 0, 0), (0x0100,))
    return reply(service, 0, struct.pack("<IIHHIIIBB", ot, to, serial, 0x1234, 0x55667788, 10000, 20000, 0, 0))


MSP_PATH = logical(2, 1)
TAGS = [request(0x4C, symbol(b"Line_1.Speed"), b"\x01\x00"), request(0x4C, logical(0x72, 0), b"\x01\x00")]


# --- what it writes -------------------------------------------------------------------------------------


def test_session_commands() -> None:
    flow = Flow()
    lines = flow.same(0, encap(0x65, b"\x01\x00\x00\x00", session=0))
    assert b'"command_name":"register_session"' in lines and b'"encap_version":1,' in lines
    assert b'"is_response":false' in lines
    lines = flow.same(1, encap(0x65, b"\x01\x00\x00\x00", session=0x44))
    assert b'"is_response":true' in lines and b'"session":68,' in lines
    assert flow.same(0, encap(0x63, b"")).count(b"\n") == 1  # a ListIdentity request (no data)
    assert b'"command_name":"unregister_session"' in flow.same(0, encap(0x66, b""))


def test_multiple_service_packet_and_its_reply() -> None:
    flow = Flow()
    lines = flow.same(0, unit(0x100, 7, request(0x0A, MSP_PATH, msp(TAGS))))
    assert (b'"msp_services":[{"service":76,"service_name":"read_tag","cip_symbol":"Line_1.Speed"},'
            b'{"service":76,"service_name":"unknown-76","cip_class":114,"cip_instance":0}]') in lines
    assert b'"connection_id":256,"cip_sequence":7,"cip_service":10,' in lines
    assert b'"cip_service_name":"multiple_service_packet","cip_class":2,"cip_instance":1,' in lines
    replies = [reply(0x4C, 0, b"\xc4\x00\x01\x00\x00\x00"), reply(0x4C, 5, extended=(0x1234,))]
    lines = flow.same(1, unit(0x200, 7, reply(0x0A, 0x1E, msp(replies))))
    assert (b'{"service":76,"service_name":"read_tag","cip_symbol":"Line_1.Speed","cip_status":0},'
            b'{"service":76,"service_name":"unknown-76","cip_class":114,"cip_instance":0,"cip_status":5,'
            b'"cip_extended_status":4660}]') in lines
    assert b'"cip_status":30,"cip_status_name":"embedded_service_error"' in lines
    assert lines.endswith(b',"request_frame":1}\n')


def test_unconnected_send_and_its_reply() -> None:
    flow = Flow()
    embedded = request(0x01, logical(0xAC, 1))
    lines = flow.same(0, rr(unconnected_send(embedded), b"\x01\x02\x03\x04\x05\x06\x07\x08"))
    assert b'"sender_context":"0102030405060708","cpf_types":[0,178]' in lines
    assert (b'"embedded":{"service":1,"service_name":"get_attributes_all","cip_class":172,"cip_instance":1},'
            b'"route_path":"0100"') in lines
    lines = flow.same(1, rr(reply(0x01, 0, b"\x00" * 12), b"\x01\x02\x03\x04\x05\x06\x07\x08"))
    assert b'"cip_service":1,"cip_service_name":"get_attributes_all","cip_class":6,"cip_instance":1' in lines
    assert b'"route_path":"0100"' in lines and lines.endswith(b'"request_frame":1}\n')
    # a failed Unconnected Send answers with its own service
    flow.same(0, rr(unconnected_send(embedded), b"ctx00002"))
    lines = flow.same(1, rr(reply(0x52, 1, b"", (0x0204,)), b"ctx00002"))
    assert b'"cip_service_name":"unconnected_send"' in lines and b'"cip_extended_status":516' in lines


def test_an_unconnected_send_of_a_multiple_service_packet() -> None:
    flow = Flow()
    flow.same(0, rr(unconnected_send(request(0x0A, MSP_PATH, msp(TAGS)), b"\x01\x00\x12\x02\x31\x30")))
    flow.same(1, rr(reply(0x0A, 0, msp([reply(0x4C), reply(0x4C)]))))


@pytest.mark.skipif(not WRITE_UNMATCHED, reason="unmatched replies are refused")
def test_replies_matched_as_the_analyzer_matches_them() -> None:
    flow = Flow()
    # a reply first (the capture started mid-conversation): the anomaly, then the reply
    lines = flow.same(1, unit(0x900, 3, reply(0x0A, 0, msp([reply(0x4C)]))))
    first, second = lines.splitlines()
    assert first.endswith(b'"anomaly":"enip.unmatched_response","detail":"no request seen for this reply"}')
    assert b'"kind":"anomaly"' in first and b'"is_response":true' in first
    assert b'"msp_services":[{"service":76,"service_name":"unknown-76","cip_status":0}]' in second
    assert second.endswith(b'"request_frame":null}')
    # two requests on one connection, replies on another (its Forward Open not seen): paired by sequence
    flow.same(0, unit(0x100, 1, request(0x0E, logical(1, 1) + b"\x30\x07")))
    flow.same(0, unit(0x100, 2, request(0x0E, logical(0x6B, 1))))
    flow.same(1, unit(0x200, 1, reply(0x0E, 8)))
    lines = flow.same(1, unit(0x200, 2, reply(0x0E, 0, b"\x01\x00")))
    assert b'"cip_class":107,"cip_instance":1,"cip_attribute":null' in lines
    # paired now: a reply on that connection whose sequence has no request is unmatched
    flow.same(0, unit(0x100, 4, request(0x0E, logical(0x6B, 1))))
    assert flow.same(1, unit(0x200, 5, reply(0x0E))).count(b'"kind":"anomaly"') == 1


def test_several_messages_in_one_payload() -> None:
    flow = Flow()
    both = unit(0x100, 1, request(0x0A, MSP_PATH, msp(TAGS))) + unit(0x100, 2, request(0x4C, symbol(b"A")))
    assert flow.same(0, both).count(b"\n") == 2
    assert flow.same(1, unit(0x300, 2, reply(0x4C)) + unit(0x300, 1, reply(0x0A))).count(b"\n") == 2


def test_the_corpus_samples_it_takes() -> None:
    flow = Flow()
    flow.same(0, SAMPLES[3])  # RegisterSession
    flow.same(0, SAMPLES[10])  # a Multiple Service Packet of 11 Get_Attribute_List
    flow.same(0, SAMPLES[11])  # Stop to class 0x8E


def test_forward_open_and_the_connection_it_opens() -> None:
    flow = Flow()
    path = b"\x01\x00" + logical(2, 1) + b"\x2c\x01"
    lines = flow.same(0, rr(forward_open(0, 0x2000, 7, path)))
    assert (b'"ot_connection_id":0,"to_connection_id":8192,"connection_serial":7,"originator_vendor_id":4660,'
            b'"originator_serial":1432778632,"ot_rpi":10000,"to_rpi":20000,"transport_type":163,'
            b'"connection_path":"0100200224012c01"') in lines
    lines = flow.same(1, rr(forward_open_reply(0x1000, 0x2000, 7)))
    assert b'"ot_connection_id":4096,"to_connection_id":8192,"connection_serial":7,' in lines
    assert b'"transport_type":null,"connection_path":null,"ot_sockaddr":null' in lines
    # the connection's messages carry its route; an Unconnected Send over it adds its own
    assert b'"route_path":"0100"' in flow.same(0, unit(0x1000, 1, request(0x4C, symbol(b"T"))))
    assert b'"route_path":"0100"' in flow.same(1, unit(0x2000, 1, reply(0x4C)))
    lines = flow.same(0, unit(0x1000, 2, unconnected_send(request(0x0E, logical(0x6B, 1)), b"\x01\x03")))
    assert b'"route_path":"01000103"' in lines
    assert b'"route_path":"01000103"' in flow.same(1, unit(0x2000, 2, reply(0x0E)))
    # a failed Forward Open, a Large Forward Open, a Forward Close
    flow.same(0, rr(forward_open(0, 0x2001, 8, b"\x01\x00"), b"ctx00002"))
    lines = flow.same(1, rr(forward_open_reply(0, 0, 8, status=1), b"ctx00002"))
    assert b'"ot_connection_id":null,"to_connection_id":null,"connection_serial":8,' in lines
    flow.same(0, rr(forward_open(0, 0x2002, 9, logical(2, 1), large=True), b"ctx00003"))
    flow.same(1, rr(forward_open_reply(0x1002, 0x2002, 9, service=0x5B), b"ctx00003"))
    assert b'"route_path":null' in flow.same(0, unit(0x1002, 1, request(0x4C, symbol(b"T"))))
    close = struct.pack("<BBHHIBB", 10, 5, 7, 0x1234, 0x55667788, 1, 0) + b"\x01\x00"
    flow.same(0, rr(request(0x4E, logical(6, 1), close), b"ctx00004"))
    flow.same(1, rr(reply(0x4E, 0, struct.pack("<HHIBB", 7, 0x1234, 0x55667788, 0, 0)), b"ctx00004"))


def test_the_corpus_forward_open() -> None:
    flow = Flow()
    flow.same(0, SAMPLES[4])
    lines = flow.same(1, SAMPLES[5])
    assert b'"ot_sockaddr":"0.0.0.0:2222","to_sockaddr":"239.192.5.128:2222"' in lines
    flow.same(0, SAMPLES[8])  # a Forward Close


# --- what it refuses ------------------------------------------------------------------------------------


@pytest.mark.parametrize("payload", [
    pytest.param(rr(unconnected_send(forward_open(0, 1, 2, b""))), id="embedded-forward-open"),
    pytest.param(rr(request(0x54, logical(6, 1), bytes(20))), id="short-forward-open"),
    pytest.param(SAMPLES[1], id="list-identity-reply"),
    pytest.param(SAMPLES[2], id="list-services-reply"),
    pytest.param(encap(0x01, b""), id="unknown-command"),
    pytest.param(unit(0x100, 1, request(0x0A, MSP_PATH, msp(TAGS)))[:-3], id="message-across-payloads"),
    pytest.param(rr(request(0x4C, symbol(b'a"b'))), id="symbol-to-escape"),
    pytest.param(rr(request(0x4C, bytes([0x20, 0x01, 0xFF, 0x00]))), id="path-problem"),
    pytest.param(rr(b""), id="empty-cip"),
    pytest.param(encap(0x6F, cpf((0, b""))), id="no-data-item"),
    pytest.param(encap(0x6F, cpf((0, b""), (0x8000, bytes(6)), (0xB2, request(0x0E, logical(1, 1))))),
                 id="short-socket-address-item"),
    pytest.param(encap(0x65, b"\x01\x00"), id="short-register-session"),
])
def test_refused_messages(payload: bytes) -> None:
    assert Flow().send(0, payload)[0] == E.ENC_REFUSE


def test_refused_replies() -> None:
    flow = Flow()
    flow.same(0, SAMPLES[6])  # an Unconnected Send of Get_Attributes_All to the Identity object
    assert flow.send(1, SAMPLES[7])[0] == E.ENC_REFUSE  # its reply carries the identity
    flow = Flow()
    flow.same(0, rr(request(0x0E, logical(0x6B, 1))))
    assert flow.send(1, rr(reply(0x10)))[0] == E.ENC_REFUSE  # service_mismatch
    flow = Flow()
    flow.same(0, rr(request(0x0E, logical(0x6B, 1))))
    assert flow.send(0, rr(request(0x0E, logical(0x6B, 2))))[0] == E.ENC_REFUSE  # duplicate_request


def test_state_bounds_refuse() -> None:
    flow = Flow()
    for k in range(MAX_PENDING):
        flow.same(0, unit(0x100, k, request(0x0E, logical(0x6B, 1))))
    assert flow.send(0, unit(0x100, MAX_PENDING, request(0x0E, logical(0x6B, 1))))[0] == E.ENC_REFUSE
    flow = Flow()  # one request with more distinct paths than the path dictionary holds
    names = [b"a_rather_long_tag_name_%02d" % k for k in range(20)]
    assert flow.send(0, unit(0x100, 1, request(0x0A, MSP_PATH, msp([request(0x4C, symbol(n)) for n in names]))))[0] \
        == E.ENC_REFUSE


def test_the_path_dictionary_drops_what_no_one_needs() -> None:
    flow = Flow()
    flow.same(0, rr(forward_open(0, 0x2000, 7, b"\x01\x05" + logical(2, 1))))
    flow.same(1, rr(forward_open_reply(0x1000, 0x2000, 7)))
    for k in range(3):  # requests outstanding all along
        flow.same(0, unit(0x1000, 100 + k, request(0x0A, MSP_PATH, msp([request(0x4C, symbol(b"kept_%d" % k))]))))
    for k in range(200):  # many more paths than the dictionary holds, each needed until its reply
        flow.same(0, rr(request(0x4C, symbol(b"tag_%03d_long_enough" % k)), b"ctx%05d" % k))
        flow.same(1, rr(reply(0x4C), b"ctx%05d" % k))
    for k in range(3):
        lines = flow.same(1, unit(0x2000, 100 + k, reply(0x0A, 0, msp([reply(0x4C)]))))
        assert b'"route_path":"0105"' in lines and b'"cip_symbol":"kept_%d"' % k in lines


def test_no_room_is_full() -> None:
    assert Flow().send(0, unit(0x100, 1, request(0x0A, MSP_PATH, msp(TAGS))), out_bytes=1000)[0] == E.ENC_FULL


# --- random flows ---------------------------------------------------------------------------------------


def _random_path(rng: random.Random) -> bytes:
    choices = [bytes([0x20, rng.choice([1, 2, 6, 0x6B, 0x67, 0x72, 0xAC])]), bytes([0x24, rng.randint(0, 3)]),
               bytes([0x30, rng.randint(0, 9)]), bytes([0x21, 0, rng.randint(0, 255), 1]), bytes([0x01, 2]),
               symbol(rng.choice([b"A", b"Tag", b"x.y", b'Q"', b"\xe9t", b""])), bytes([0x28, 1]),
               bytes([rng.randint(0, 255), rng.randint(0, 255)])]
    return b"".join(rng.choice(choices) for _ in range(rng.randint(0, 4)))


def _random_request(rng: random.Random, depth: int = 0) -> bytes:
    c = rng.random()
    if c < 0.3 and depth == 0:
        return request(0x0A, MSP_PATH, msp([_random_request(rng, 1) for _ in range(rng.randint(0, 4))]))
    if c < 0.45 and depth == 0:
        return unconnected_send(_random_request(rng, 1), rng.choice([b"\x01\x00", b"", b"\x01\x00\x12\x02\x31\x30"]))
    if c < 0.55 and depth == 0:
        return forward_open(0x100, rng.choice([0x200, 0x201]), 1, b"\x01\x00" + _random_path(rng), rng.random() < 0.3)
    return request(rng.choice([0x01, 0x03, 0x0E, 0x4C, 0x4E, 0x52, 0x54, 0x0A]), _random_path(rng),
                   bytes(rng.randint(0, 3)))


def _random_reply(rng: random.Random, service: int | None = None) -> bytes:
    service = service if service is not None else rng.choice([0x01, 0x0E, 0x4C, 0x52, 0x0A, 0x54, 0x5B])
    if service in (0x54, 0x5B) and rng.random() < 0.7:
        return forward_open_reply(rng.choice([0x100, 0x101]), rng.choice([0x200, 0x201]), 1, rng.choice([0, 1]),
                                  service)
    data = msp([_random_reply(rng, 0x4C) for _ in range(rng.randint(0, 5))]) if service == 0x0A else b""
    extended = tuple(rng.randint(0, 65535) for _ in range(rng.choice([0, 0, 1])))
    return reply(service, rng.choice([0, 0, 1, 5, 0x1E, 0x40]), data, extended)


def _mutate(rng: random.Random, payload: bytes) -> bytes:
    b = bytearray(payload)
    for _ in range(rng.randint(1, 3)):
        b[rng.randrange(len(b))] = rng.randint(0, 255)
    return bytes(b)


@pytest.mark.parametrize("seed", range(4))
def test_random_flows_are_written_as_python_writes_them_or_refused(seed: int) -> None:
    rng = random.Random(seed)
    taken = 0
    for _ in range(150):
        flow = Flow()
        for _ in range(rng.randint(1, 20)):
            side, c = rng.randint(0, 1), rng.random()
            context = b"ctx%05d" % rng.randint(0, 3)
            connection, sequence = rng.choice([0x100, 0x200, 0x201]), rng.randint(0, 4)
            if c < 0.1:
                payload = encap(rng.choice([0x65, 0x66, 0x63, 0x00]), rng.choice([b"", b"\x01\x00\x00\x00"]))
            elif c < 0.55:
                cip = _random_request(rng) if side == 0 else _random_reply(rng)
                payload = rr(cip, context) if rng.random() < 0.5 else unit(connection, sequence, cip)
            else:
                payload = unit(connection, sequence, _random_reply(rng)) if rng.random() < 0.5 else \
                    rr(_random_reply(rng), context)
            if rng.random() < 0.2:
                payload = _mutate(rng, payload)
            status, lane, python = flow.send(side, payload)
            if status != E.ENC_OK:
                break  # the flow is the Python path's from here on
            assert lane == python
            taken += 1
    assert taken > 300
