"""S7comm (protocol id 0x32) PDUs: header, job / ack_data parameters and their items. Pure.

A PDU arrives whole (one COTP TSDU). Raises NeedMoreData when the header is cut short and Malformed
when the bytes cannot be S7comm; inconsistencies inside a framed PDU are reported in ``problem``.
Userdata (ROSCTR 7) lives in wire_userdata.py.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from zonewarden.errors import Malformed, NeedMoreData
from zonewarden.protocols.s7comm.codes import (
    BLOCK_FUNCTIONS,
    BLOCK_TYPES,
    FN_DOWNLOAD_BLOCK,
    FN_DOWNLOAD_ENDED,
    FN_END_UPLOAD,
    FN_PI_SERVICE,
    FN_PLC_STOP,
    FN_READ_VAR,
    FN_REQUEST_DOWNLOAD,
    FN_SETUP,
    FN_START_UPLOAD,
    FN_UPLOAD,
    FN_WRITE_VAR,
    ROSCTR,
    ROSCTR_ACK,
    ROSCTR_ACK_DATA,
    ROSCTR_JOB,
    ROSCTR_USERDATA,
    S7_PROTOCOL_ID,
)
from zonewarden.protocols.s7comm.wire_items import MAX_ITEMS, Item, parse_items, parse_read_results
from zonewarden.protocols.s7comm.wire_userdata import Userdata, parse_userdata


@dataclass(slots=True)
class S7Pdu:
    """What one S7comm PDU says; fields its ROSCTR and function do not carry stay None."""

    rosctr: int
    pdu_ref: int
    param_length: int
    data_length: int
    error_class: int | None = None
    error_code: int | None = None
    function: int | None = None
    item_count: int | None = None
    items: list[Item] = field(default_factory=list)
    return_codes: list[int] = field(default_factory=list)
    max_amq_calling: int | None = None
    max_amq_called: int | None = None
    pdu_size: int | None = None
    function_status: int | None = None
    filename: str | None = None
    block_type: str | None = None
    block_number: int | None = None
    filesystem: str | None = None
    upload_id: int | None = None
    block_length: int | None = None
    pi_service: str | None = None
    pi_blocks: list[str] = field(default_factory=list)
    pi_argument: str | None = None
    userdata: Userdata | None = None
    problems: list[str] = field(default_factory=list)


def parse_s7(tsdu: bytes) -> S7Pdu:
    """One S7comm PDU (a complete COTP TSDU starting with 0x32)."""
    if len(tsdu) < 10:
        raise NeedMoreData("S7comm header incomplete")
    if tsdu[0] != S7_PROTOCOL_ID:
        raise Malformed(f"protocol id 0x{tsdu[0]:02x} is not 0x32")
    rosctr = tsdu[1]
    if rosctr not in ROSCTR:
        raise Malformed(f"ROSCTR {rosctr} unknown")
    pdu_ref, plen, dlen = struct.unpack_from("!HHH", tsdu, 4)
    pdu = S7Pdu(rosctr, pdu_ref, plen, dlen)
    hlen = 10
    if rosctr in (ROSCTR_ACK, ROSCTR_ACK_DATA):
        if len(tsdu) < 12:
            raise NeedMoreData("S7comm ack header incomplete")
        pdu.error_class, pdu.error_code = tsdu[10], tsdu[11]
        hlen = 12
    end = hlen + plen + dlen
    if end > len(tsdu):
        pdu.problems.append(f"parameter+data lengths {plen}+{dlen} exceed the {len(tsdu) - hlen} bytes after "
                            "the header")
    elif end < len(tsdu):
        pdu.problems.append(f"{len(tsdu) - end} bytes after the data part")
    param = tsdu[hlen : hlen + plen]
    data = tsdu[hlen + plen : end]
    if rosctr == ROSCTR_USERDATA:
        pdu.userdata = parse_userdata(param, data, pdu.problems)
    elif param:
        pdu.function = param[0]
        _parse_function(pdu, param, data)
    return pdu


def _parse_function(pdu: S7Pdu, param: bytes, data: bytes) -> None:
    fn, job = pdu.function, pdu.rosctr == ROSCTR_JOB
    if fn == FN_SETUP:
        if len(param) >= 8:
            pdu.max_amq_calling, pdu.max_amq_called, pdu.pdu_size = struct.unpack_from("!HHH", param, 2)
        else:
            pdu.problems.append(f"setup communication parameter of {len(param)} bytes, need 8")
    elif fn in (FN_READ_VAR, FN_WRITE_VAR):
        pdu.item_count = param[1] if len(param) > 1 else None
        if job:
            pdu.items = parse_items(param[2:], pdu.item_count or 0, pdu.problems)
        elif pdu.rosctr == ROSCTR_ACK_DATA and pdu.item_count is not None:
            if fn == FN_READ_VAR:
                pdu.return_codes = parse_read_results(data, pdu.item_count, pdu.problems)
            else:
                pdu.return_codes = list(data[: min(pdu.item_count, MAX_ITEMS)])
    elif fn in BLOCK_FUNCTIONS:
        _parse_block_control(pdu, param)
    elif fn == FN_PI_SERVICE and job:
        _parse_pi_service(pdu, param)
    elif fn == FN_PLC_STOP and job and len(param) >= 7:
        # function, 5 unknown bytes, service name length, service name ("P_PROGRAM")
        pdu.pi_service = param[7 : 7 + param[6]].decode("latin-1")


def _plc_filename(pdu: S7Pdu, raw: bytes) -> None:
    """A block file name (length byte + text); ``_0A00001P`` is DB 1 in the passive file system."""
    if not raw:
        return
    text = raw[1 : 1 + raw[0]].decode("latin-1")
    pdu.filename = text
    if len(text) == 9 and text[0] == "_" and text[1:3] in BLOCK_TYPES and text[3:8].isdigit():
        pdu.block_type = BLOCK_TYPES[text[1:3]]
        pdu.block_number = int(text[3:8])
        pdu.filesystem = text[8]


def _parse_block_control(pdu: S7Pdu, param: bytes) -> None:
    """Request download / download block / download ended / start upload / upload / end upload."""
    fn, job = pdu.function, pdu.rosctr == ROSCTR_JOB
    if len(param) >= 2:
        pdu.function_status = param[1]
    if not job:
        if fn == FN_START_UPLOAD and len(param) > 8:
            # ack: upload id, then the block length as a decimal string
            pdu.upload_id = int.from_bytes(param[4:8], "big")
            text = param[9 : 9 + param[8]].decode("latin-1").strip()
            pdu.block_length = int(text) if text.isdigit() else None
        return
    if fn in (FN_REQUEST_DOWNLOAD, FN_DOWNLOAD_BLOCK, FN_DOWNLOAD_ENDED):
        _plc_filename(pdu, param[8:])
        if fn == FN_REQUEST_DOWNLOAD and len(param) > 18:
            # part 2: length, one unknown character, load memory length and MC7 length as 6-digit strings
            start = 9 + param[8]
            load = param[start + 2 : start + 8].decode("latin-1").strip()
            pdu.block_length = int(load) if load.isdigit() else None
    elif fn == FN_START_UPLOAD:
        pdu.upload_id = int.from_bytes(param[4:8], "big") if len(param) >= 8 else None
        _plc_filename(pdu, param[8:])
    elif fn in (FN_UPLOAD, FN_END_UPLOAD) and len(param) >= 8:
        pdu.upload_id = int.from_bytes(param[4:8], "big")


def _parse_pi_service(pdu: S7Pdu, param: bytes) -> None:
    """PLC control: 7 unknown bytes, parameter block (length-prefixed), service name (length-prefixed)."""
    if len(param) < 11:
        pdu.problems.append(f"PI service parameter of {len(param)} bytes, need at least 11")
        return
    (block_len,) = struct.unpack_from("!H", param, 8)
    block = param[10 : 10 + block_len]
    pos = 10 + block_len
    if pos >= len(param):
        pdu.problems.append("PI service name missing")
        return
    pdu.pi_service = param[pos + 1 : pos + 1 + param[pos]].decode("latin-1")
    if pdu.pi_service in ("_INSE", "_DELE") and len(block) >= 2:
        # block count, one unknown byte, then 8 characters per block: type (2), number (5), file system (1)
        for n in range(min(block[0], MAX_ITEMS)):
            entry = block[2 + 8 * n : 10 + 8 * n].decode("latin-1")
            if len(entry) < 8:
                pdu.problems.append(f"PI block list truncated after {n} of {block[0]}")
                break
            kind = BLOCK_TYPES.get(entry[:2], entry[:2])
            number = int(entry[2:7]) if entry[2:7].isdigit() else None
            pdu.pi_blocks.append(f"{kind}{entry[2:7] if number is None else number}")
            if n == 0:  # the first block also fills the block fields, as for up/download
                pdu.filename, pdu.block_type, pdu.block_number, pdu.filesystem = entry, kind, number, entry[7]
    elif block:
        pdu.pi_argument = block.decode("latin-1")
