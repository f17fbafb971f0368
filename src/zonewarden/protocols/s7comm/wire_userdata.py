"""S7comm userdata (ROSCTR 7): parameter head, data head, and SZL (system status list) reads. Pure.

SZL 0x0011 (module identification) and 0x001C (component identification) are decoded into identity
fields; 0x0424/0x0124 (current mode, last mode transition) into the CPU operating mode.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from zonewarden.errors import Malformed
from zonewarden.protocols.s7comm.codes import CPU_MODES, GROUP_CPU, GROUP_CYCLIC, SUBFUNC_READ_SZL, USERDATA_REQUEST
from zonewarden.protocols.s7comm.wire_items import Item, parse_items, parse_read_results

# Records decoded per SZL answer: a 960-byte PDU holds at most a few dozen; reassembled answers more.
MAX_SZL_RECORDS = 512
SZL_MODULE_ID = 0x11  # partial list number (low byte of the SZL id)
SZL_COMPONENT_ID = 0x1C
# SZL lists whose first record is a mode transition: 0x0424 current mode, 0x0124 last mode transition.
SZL_MODE_TRANSITIONS = frozenset({0x0124, 0x0424})
# Cyclic-data subfunctions carrying variable items: 1 cyclic transfer, 5 change driven, 7 change driven (mod).
CYCLIC_WITH_ITEMS = frozenset({0x01, 0x05, 0x07})


@dataclass(frozen=True, slots=True)
class Userdata:
    """Userdata parameter and data heads; ``payload`` is the data after the 4-byte data head."""

    method: int  # 0x11 request, 0x12 response
    type: int  # high nibble: 0 push, 4 request, 8 response
    group: int  # function group (low nibble)
    subfunction: int
    sequence_number: int
    data_unit_ref: int | None = None
    last_data_unit: bool = True  # False: more fragments of this answer follow
    error_code: int | None = None
    return_code: int | None = None
    transport_size: int | None = None
    payload: bytes = b""
    # cyclic data subscriptions (group 2): the subscribed variables, or the return codes of the values
    item_count: int | None = None
    items: list[Item] = field(default_factory=list)
    return_codes: list[int] = field(default_factory=list)

    @property
    def is_szl(self) -> bool:
        return self.group == GROUP_CPU and self.subfunction == SUBFUNC_READ_SZL


def parse_userdata(param: bytes, data: bytes, problems: list[str]) -> Userdata:
    if len(param) < 8:
        raise Malformed(f"userdata parameter of {len(param)} bytes, need 8")
    if param[0:3] not in (b"\x00\x01\x12", b"\x00\x01\x11"):
        problems.append(f"userdata parameter head {param[0:3].hex()} unexpected")
    length, method, type_group, subfunction, seq = param[3], param[4], param[5], param[6], param[7]
    dur = last = err = None
    if length >= 8 and len(param) >= 12:
        dur, last, err = param[8], param[9], struct.unpack_from("!H", param, 10)[0]
    return_code = tsize = None
    payload = b""
    if len(data) >= 4:
        return_code, tsize, dlen = data[0], data[1], struct.unpack_from("!H", data, 2)[0]
        payload = data[4 : 4 + dlen]
        if len(payload) < dlen:
            problems.append(f"userdata data length {dlen} but {len(payload)} bytes")
    elif data:
        problems.append(f"userdata data part of {len(data)} bytes, need 4")
    group, kind = type_group & 0x0F, type_group >> 4
    count, items, codes = None, [], []
    if group == GROUP_CYCLIC and subfunction in CYCLIC_WITH_ITEMS and len(payload) >= 2:
        # reserved byte, item count; requests: interval time base and time, then the variables
        count = payload[1]
        if kind == USERDATA_REQUEST:
            items = parse_items(payload[4:], count, problems, pad_odd=True)
        else:
            codes = parse_read_results(payload[2:], count, problems)
    return Userdata(method, kind, group, subfunction, seq, dur, last != 0x01, err, return_code, tsize, payload,
                    count, items, codes)


@dataclass(frozen=True, slots=True)
class SzlAnswer:
    """An SZL read response: the list header and its records (each ``record_length`` bytes)."""

    szl_id: int
    szl_index: int
    record_length: int
    record_count: int
    records: list[bytes]
    complete: bool  # every announced record was present


def parse_szl_request(payload: bytes) -> tuple[int, int] | None:
    """SZL id and index of a read SZL request (None for a follow-up request without them)."""
    if len(payload) < 4:
        return None
    szl_id, index = struct.unpack_from("!HH", payload)
    return szl_id, index


def parse_szl_answer(payload: bytes) -> SzlAnswer | None:
    """The SZL list of a (reassembled) read SZL response; None when even the 8-byte header is missing."""
    if len(payload) < 8:
        return None
    szl_id, index, rec_len, count = struct.unpack_from("!HHHH", payload)
    records: list[bytes] = []
    if rec_len:
        pos = 8
        for _ in range(min(count, MAX_SZL_RECORDS)):  # progress: pos grows by rec_len > 0
            if pos + rec_len > len(payload):
                break
            records.append(payload[pos : pos + rec_len])
            pos += rec_len
    return SzlAnswer(szl_id, index, rec_len, count, records, len(records) == count)


def _text(raw: bytes) -> str | None:
    text = raw.split(b"\x00", 1)[0].decode("latin-1").strip()
    return text or None


def version_text(ausbg: int, ausbe: int) -> str | None:
    """Firmware version from the ausbg/ausbe words: 'V' + major, then minor and patch (0x5603, 0x0207: V3.2.7)."""
    letter = ausbg >> 8
    if not 0x41 <= letter <= 0x5A:
        return None
    return f"{chr(letter)}{ausbg & 0xFF}.{ausbe >> 8}.{ausbe & 0xFF}"


def _module_identification(records: list[bytes], out: dict[str, str | int]) -> None:
    """SZL xy11 records: index (2), MLFB order number (20), module type id (2), ausbg (2), ausbe (2)."""
    for rec in records:
        if len(rec) < 28:
            continue
        index = struct.unpack_from("!H", rec)[0]
        mlfb = _text(rec[2:22])
        ausbg, ausbe = struct.unpack_from("!HH", rec, 24)
        if index in (0x0001, 0x0006) and mlfb:
            out.setdefault("order_number", mlfb)
        if index == 0x0006:
            out["hardware_version"] = str(ausbg)
        elif index == 0x0007 and (fw := version_text(ausbg, ausbe)):
            out["firmware_version"] = fw


# SZL xy1C record index -> identity field holding its text (index, then up to 32 characters).
_COMPONENT_TEXT = {1: "plc_name", 2: "module_name", 3: "plant_id", 4: "copyright", 5: "serial_number",
                   7: "module_type_name", 8: "memory_card_serial", 0xB: "location"}


def _component_identification(records: list[bytes], out: dict[str, str | int]) -> None:
    for rec in records:
        if len(rec) < 4:
            continue
        index = struct.unpack_from("!H", rec)[0]
        if index in _COMPONENT_TEXT:
            if text := _text(rec[2:34]):
                out[_COMPONENT_TEXT[index]] = text
        elif index == 9 and len(rec) >= 8:
            out["manufacturer_id"], out["profile_id"], out["profile_spec_type"] = struct.unpack_from("!HHH", rec, 2)
        elif index == 0xA and len(rec) >= 34:
            if text := _text(rec[2:28]):
                out["oem_copyright"] = text
            out["oem_id"] = struct.unpack_from("!H", rec, 28)[0]
            out["oem_add_id"] = struct.unpack_from("!I", rec, 30)[0]


def szl_identity(answer: SzlAnswer) -> dict[str, str | int]:
    """Identity fields an SZL answer carries (order number, versions, names, serial...), else empty."""
    out: dict[str, str | int] = {}
    number = answer.szl_id & 0xFF
    if number == SZL_MODULE_ID:
        _module_identification(answer.records, out)
    elif number == SZL_COMPONENT_ID:
        _component_identification(answer.records, out)
    elif answer.szl_id in SZL_MODE_TRANSITIONS and answer.records and len(answer.records[0]) >= 4:
        # record: event id (2), ae (1), bzu-id (1): requested mode in the low nibble
        out["cpu_mode"] = CPU_MODES.get(answer.records[0][3] & 0x0F, f"unknown-{answer.records[0][3] & 0x0F}")
    return out
