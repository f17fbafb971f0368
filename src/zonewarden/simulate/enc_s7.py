"""S7comm over ISO-on-TCP: TPKT (RFC 1006), COTP (ISO 8073 class 0) and S7comm PDUs (protocol id 0x32).

S7comm is not publicly specified; the layouts follow what Siemens CPUs send, as Wireshark's s7comm
dissector documents them (so tshark can referee).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

PORT = 102
JOB, ACK, ACK_DATA, USERDATA = 1, 2, 3, 7
FN_READ_VAR, FN_WRITE_VAR = 0x04, 0x05
FN_REQUEST_DOWNLOAD, FN_DOWNLOAD_BLOCK, FN_DOWNLOAD_ENDED = 0x1A, 0x1B, 0x1C
FN_PLC_CONTROL, FN_PLC_STOP, FN_SETUP = 0x28, 0x29, 0xF0
AREA_DB = 0x84
TS_BYTE = 0x02
SZL_MODULE_ID, SZL_COMPONENT_ID, SZL_CPU_MODE = 0x0011, 0x001C, 0x0424
# Block type codes as they appear in S7 file names ("_0800001P" is OB1 in the passive file system).
BLOCK_TYPES = {"OB": "08", "DB": "0A", "SDB": "0B", "FC": "0C", "SFC": "0D", "FB": "0E", "SFB": "0F"}


def tpkt(payload: bytes) -> bytes:
    return struct.pack("!BBH", 3, 0, 4 + len(payload)) + payload


def cotp_connect(src_tsap: int, dst_tsap: int, *, confirm: bool, src_ref: int = 1, dst_ref: int = 0) -> bytes:
    """CR (client) or CC (server) with TPDU size 1024 and the TSAPs (0x0102 = PG to rack 0 slot 2)."""
    params = bytes([0xC0, 1, 0x0A]) + struct.pack("!BBHBBH", 0xC1, 2, src_tsap, 0xC2, 2, dst_tsap)
    code = 0xD0 if confirm else 0xE0
    pdu = bytes([code]) + struct.pack("!HHB", dst_ref, src_ref, 0) + params
    return tpkt(bytes([len(pdu)]) + pdu)


def s7(rosctr: int, pdu_ref: int, params: bytes, data: bytes = b"", error: int = 0) -> bytes:
    """An S7 PDU in a COTP DT TPDU (EOT set) in TPKT; ack and ack_data carry the 2-byte error field."""
    header = struct.pack("!BBHHHH", 0x32, rosctr, 0, pdu_ref & 0xFFFF, len(params), len(data))
    if rosctr in (ACK, ACK_DATA):
        header += struct.pack("!H", error)
    return tpkt(b"\x02\xf0\x80" + header + params + data)


def setup_communication(pdu_ref: int, pdu_size: int = 480, *, response: bool = False) -> bytes:
    params = struct.pack("!BBHHH", FN_SETUP, 0, 1, 1, pdu_size)
    return s7(ACK_DATA if response else JOB, pdu_ref, params)


def _db_item(db: int, start: int, length: int) -> bytes:
    # S7ANY address: byte offset << 3 gives the bit address in 3 bytes.
    return struct.pack("!BBBBHHB", 0x12, 0x0A, 0x10, TS_BYTE, length, db, AREA_DB) + (start * 8).to_bytes(3, "big")


def read_db(pdu_ref: int, items: Sequence[tuple[int, int, int]]) -> bytes:
    """Read var job for ``(db, start byte, length)`` items."""
    params = bytes([FN_READ_VAR, len(items)]) + b"".join(_db_item(*i) for i in items)
    return s7(JOB, pdu_ref, params)


def read_db_response(pdu_ref: int, values: Sequence[bytes]) -> bytes:
    data = b""
    for n, value in enumerate(values):
        # Transport size 0x04 (byte/word/dword): the length is in bits; items are padded to even length
        # except the last.
        data += struct.pack("!BBH", 0xFF, 0x04, len(value) * 8) + value
        if len(value) % 2 and n < len(values) - 1:
            data += b"\x00"
    return s7(ACK_DATA, pdu_ref, bytes([FN_READ_VAR, len(values)]), data)


def write_db(pdu_ref: int, db: int, start: int, value: bytes) -> bytes:
    params = bytes([FN_WRITE_VAR, 1]) + _db_item(db, start, len(value))
    data = struct.pack("!BBH", 0, 0x04, len(value) * 8) + value
    return s7(JOB, pdu_ref, params, data)


def write_response(pdu_ref: int, items: int = 1) -> bytes:
    return s7(ACK_DATA, pdu_ref, bytes([FN_WRITE_VAR, items]), b"\xff" * items)


# --- userdata: SZL reads ---


def szl_request(pdu_ref: int, seq: int, szl_id: int, index: int) -> bytes:
    # Parameter head 00 01 12, length 4, method 0x11 (request), type 4 / group 4 (CPU functions), subfunction 1.
    params = bytes([0x00, 0x01, 0x12, 0x04, 0x11, 0x44, 0x01, seq & 0xFF])
    data = struct.pack("!BBHHH", 0xFF, 0x09, 4, szl_id, index)
    return s7(USERDATA, pdu_ref, params, data)


def szl_response(pdu_ref: int, seq: int, szl_id: int, index: int, record_len: int, records: Sequence[bytes]) -> bytes:
    params = bytes([0x00, 0x01, 0x12, 0x08, 0x12, 0x84, 0x01, seq & 0xFF, 0x00, 0x00, 0x00, 0x00])
    body = struct.pack("!HHHH", szl_id, index, record_len, len(records)) + b"".join(records)
    data = struct.pack("!BBH", 0xFF, 0x09, len(body)) + body
    return s7(USERDATA, pdu_ref, params, data)


def _text(value: str, size: int) -> bytes:
    return value.encode("ascii", "replace")[:size].ljust(size, b"\x00")


def szl_0011_records(order_number: str, hardware: int, firmware: str) -> list[bytes]:
    """Module identification: index 1 the module, 6 the hardware, 7 the firmware ("V4.2.2")."""
    major, minor, patch = (int(p) for p in firmware.lstrip("Vv").split("."))
    mlfb = order_number.encode().ljust(20)
    return [
        struct.pack("!H20sHHH", 0x0001, mlfb, 0, hardware, 1),
        struct.pack("!H20sHHH", 0x0006, mlfb, 0, hardware, 1),
        struct.pack("!H20sHBBBB", 0x0007, b" " * 20, 0, ord("V"), major, minor, patch),
    ]


def szl_001c_records(plc_name: str, module_name: str, plant_id: str, serial: str, module_type: str,
                     location: str = "") -> list[bytes]:
    """Component identification: 34-byte records, index + 32 bytes of text (index 9: ids)."""
    texts = [(1, plc_name), (2, module_name), (3, plant_id), (4, "Original Siemens Equipment"), (5, serial),
             (7, module_type), (8, "MMC 267FF11F")]
    records = [struct.pack("!H", i) + _text(t, 32) for i, t in texts]
    # Index 9: manufacturer id 0x002a (Siemens), profile id 0xf600, profile-specific type 0x0001.
    records.append(struct.pack("!HHHH", 9, 0x002A, 0xF600, 0x0001) + bytes(26))
    records.append(struct.pack("!H", 11) + _text(location, 32))
    return records


def szl_0424_record(running: bool) -> bytes:
    """CPU mode, 20 bytes: event id 0x4302 (mode transition), bzu-id with the new mode in the low nibble
    (0x8 RUN, 0x4 STOP) and the previous one in the high nibble, then an 8-byte BCD timestamp."""
    bzu = 0x48 if running else 0x84
    return struct.pack("!HBB4xBBBB", 0x4302, 0xFF, bzu, 0, 0, 0, 0) + bytes.fromhex("2601050600000000")


# --- control and program transfer ---


def plc_stop(pdu_ref: int) -> bytes:
    service = b"P_PROGRAM"
    return s7(JOB, pdu_ref, bytes([FN_PLC_STOP]) + bytes(5) + bytes([len(service)]) + service)


def plc_control(pdu_ref: int, service: str, argument: bytes = b"") -> bytes:
    """PI service: ``P_PROGRAM`` (warm restart) with no argument, ``_INSE`` with ``block_argument``."""
    name = service.encode()
    params = bytes([FN_PLC_CONTROL]) + bytes(6) + b"\xfd" + struct.pack("!H", len(argument)) + argument
    return s7(JOB, pdu_ref, params + bytes([len(name)]) + name)


def block_argument(blocks: Sequence[tuple[str, int]]) -> bytes:
    """The ``_INSE``/``_DELE`` argument: block count, a zero byte, then ``<type><number:05d>P`` per block."""
    return bytes([len(blocks), 0]) + b"".join(f"{BLOCK_TYPES[t]}{n:05d}P".encode() for t, n in blocks)


def control_response(pdu_ref: int, function: int) -> bytes:
    return s7(ACK_DATA, pdu_ref, bytes([function]))


def block_filename(block_type: str, number: int) -> bytes:
    return f"_{BLOCK_TYPES[block_type]}{number:05d}P".encode()


def request_download(pdu_ref: int, block_type: str, number: int, load_len: int, mc7_len: int) -> bytes:
    name = block_filename(block_type, number)
    part2 = f"1{load_len:06d}{mc7_len:06d}".encode()
    params = struct.pack("!BBHIB", FN_REQUEST_DOWNLOAD, 0, 0x0100, 0, len(name)) + name + bytes([len(part2)]) + part2
    return s7(JOB, pdu_ref, params)


def download_job(pdu_ref: int, function: int, block_type: str, number: int) -> bytes:
    """Download block / download ended: jobs the *PLC* sends to the programming device to pull the block."""
    name = block_filename(block_type, number)
    return s7(JOB, pdu_ref, struct.pack("!BBHIB", function, 0, 0x0100 if function == FN_DOWNLOAD_BLOCK else 0, 0,
                                        len(name)) + name)


def download_block_response(pdu_ref: int, chunk: bytes, *, more: bool) -> bytes:
    return s7(ACK_DATA, pdu_ref, bytes([FN_DOWNLOAD_BLOCK, 0x01 if more else 0x00]),
              struct.pack("!HH", len(chunk), 0x00FB) + chunk)


def mc7_block(block_type: str, number: int, body: bytes) -> bytes:
    """A plausible MC7 block image: 36-byte header (magic 0x7070, type, number, lengths) then the code."""
    total = 36 + len(body)
    header = struct.pack("!HBBBBHI", 0x7070, 1, 1, 0x05, int(BLOCK_TYPES[block_type], 16), number, total)
    header += bytes(12) + struct.pack("!HHHH", 0, 0, 0, len(body)) + bytes(4)
    return header + body


FN_START_UPLOAD, FN_UPLOAD, FN_END_UPLOAD = 0x1D, 0x1E, 0x1F


def start_upload(pdu_ref: int, block_type: str, number: int) -> bytes:
    """Upload (PLC to programming device) of a block from the active file system ("A")."""
    name = f"_{BLOCK_TYPES[block_type]}{number:05d}A".encode()
    return s7(JOB, pdu_ref, struct.pack("!BBHIB", FN_START_UPLOAD, 0, 0, 0, len(name)) + name)


def start_upload_response(pdu_ref: int, upload_id: int, length: int) -> bytes:
    text = f"{length:07d}".encode()
    return s7(ACK_DATA, pdu_ref, struct.pack("!BBHIB", FN_START_UPLOAD, 0, 0x0100, upload_id, len(text)) + text)


def upload(pdu_ref: int, upload_id: int) -> bytes:
    return s7(JOB, pdu_ref, struct.pack("!BBHI", FN_UPLOAD, 0, 0, upload_id))


def upload_response(pdu_ref: int, chunk: bytes, *, more: bool) -> bytes:
    return s7(ACK_DATA, pdu_ref, bytes([FN_UPLOAD, 0x01 if more else 0x00]),
              struct.pack("!HH", len(chunk), 0x00FB) + chunk)


def end_upload(pdu_ref: int, upload_id: int) -> bytes:
    return s7(JOB, pdu_ref, struct.pack("!BBHI", FN_END_UPLOAD, 0, 0, upload_id))
