"""S7comm-plus (protocol id 0x72) over ISO-on-TCP: what TIA Portal and WinCC speak to S7-1200/1500 CPUs.

The connection opens with a COTP CR/CC naming the CPU's root object instead of a rack/slot TSAP
("SIMATIC-ROOT-HMI" for an HMI, "SIMATIC-ROOT-ES" for the engineering system). Then every message is one
PDU: header ``72 <version> <data length:2>``, data part, trailer ``72 <version> 00 00``. Version 1 carries the
CreateObject that opens the server session, version 2 the session setup that hands the CPU the session key;
later messages are version 3 (S7-1500 firmware >= 2.0, S7-1200 >= 4.3), whose data part opens with an
integrity part (digest length 0x20 and a 32-byte digest made with that key, counted in the data length).

The data part: opcode (0x31 request, 0x32 response), reserved:2, function:2, reserved:2, sequence number:2,
in requests the session id:4, transport flags:1, then the function's fields. Requests on an object end with
the object qualifier; version 2/3 messages then carry an integrity id (a counter in requests, the request's
counter plus its sequence number in responses); every data part ends with four zero bytes. Numbers inside
are VLQ-coded: 7 bits a byte, most significant first, high bit set on all but the last byte.

S7comm-plus is not publicly specified: the layouts follow Wireshark's s7comm_plus plugin (Thomas Wiens),
which decodes these messages field by field, and captures of TIA Portal/WinCC with S7-1200/1500 CPUs.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from zonewarden.simulate.enc_s7 import tpkt

PORT = 102
PROTOCOL_ID = 0x72
V1, V2, V3 = 1, 2, 3
REQUEST, RESPONSE = 0x31, 0x32
FN_EXPLORE, FN_CREATE_OBJECT, FN_DELETE_OBJECT = 0x04BB, 0x04CA, 0x04D4
FN_SET_MULTI_VARIABLES, FN_GET_MULTI_VARIABLES, FN_GET_VAR_SUBSTREAMED = 0x0542, 0x054C, 0x0586
# Transport flags byte: 0x36 on the session's CreateObject, 0x34 on everything after it.
FLAGS_SETUP, FLAGS = 0x36, 0x34
TSAP_HMI, TSAP_ES = b"SIMATIC-ROOT-HMI", b"SIMATIC-ROOT-ES"
CALLING_TSAP_HMI, CALLING_TSAP_ES = 0x0620, 0x0600  # as WinCC and TIA Portal send them
DIGEST_LENGTH = 32
# Data unit size in a COTP DT: TPDU size 1024 less the 3-byte DT header.
_DT_CHUNK = 1021
_END = bytes(4)
_BYTES = [bytes((n,)) for n in range(256)]

# Element ids of the object tree, and value data types.
START_OBJECT, TERMINATE_OBJECT, ATTRIBUTE = 0xA1, 0xA2, 0xA3
T_BOOL, T_USINT, T_UINT, T_UDINT = 0x01, 0x02, 0x03, 0x04
T_REAL, T_RID, T_AID, T_BLOB, T_WSTRING, T_STRUCT = 0x0E, 0x12, 0x13, 0x14, 0x15, 0x17
ARRAY, ADDRESS_ARRAY = 0x10, 0x20  # data type flags

# Object and attribute ids (the plugin's id_number_names).
ID_AS_ROOT, ID_HW_CONFIGURATION, ID_PLC_PROGRAM, ID_CPU_PROXY = 1, 2, 3, 49
ID_AS_ROOT_CLASS, ID_CONTAINER_CLASS, ID_PLC_PROGRAM_CLASS = 2478, 2480, 2520
ID_GET_NEW_RID_ON_SERVER = 211
ID_OBJECT_VARIABLE_TYPE_NAME = 233
ID_CLASS_SUBSCRIPTIONS = 255
ID_OBJECT_SERVER_SESSION_CONTAINER, ID_CLASS_SERVER_SESSION, ID_NULL_SERVER_SESSION = 285, 287, 288
ID_SESSION_CLIENT_ID, ID_SESSION_USER, ID_SESSION_APPLICATION, ID_SESSION_HOST = 289, 296, 297, 298
ID_SESSION_ROLE, ID_SESSION_CLIENT_RID, ID_SESSION_CLIENT_COMMENT = 299, 300, 301
ID_SESSION_CHALLENGE, ID_SESSION_VERSION = 303, 306
# ServerSessionVersion is a struct (LID_SessionVersionStruct) of OMS/PAOM versions and two PAOM strings.
ID_VERSION_STRUCT, ID_VERSION_PAOM_STRING, ID_VERSION_PROJECT_PAOM_STRING, ID_VERSION_FORMAT = 314, 319, 320, 321
ID_VERSION_NUMBERS = {315: 0x140, 316: 0x140, 317: 0x804040, 318: 0x804040}
ID_SESSION_KEY, ID_SESSION_KEY_STRUCT = 1830, 1800
ID_KEY_VERSION, ID_KEY_SECURITY_LEVEL, ID_KEY_ENCRYPTED = 1801, 1802, 1805
ID_OBJECT_QUALIFIER, ID_PARENT_RID, ID_COMPOSITION_AID, ID_KEY_QUALIFIER = 1256, 1257, 1258, 1259
ID_DB_VALUE_ACTUAL = 2550  # DB.ValueActual: the access area of a data block's current values
ID_IM0_DATA = 3753  # SubmoduleAbstr.IuM0DataActual
SIEMENS = 0x002A  # PROFINET/PROFIBUS vendor id
DB_AREA = 0x8A0E0000  # item address base area of data block n: DB_AREA | n
SESSION_KEY_MAGIC = 0xFEE1DEAD
SESSION_KEY_LENGTH = 0xB4


def vlq(value: int) -> bytes:
    """Unsigned VLQ: 7 bits a byte, most significant group first, 0x80 on every byte but the last."""
    if value < 0x80:
        return _BYTES[value]
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def cotp_connect(calling: int, called: bytes, *, confirm: bool, src_ref: int, dst_ref: int = 0) -> bytes:
    """CR (client: TSAPs first, size last, as TIA Portal/WinCC send it) or CC (CPU: size first)."""
    tsaps = struct.pack("!BBH", 0xC1, 2, calling) + bytes([0xC2, len(called)]) + called
    size = bytes([0xC0, 1, 0x0A])  # TPDU size 1024
    params = size + tsaps if confirm else tsaps + size
    pdu = bytes([0xD0 if confirm else 0xE0]) + struct.pack("!HHB", dst_ref, src_ref, 0) + params
    return tpkt(bytes([len(pdu)]) + pdu)


def digest(key: bytes, data: bytes) -> bytes:
    """The integrity digest: a keyed SHA-256 of the data part, standing in for the HMAC-SHA256 with the session
    key that real peers compute (random-looking, deterministic, and nothing a passive observer can check)."""
    return hashlib.sha256(key + data).digest()


def pdu(version: int, data: bytes, key: bytes = b"") -> bytes:
    """One message as one S7comm-plus PDU with trailer, in COTP DTs (EOT on the last) in TPKTs."""
    if version == V3:
        data = bytes([DIGEST_LENGTH]) + digest(key, data) + data
    tsdu = struct.pack("!BBH", PROTOCOL_ID, version, len(data)) + data + bytes((PROTOCOL_ID, version, 0, 0))
    if len(tsdu) <= _DT_CHUNK:
        return tpkt(b"\x02\xf0\x80" + tsdu)
    chunks = [tsdu[i : i + _DT_CHUNK] for i in range(0, len(tsdu), _DT_CHUNK)]
    last = len(chunks) - 1
    return b"".join(tpkt(bytes([0x02, 0xF0, 0x80 if n == last else 0]) + c) for n, c in enumerate(chunks))


def _request(function: int, seq: int, session: int, flags: int = FLAGS) -> bytes:
    return struct.pack("!BHHHHIB", REQUEST, 0, function, 0, seq & 0xFFFF, session, flags)


def _response(function: int, seq: int, flags: int = FLAGS) -> bytes:
    return struct.pack("!BHHHHB", RESPONSE, 0, function, 0, seq & 0xFFFF, flags)


# --- values, attributes, objects ---


def value(data_type: int, payload: bytes, flags: int = 0) -> bytes:
    return bytes([flags, data_type]) + payload


def wstring(text: str) -> bytes:
    raw = text.encode()
    return value(T_WSTRING, vlq(len(raw)) + raw)


def udint(number: int) -> bytes:
    return value(T_UDINT, vlq(number))


def blob(raw: bytes) -> bytes:
    return value(T_BLOB, vlq(0) + vlq(len(raw)) + raw)  # root id 0, size, bytes


def struct_value(type_id: int, members: Sequence[tuple[int, bytes]]) -> bytes:
    """A struct: its type id, then id/value members up to a 0 terminator."""
    return value(T_STRUCT, struct.pack("!I", type_id)) + b"".join(vlq(i) + v for i, v in members) + b"\x00"


def attribute(attribute_id: int, encoded: bytes) -> bytes:
    return bytes([ATTRIBUTE]) + vlq(attribute_id) + encoded


def start_object(relation_id: int, class_id: int) -> bytes:
    """Object start: relation id:4, class id, class flags 0, attribute id 0 (VLQs)."""
    return bytes([START_OBJECT]) + struct.pack("!I", relation_id) + vlq(class_id) + b"\x00\x00"


@lru_cache(maxsize=1)
def object_qualifier() -> bytes:
    """ObjectQualifier: ParentRID 0 (RID), CompositionAID 0 (AID), KeyQualifier 0 (UDInt), terminator."""
    return (struct.pack("!I", ID_OBJECT_QUALIFIER) + vlq(ID_PARENT_RID) + value(T_RID, bytes(4))
            + vlq(ID_COMPOSITION_AID) + value(T_AID, b"\x00") + vlq(ID_KEY_QUALIFIER) + udint(0) + b"\x00")


def paom_string(order_number: str, firmware: str) -> str:
    """The CPU's version string in its session answer: ``1;<order number>;V<major>.<minor>``."""
    major, _, rest = firmware.lstrip("Vv").partition(".")
    return f"1;{order_number};V{major}.{rest.partition('.')[0] or 0}"


def _session_version(paom: str) -> bytes:
    members = [(i, udint(n)) for i, n in ID_VERSION_NUMBERS.items()]
    members += [(ID_VERSION_PAOM_STRING, wstring(paom)), (ID_VERSION_PROJECT_PAOM_STRING, wstring(paom)),
                (ID_VERSION_FORMAT, value(T_UINT, b"\x00\x03"))]
    return struct_value(ID_VERSION_STRUCT, members)


# --- session: CreateObject (V1), session setup (SetMultiVariables on the session object) ---


@dataclass(frozen=True)
class Client:
    """What a client says about itself when it opens a session."""

    session_name: str  # "ServerSession_<hex>"
    client_id: str  # "1:::6.0::<network adapter>.TCPIP.1"
    host: str
    role: int  # ServerSessionRole: 1 engineering, 2 HMI
    client_rid: int


def create_object_request(seq: int, client: Client) -> bytes:
    """Data part of the CreateObject that opens a server session (to version 1, session 288)."""
    attributes = [(ID_OBJECT_VARIABLE_TYPE_NAME, wstring(client.session_name)),
                  (ID_SESSION_CLIENT_ID, wstring(client.client_id)), (ID_SESSION_USER, wstring("")),
                  (ID_SESSION_APPLICATION, wstring("")), (ID_SESSION_HOST, wstring(client.host)),
                  (ID_SESSION_ROLE, udint(client.role)),
                  (ID_SESSION_CLIENT_RID, value(T_RID, struct.pack("!I", client.client_rid))),
                  (ID_SESSION_CLIENT_COMMENT, wstring(""))]
    subscriptions = (start_object(ID_GET_NEW_RID_ON_SERVER, ID_CLASS_SUBSCRIPTIONS)
                     + attribute(ID_OBJECT_VARIABLE_TYPE_NAME, wstring("SubscriptionContainer"))
                     + bytes([TERMINATE_OBJECT]))
    return (_request(FN_CREATE_OBJECT, seq, ID_NULL_SERVER_SESSION, FLAGS_SETUP)
            + struct.pack("!I", ID_OBJECT_SERVER_SESSION_CONTAINER) + udint(0) + bytes(4)
            + start_object(ID_GET_NEW_RID_ON_SERVER, ID_CLASS_SERVER_SESSION)
            + b"".join(attribute(i, v) for i, v in attributes) + subscriptions + bytes([TERMINATE_OBJECT]) + _END)


def create_object_response(seq: int, session: int, name: str, comment: str, challenge: bytes, paom: str) -> bytes:
    """The CPU's answer: the new session's object ids, then the session object with the challenge and the
    CPU's version struct (whose PAOM strings carry its order number and firmware major.minor)."""
    attributes = [(ID_OBJECT_VARIABLE_TYPE_NAME, wstring(name)), (ID_SESSION_ROLE, udint(0x20000002)),
                  (ID_SESSION_CLIENT_COMMENT, wstring(comment)),
                  (ID_SESSION_CHALLENGE, value(T_USINT, vlq(len(challenge)) + challenge, ARRAY)),
                  (ID_SESSION_VERSION, _session_version(paom))]
    return (_response(FN_CREATE_OBJECT, seq, FLAGS_SETUP) + vlq(0) + bytes([2]) + vlq(session) + vlq(session + 1)
            + start_object(ID_NULL_SERVER_SESSION, ID_CLASS_SERVER_SESSION)
            + b"".join(attribute(i, v) for i, v in attributes) + bytes([TERMINATE_OBJECT]) + _END)


def session_key(encrypted: bytes) -> bytes:
    """The SessionKey struct: key version, security level and the encrypted key blob (magic 0xFEE1DEAD and its
    length, both little-endian, then key ids, the encrypted seed, IV and challenge)."""
    raw = struct.pack("<II", SESSION_KEY_MAGIC, SESSION_KEY_LENGTH) + encrypted[: SESSION_KEY_LENGTH - 8]
    raw = raw.ljust(SESSION_KEY_LENGTH, b"\x00")
    return struct_value(ID_SESSION_KEY_STRUCT, [(ID_KEY_VERSION, udint(0)),
                                                (ID_KEY_SECURITY_LEVEL, value(T_USINT, b"\x00")),
                                                (ID_KEY_ENCRYPTED, blob(raw))])


def session_setup_request(seq: int, session: int, encrypted_key: bytes, paom: str) -> bytes:
    """SetMultiVariables on the session object: the session key and the CPU's version struct echoed back. It is
    sent as version 2 without integrity part or id: the key it carries is what later digests are made with."""
    items = [(ID_SESSION_KEY, session_key(encrypted_key)), (ID_SESSION_VERSION, _session_version(paom))]
    return (_request(FN_SET_MULTI_VARIABLES, seq, session) + struct.pack("!I", session) + vlq(len(items))
            + vlq(len(items)) + b"".join(vlq(i) for i, _ in items)
            + b"".join(vlq(n) + v for n, (_, v) in enumerate(items, start=1)) + b"\x00"
            + object_qualifier() + _END)


def set_multi_variables_response(seq: int, integrity_id: int) -> bytes:
    """Success: return value 0 and an empty error list (integrity id 0 when answering the session setup)."""
    return _response(FN_SET_MULTI_VARIABLES, seq) + vlq(0) + b"\x00" + vlq(integrity_id) + _END


# --- reading and writing tags ---


@dataclass(frozen=True)
class Tag:
    """A variable addressed by symbol: the symbol CRC, its data block and its LID (the variable's id in the
    block). The CPU refuses the access if the CRC does not match its program (a changed block)."""

    crc: int
    db: int
    lid: int


def _address(tag: Tag) -> bytes:
    # symbol CRC, access base area (DB n), LID nesting depth 2, access area DB.ValueActual, the LID
    return vlq(tag.crc) + vlq(DB_AREA | tag.db) + vlq(2) + vlq(ID_DB_VALUE_ACTUAL) + vlq(tag.lid)


@lru_cache(maxsize=256)  # an HMI asks for the same tags every cycle
def _addresses(tags: tuple[Tag, ...]) -> bytes:
    return vlq(len(tags)) + vlq(5 * len(tags)) + b"".join(_address(t) for t in tags)


_REAL, _FALSE, _TRUE = bytes([0, T_REAL]), bytes([0, T_BOOL, 0]), bytes([0, T_BOOL, 1])


def _tag_value(v: float | bool) -> bytes:
    if isinstance(v, bool):
        return _TRUE if v else _FALSE
    return _REAL + struct.pack(">f", v)


def get_multi_variables_request(seq: int, session: int, integrity_id: int, tags: Sequence[Tag]) -> bytes:
    return (_request(FN_GET_MULTI_VARIABLES, seq, session) + bytes(4) + _addresses(tuple(tags)) + object_qualifier()
            + vlq(integrity_id) + _END)


def get_multi_variables_response(seq: int, integrity_id: int, values: Sequence[float | bool]) -> bytes:
    """Return value 0, item number/value pairs, terminator, an empty error list."""
    items = b"".join(vlq(n) + _tag_value(v) for n, v in enumerate(values, start=1))
    return _response(FN_GET_MULTI_VARIABLES, seq) + vlq(0) + items + b"\x00\x00" + vlq(integrity_id) + _END


def set_multi_variables_request(seq: int, session: int, integrity_id: int,
                                writes: Sequence[tuple[Tag, float | bool]]) -> bytes:
    """Write tags by symbol: object 0, the addresses, then item number/value pairs and a fill byte."""
    return (_request(FN_SET_MULTI_VARIABLES, seq, session) + bytes(4) + _addresses(tuple(t for t, _ in writes))
            + b"".join(vlq(n) + _tag_value(v) for n, (_, v) in enumerate(writes, start=1)) + b"\x00"
            + object_qualifier() + vlq(integrity_id) + _END)


# --- engineering: Explore, reading an object as a stream, DeleteObject ---


def explore_request(seq: int, session: int, integrity_id: int, object_id: int, attribute_ids: Sequence[int]) -> bytes:
    """Explore an object (ASRoot, PLCProgram...): children recursively, no parents, the listed attributes."""
    return (_request(FN_EXPLORE, seq, session) + struct.pack("!I", object_id) + vlq(0) + bytes([1, 0, 1])
            + bytes([0, len(attribute_ids)]) + b"".join(vlq(i) for i in attribute_ids) + vlq(integrity_id) + _END)


def explore_response(seq: int, integrity_id: int, object_id: int, class_id: int, name: str,
                     children: Sequence[tuple[int, int, str]]) -> bytes:
    """The explored object with its type name, and its children ``(relation id, class id, name)``."""
    tree = start_object(object_id, class_id) + attribute(ID_OBJECT_VARIABLE_TYPE_NAME, wstring(name))
    for relation, child_class, child_name in children:
        tree += (start_object(relation, child_class) + attribute(ID_OBJECT_VARIABLE_TYPE_NAME, wstring(child_name))
                 + bytes([TERMINATE_OBJECT]))
    # The integrity id sits before the object tree in this answer.
    return (_response(FN_EXPLORE, seq) + vlq(0) + struct.pack("!I", object_id) + vlq(integrity_id) + tree
            + bytes([TERMINATE_OBJECT]) + _END)


def get_var_substreamed_request(seq: int, session: int, integrity_id: int, object_id: int, attribute_id: int) -> bytes:
    """Read one attribute of an object as a stream (an address array of one id), e.g. the CPU's I&M0 record."""
    return (_request(FN_GET_VAR_SUBSTREAMED, seq, session) + struct.pack("!I", object_id)
            + value(T_UDINT, vlq(1) + vlq(attribute_id), ADDRESS_ARRAY) + object_qualifier() + b"\x00\x01"
            + vlq(integrity_id) + _END)


def get_var_substreamed_response(seq: int, integrity_id: int, raw: bytes) -> bytes:
    return _response(FN_GET_VAR_SUBSTREAMED, seq) + vlq(0) + b"\x00" + blob(raw) + vlq(integrity_id) + _END


def im0_record(order_number: str, serial: str, firmware: str, hardware: int) -> bytes:
    """Identification & maintenance record 0 (as PROFINET defines it): block header (type 0x0020, length 56,
    version 1.0), vendor id 0x002a (Siemens), order number (20), serial number (16), hardware revision, software
    revision ('V', major, minor, patch), revision counter, profile id, profile type, I&M version 1.1, the I&M
    records supported (1-3)."""
    major, minor, patch = (int(p) for p in [*firmware.lstrip("Vv").split("."), "0", "0"][:3])
    return (struct.pack("!HHBBH", 0x0020, 56, 1, 0, SIEMENS) + order_number.encode().ljust(20)[:20]
            + serial.encode().ljust(16)[:16]
            + struct.pack("!HBBBBHHHBBH", hardware, ord("V"), major, minor, patch, 0, 0, 1, 1, 1, 0x000E))


def delete_object_request(seq: int, session: int, integrity_id: int, object_id: int) -> bytes:
    """Close the session: delete the session object."""
    return (_request(FN_DELETE_OBJECT, seq, session) + struct.pack("!I", object_id) + b"\x00"
            + object_qualifier() + vlq(integrity_id) + _END)


def delete_object_response(seq: int, integrity_id: int, object_id: int) -> bytes:
    return _response(FN_DELETE_OBJECT, seq) + vlq(0) + struct.pack("!I", object_id) + vlq(integrity_id) + _END
