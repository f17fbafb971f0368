"""The event lane's DNP3 encoder against the Python analyzer, payload by payload: link frames, transport
reassembly, request matching, object headers and points; and what it refuses."""

from __future__ import annotations

import struct

import msgspec
import numpy as np
import pytest

from zonewarden.pipeline import eventlane_layout as E
from zonewarden.pipeline.eventlane_dnp3 import MAX_PENDING, encode_dnp3
from zonewarden.pipeline.fastlane_layout import P_DNP3
from zonewarden.protocols.dnp3.analyzer import Dnp3Analyzer
from zonewarden.protocols.dnp3.wire_link import crc16

from .eventlane_support import Pair

MASTER, OUTSTATION = 1, 10
# Link control octets: DIR (from the master) | PRM | function 4 (unconfirmed user data), and without DIR.
C_MASTER, C_OUTSTATION = 0xC4, 0x44


def _with_crc(data: bytes) -> bytes:
    return data + struct.pack("<H", crc16(data))


def link(control: int, dst: int, src: int, user: bytes = b"") -> bytes:
    """One link frame: header and user data blocks, each with its CRC."""
    out = _with_crc(b"\x05\x64" + struct.pack("<BBHH", 5 + len(user), control, dst, src))
    for k in range(0, len(user), 16):
        out += _with_crc(user[k:k + 16])
    return out


def apdu(ac: int, fc: int, body: bytes = b"", iin: int | None = None) -> bytes:
    return bytes([ac, fc]) + (b"" if iin is None else struct.pack(">H", iin)) + body


def request(fc: int, body: bytes = b"", seq: int = 0, dst: int = OUTSTATION, tseq: int = 0) -> bytes:
    """A one-frame request from the master (FIR|FIN application and transport)."""
    return link(C_MASTER, dst, MASTER, bytes([0xC0 | tseq]) + apdu(0xC0 | seq, fc, body))


def response(body: bytes, seq: int = 0, iin: int = 0, fc: int = 129, ac: int = 0xC0, tseq: int = 0) -> bytes:
    return link(C_OUTSTATION, MASTER, OUTSTATION, bytes([0xC0 | tseq]) + apdu(ac | seq, fc, body, iin))


CLASS_POLL = bytes.fromhex("3c0206" "3c0306" "3c0406" "3c0106")  # g60v2, v3, v4, v1, all points


@pytest.fixture
def pair() -> Pair:
    return Pair(P_DNP3, Dnp3Analyzer, encode_dnp3, 50123, 20000)


def decoded(lines: bytes) -> list[dict[str, object]]:
    return [msgspec.json.decode(line) for line in lines.splitlines()]


def refused(pair: Pair, side: int, payload: bytes) -> bytes:
    python, (status, _lane) = pair.both(side, payload)
    assert status == E.ENC_REFUSE
    return python


def test_class_poll_and_its_response(pair: Pair) -> None:
    (poll,) = decoded(pair.same(0, request(1, CLASS_POLL, seq=3)))
    assert poll["function"] == "read" and poll["objects"] == ["g60v2", "g60v3", "g60v4", "g60v1"]
    assert poll["ranges"] == [[], [], [], []] and poll["points"] is None and poll["iin"] is None
    body = (bytes.fromhex("010200" "0002") + bytes([0x81, 0x01, 0x01])  # g1v2 0-2: flags with the state bit
            + bytes.fromhex("1e0100" "0304") + struct.pack("<BiBi", 1, -5, 1, 70000)  # g30v1 3-4: signed 32
            + bytes.fromhex("140128" "0200") + struct.pack("<HBIHBI", 7, 1, 4000000000, 9, 0x21, 0)  # g20v1 by index
            + bytes.fromhex("0a0200" "0000") + bytes([0x81])  # g10v2
            + bytes.fromhex("030200" "0505") + bytes([0xC1])  # g3v2: double-bit state in bits 6-7
            + bytes.fromhex("280100" "0000") + struct.pack("<Bi", 1, 123))  # g40v1
    (resp,) = decoded(pair.same(1, response(body, seq=3, iin=0x9006)))
    assert resp["request_function"] == 1 and resp["request_frame"] == 1 and resp["is_response"] is True
    assert resp["iin_flags"] == ["device_restart", "need_time", "parameter_error", "object_unknown"]  # high bit first
    assert resp["qualifiers"] == [0, 0, 0x28, 0, 0, 0] and resp["ranges"] == [[0, 2], [3, 4], [2], [0, 0], [5, 5],
                                                                                [0, 0]]
    assert resp["points"][:3] == [{"object": "g1v2", "index": 0, "value": 1, "flags": 0x81},
                                  {"object": "g1v2", "index": 1, "value": 0, "flags": 1},
                                  {"object": "g1v2", "index": 2, "value": 0, "flags": 1}]
    assert [p["value"] for p in resp["points"][3:7]] == [-5, 70000, 4000000000, 0]
    assert resp["points"][8] == {"object": "g3v2", "index": 5, "value": 3, "flags": 0xC1}
    assert resp["points_total"] == 10 and resp["fragment_size"] == len(body) + 4 and resp["segments"] == 1


def test_packed_points_indexes_time_and_controls(pair: Pair) -> None:
    pair.same(0, request(1, bytes.fromhex("010000" "0009") + bytes.fromhex("0200" "06"), seq=1))
    body = (bytes.fromhex("010100" "020a") + bytes([0xA5, 0x02])  # g1v1 packed, indexes 2..10
            + bytes.fromhex("030100" "0004") + bytes([0x1B, 0x02])  # g3v1 two bits per point
            + bytes.fromhex("020217" "02") + bytes([7, 0x81]) + (1_600_000_000_123).to_bytes(6, "little")
            + bytes([9, 0x01]) + (5).to_bytes(6, "little")  # g2v2 events: index prefix, flags, time
            + bytes.fromhex("0a0107" "03") + bytes([0x05])  # g10v1 packed with a count: no index
            + bytes.fromhex("010117" "02") + bytes([4, 1, 6, 0xFF]))  # g1v1 with an index prefix: the low bit
    (resp,) = decoded(pair.same(1, response(body, seq=1)))
    points = resp["points"]
    assert [p["value"] for p in points[:9]] == [1, 0, 1, 0, 0, 1, 0, 1, 0] and points[8]["index"] == 10
    assert [p["value"] for p in points[9:14]] == [3, 2, 1, 0, 2]
    assert points[14] == {"object": "g2v2", "index": 7, "value": 1, "flags": 0x81, "time": 1_600_000_000_123}
    assert points[16] == {"object": "g10v1", "value": 1}
    assert points[19:] == [{"object": "g1v1", "index": 4, "value": 1}, {"object": "g1v1", "index": 6, "value": 1}]
    crob = bytes.fromhex("0c0128" "0100" "0300") + struct.pack("<BBIIB", 0x41, 1, 100, 200, 0)
    for fc in (3, 4):  # select, then operate; each echoed
        pair.same(0, request(fc, crob, seq=fc))
        (echo,) = decoded(pair.same(1, response(crob, seq=fc)))
        assert echo["points"] == [{"object": "g12v1", "index": 3, "status": 0, "control_code": 0x41, "count": 1,
                                   "on_time": 100, "off_time": 200}]
        assert echo["request_function"] == fc
    pair.same(0, request(5, bytes.fromhex("290217" "01" "02") + struct.pack("<hB", -300, 0), seq=6))  # g41v2


def test_floats_written_only_when_exact(pair: Pair) -> None:
    values = [12.75, 3.0, -0.0, 0.0, -1234.5, 1e7, 0.0009765625, float("nan"), float("inf")]
    body = bytes.fromhex("1e0501") + struct.pack("<HH", 0, len(values) - 1)
    body += b"".join(struct.pack("<Bf", 1, v) for v in values)
    body += bytes.fromhex("280400" "0000") + struct.pack("<Bd", 1, 2.0**52 + 1)  # g40v4, a double
    (resp,) = decoded(pair.same(1, response(body, fc=130, ac=0xF0)))
    assert resp["unsolicited"] is True and resp["request_function"] is None
    assert [p.get("value") for p in resp["points"]] == [12.75, 3.0, -0.0, 0.0, -1234.5, 1e7, 0.0009765625, None,
                                                         None, 2.0**52 + 1]
    assert b'"value":-0.0,' in pair.same(1, response(bytes.fromhex("1e0500" "0000") + struct.pack("<Bf", 1, -0.0)))
    for v in (0.1, 1e20, 2.0**-20):  # not provably what msgspec writes: refused
        refused(pair, 1, response(bytes.fromhex("1e0500" "0000") + struct.pack("<Bf", 1, v)))
    refused(pair, 1, response(bytes.fromhex("1e0600" "0000") + struct.pack("<Bd", 1, 1.0 / 3)))


def test_link_only_frames(pair: Pair) -> None:
    (status_request,) = decoded(pair.same(0, link(0xC9, OUTSTATION, MASTER)))  # request link status
    assert status_request["link_function_name"] == "request_link_status" and status_request["function"] is None
    assert status_request["is_response"] is False and status_request["objects"] is None
    (answer,) = decoded(pair.same(1, link(0x0B, MASTER, OUTSTATION)))  # link status (secondary)
    assert answer["link_function_name"] == "link_status" and answer["is_response"] is True
    lines = decoded(pair.same(0, link(0xC0, OUTSTATION, MASTER) + link(0xC4, OUTSTATION, MASTER)
                              + link(0xC5, OUTSTATION, MASTER)))  # reset, user data without data, unknown 5
    assert [e["link_function_name"] for e in lines] == ["reset_link_states", "unconfirmed_user_data", "unknown-5"]
    assert decoded(pair.same(1, link(0x0E, MASTER, OUTSTATION)))[0]["link_function_name"] == "link_not_functioning"


def test_confirm_unsolicited_restart_and_unknown_function(pair: Pair) -> None:
    pair.same(0, request(20, bytes.fromhex("3c0206" "3c0306" "3c0406"), seq=1))  # enable unsolicited
    pair.same(1, response(b"", seq=1))
    (uns,) = decoded(pair.same(1, response(b"", seq=5, fc=130, ac=0xF0, iin=0x0100)))
    assert uns["con"] is True and uns["uns"] is True and uns["iin_flags"] == ["broadcast"]
    (confirm,) = decoded(pair.same(0, link(C_MASTER, OUTSTATION, MASTER, b"\xc1" + apdu(0xD5, 0))))
    assert confirm["function"] == "confirm" and confirm["uns"] is True
    pair.same(0, request(13, seq=2))  # cold restart, then its time delay (g52v2)
    (delay,) = decoded(pair.same(1, response(bytes.fromhex("340207" "01" "e803"), seq=2)))
    assert delay["points"] == [{"object": "g52v2", "value": 1000}] and delay["request_function"] == 13
    pair.same(0, request(2, bytes.fromhex("500100" "0707" "00"), seq=3))  # write g80v1 (clear restart)
    (unknown,) = decoded(pair.same(0, request(50, seq=4)))
    assert unknown["function"] == "unknown-50"


def test_a_fragment_in_several_frames(pair: Pair) -> None:
    pair.same(0, request(1, CLASS_POLL, seq=9))
    body = bytes.fromhex("1e0100" + "0027") + b"".join(struct.pack("<Bi", 1, k) for k in range(40))  # 205 bytes
    app = apdu(0xC9, 129, body, 0)
    first = link(C_OUTSTATION, MASTER, OUTSTATION, bytes([0x40 | 7]) + app[:150])
    second = link(C_OUTSTATION, MASTER, OUTSTATION, bytes([0x80 | 8]) + app[150:])
    assert pair.same(1, first) == b""
    assert pair.same(1, first) == b""  # a link-layer retry of it: skipped
    (resp,) = decoded(pair.same(1, second))
    assert resp["segments"] == 2 and resp["fragment_size"] == len(app) and resp["request_frame"] == 1
    assert len(resp["points"]) == 40 and resp["points_total"] == 40
    assert pair.same(1, second) == b""  # a retry of the last segment of the completed fragment: skipped
    pair.same(0, request(1, CLASS_POLL, seq=10))
    app = apdu(0xCA, 129, body, 0)
    pair.same(1, link(C_OUTSTATION, MASTER, OUTSTATION, bytes([0x40 | 9]) + app[:100])
              + link(C_OUTSTATION, MASTER, OUTSTATION, bytes([0x80 | 10]) + app[100:]))  # both in one payload


def test_points_listed_are_capped_and_counted(pair: Pair) -> None:
    body = bytes.fromhex("010200" "0063") + bytes(range(100))  # g1v2 x100
    pair.same(0, request(1, CLASS_POLL))
    (resp,) = decoded(pair.same(1, response(body)))
    assert len(resp["points"]) == 64 and resp["points_total"] == 100


def test_garbage_is_skipped_silently_until_in_sync_then_reported_once(pair: Pair) -> None:
    assert pair.same(0, b"XXXX" * 30) == b""
    assert pair.same(0, b"ab\x05\x64" + request(1, CLASS_POLL))  # a chance 0564 (bad header CRC) skipped too
    anomaly, read = decoded(pair.same(0, b"abc" + request(1, CLASS_POLL, seq=1)))  # in sync: an anomaly
    assert anomaly["kind"] == "anomaly" and anomaly["anomaly"] == "dnp3.garbage" and anomaly["is_response"] is False
    assert anomaly["detail"] == "3+ bytes that are not a DNP3 link frame" and read["kind"] == "message"
    pair.same(1, response(b"", seq=1))
    (anomaly,) = decoded(pair.same(1, b"\x00" * 7 + b"\x05\x64" + b"\x00" * 8))  # then silent until in sync
    assert anomaly["detail"] == "7+ bytes that are not a DNP3 link frame" and anomaly["is_response"] is True
    assert pair.same(1, b"xyz") == b""
    pair.same(1, response(b"", seq=1))
    (anomaly,) = decoded(pair.same(0, b"\x00" * 1100))  # in sync: reported (a flow with frames is not given up)
    assert anomaly["detail"] == "1100+ bytes that are not a DNP3 link frame"


def test_a_last_byte_kept_by_the_analyzer(pair: Pair) -> None:
    assert pair.same(0, b"XY\x05") == b""  # garbage, then a byte that may start a frame: kept
    pair.same(0, b"Z" + request(1, CLASS_POLL))  # it was garbage too: skipped with the Z, silently
    pair.same(0, request(1, CLASS_POLL, seq=1) + b"\x05")  # in sync: kept
    python = refused(pair, 0, b"\x64" + request(1, CLASS_POLL, seq=2)[2:])  # a frame across payloads
    assert b'"function":"read"' in python
    pair.same(1, response(b"", seq=1) + b"\x00")
    (anomaly, _) = decoded(pair.same(1, response(b"", seq=3)))  # the byte kept was garbage, once in sync
    assert anomaly["detail"] == "1+ bytes that are not a DNP3 link frame"


def test_a_flow_without_frames_in_its_first_kib_is_refused(pair: Pair) -> None:
    assert pair.same(0, b"X" * 1000) == b""
    refused(pair, 1, b"Y" * 25)  # the analyzer gives the flow up (not DNP3)
    assert pair.analyzer.rejected


def test_requests_awaiting_responses_are_bounded(pair: Pair) -> None:
    for k in range(MAX_PENDING):  # another outstation each: as many pending requests
        pair.same(0, request(1, CLASS_POLL, dst=100 + k))
    refused(pair, 0, request(1, CLASS_POLL, dst=99))


@pytest.mark.parametrize("payload", [
    request(1, CLASS_POLL)[:-1],  # a frame across payloads: the analyzer keeps it for the next one
    request(1, CLASS_POLL)[:8] + b"\x00\x00" + request(1, CLASS_POLL)[10:],  # bad header CRC
    request(1, CLASS_POLL)[:-2] + b"\x00\x00",  # bad user data CRC
    request(1, bytes.fromhex("780700") + bytes(20)),  # secure authentication
    request(2, bytes.fromhex("004500") + bytes(3)),  # a write with a g0 attribute index: device attributes
    request(25, bytes.fromhex("46035b0100") + bytes(1)),  # a file object
    request(1, bytes.fromhex("3c02")),  # a truncated object header
    request(2, bytes.fromhex("630900" "0000")),  # an unknown object in a write
    link(C_MASTER, OUTSTATION, MASTER, b"\x80" + apdu(0xC0, 1)),  # a last segment without its first
    link(C_MASTER, OUTSTATION, MASTER, b"\xc0\xc0"),  # a one-byte application fragment
    link(0xC9, OUTSTATION, MASTER, b"\xc0"),  # user data in a request link status
])
def test_refusals(pair: Pair, payload: bytes) -> None:
    refused(pair, 0, payload)


def test_a_device_attributes_response_is_refused(pair: Pair) -> None:
    pair.same(0, request(1, bytes.fromhex("00fc06")))  # a read of g0v252: named, no values
    python = refused(pair, 1, response(bytes.fromhex("00fc00" "0000") + bytes([1, 4]) + b"ACME"))
    assert b'"vendor_name":"ACME"' in python


def test_no_room_asks_for_more(pair: Pair) -> None:
    data = np.frombuffer(request(1, CLASS_POLL), np.uint8)
    out = np.zeros(256, np.uint8)
    status, pos = encode_dnp3(data, 0, data.shape[0], 0, 1_600_000_000_000_000_000, 1, pair.hdr, pair.st, pair.sb,
                              out, 0)
    assert (status, pos) == (E.ENC_FULL, 0)
