"""IEC 60870-5-104 events agree with tshark's iec60870_104/iec60870_asdu dissection, message by message.

Besides the contract fields (apci, type_id, cot, common_address, ioas) every field tshark shows is compared:
sequence numbers, U function, SQ, object count, P/N and T bits, originator, and per object the value,
quality, CP56Time2a time tag, select/execute bit and qualifier.
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path
from typing import Any

import pytest

from tests.peers.events_peer import (
    CORPUS,
    Agreement,
    Layer,
    assert_corpus_agrees,
    assert_file_agrees,
    compare,
    corpus_files,
    iterate,
    our_messages,
    summarize,
    tshark_messages,
    unexplained,
)
from zonewarden.protocols.iec104.codes import SELECT_EXECUTE_TYPES, U_FUNCTIONS

FILES = corpus_files("iec104")
LAYERS = ["iec60870_104", "iec60870_asdu"]
# -J keeps the per-object subtrees ("IOA: n") that -j alone reports as "filtered".
EXTRA = ["-J", "frame " + " ".join(LAYERS)]

# Every remaining difference, with the reason we are right or why the two legitimately differ.
EXCEPTIONS: dict[tuple[str, int], str] = {}

# Types whose objects tshark 4.0 decodes one by one; for the others it shows the first IOA and raw octets.
TSHARK_DECODED_TYPES = frozenset({*range(1, 17), 21, *range(30, 38), 41, *range(45, 52), *range(58, 65), 70, 100, 101,
                                  103, 105, 107, 110, 111, 112})
# tshark reads the 32-bit bitstring (BSI) big-endian; IEC 60870-5-4 transmits multi-octet fields least
# significant octet first (as lib60870 and we read it), so its value is compared byte-swapped.
BSI_TYPES = frozenset({7, 8, 33, 51, 64})


def tshark_iec104(path: Path) -> dict[int, list[dict[str, Layer]]]:
    """tshark's messages with each ASDU paired to its own I-format APCI.

    tshark lists a frame's APCI layers and ASDU layers separately; S and U formats have no ASDU, so
    pairing by position (what tshark_messages does) would shift ASDUs onto the wrong APCIs.
    """
    frames = tshark_messages(path, LAYERS, extra=EXTRA)
    for number, messages in frames.items():
        apcis = [m["iec60870_104"] for m in messages if "iec60870_104" in m]
        asdus = [m["iec60870_asdu"] for m in messages if "iec60870_asdu" in m]
        paired: list[dict[str, Layer]] = []
        for apci in apcis:
            message: dict[str, Layer] = {"iec60870_104": apci}
            if int(apci.get("iec60870_104.type", "0"), 16) == 0 and asdus:
                message["iec60870_asdu"] = asdus.pop(0)
            paired.append(message)
        frames[number] = paired
    return frames


class Approx:
    """Equal to a list of numbers within tshark's printing precision (floats with 6 significant digits)."""

    def __init__(self, values: list[Any]) -> None:
        self.values = values

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, list) or len(other) != len(self.values):
            return False
        return all(a == b or (isinstance(a, float) and isinstance(b, int | float)
                              and math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-9))
                   for a, b in zip(self.values, other, strict=True))

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return hash(tuple(self.values))

    def __repr__(self) -> str:
        return f"~{self.values!r}"


def _apci(msg: dict[str, Layer]) -> Layer:
    return msg.get("iec60870_104", {})


def _asdu(msg: dict[str, Layer]) -> Layer | None:
    return msg.get("iec60870_asdu")


def _int(value: Any) -> int | None:
    return int(value, 0) if isinstance(value, str) else None


def _bool(value: Any) -> bool | None:
    return value == "1" if isinstance(value, str) else None


def _asdu_field(key: str, convert: Any = _int) -> Any:
    def read(msg: dict[str, Layer]) -> Any:
        asdu = _asdu(msg)
        return None if asdu is None else convert(asdu.get(key))
    return read


def _objects(asdu: Layer) -> list[Layer]:
    """The per-object subtrees ("IOA: n") in wire order (--no-duplicate-keys merges repeats into a list)."""
    out: list[Layer] = []
    for key, value in asdu.items():
        if key.startswith("IOA: "):
            out.extend(value if isinstance(value, list) else [value])
    return out


def _type(asdu: Layer) -> int:
    return int(asdu["iec60870_asdu.typeid"])


def _ioas(msg: dict[str, Layer]) -> list[int] | None:
    asdu = _asdu(msg)
    if asdu is None:
        return None
    objects = _objects(asdu)
    if objects:
        return [int(o["iec60870_asdu.ioa"]) for o in objects]
    direct = asdu.get("iec60870_asdu.ioa")  # types tshark does not decode: the first address only
    return [int(direct)] if isinstance(direct, str) else []


def _tree(obj: Layer, name: str) -> Layer:
    """A field group's subtree; tshark 4.0 puts some groups (the counter reading) flat in the object."""
    tree = obj.get(f"iec60870_asdu.{name}_tree")
    return tree if isinstance(tree, dict) else obj


def _value(obj: Layer, type_id: int) -> int | float | None:
    for name, key in (("siq", "siq.spi"), ("diq", "diq.dpi"), ("vti", "vti.v"), ("sco", "sco.on"), ("dco", "dco.on"),
                      ("rco", "rco.up"), ("bcr", "bcr.count"), ("coi", "coi_r")):
        tree = _tree(obj, name)
        if f"iec60870_asdu.{key}" in tree:
            return int(tree[f"iec60870_asdu.{key}"], 0)
    if "iec60870_asdu.bitstring" in obj:
        raw = int(obj["iec60870_asdu.bitstring"], 0)
        return int.from_bytes(raw.to_bytes(4, "big"), "little") if type_id in BSI_TYPES else raw
    if "iec60870_asdu.scalval" in obj:
        return int(obj["iec60870_asdu.scalval"])
    for key in ("iec60870_asdu.normval", "iec60870_asdu.float"):
        if key in obj:
            return float(obj[key])
    return None


def _quality(obj: Layer) -> int | None:
    for name in ("siq", "diq"):
        if f"iec60870_asdu.{name}" in obj:
            return int(obj[f"iec60870_asdu.{name}"], 16) & 0xF0
    if "iec60870_asdu.qds" in obj:
        return int(obj["iec60870_asdu.qds"], 16)
    bcr = _tree(obj, "bcr")
    if "iec60870_asdu.bcr.count" in bcr:
        return sum(bit for flag, bit in (("cy", 0x20), ("ca", 0x40), ("iv", 0x80))
                   if bcr.get(f"iec60870_asdu.bcr.{flag}") == "1")
    return None


def _time(obj: Layer) -> str | None:
    t = _tree(obj, "cp56time")
    if "iec60870_asdu.cp56time.ms" not in t:
        return None
    part = {k.rsplit(".", 1)[1]: int(v) for k, v in t.items()
            if k.startswith("iec60870_asdu.cp56time.") and isinstance(v, str)}
    year = part["year"] + (2000 if part["year"] < 70 else 1900)
    return (f"{year:04d}-{part['month']:02d}-{part['day']:02d}T{part['hour']:02d}:{part['min']:02d}:"
            f"{part['ms'] // 1000:02d}.{part['ms'] % 1000:03d}")


def _per_object(extract: Any, approx: bool = False) -> Any:
    def read(msg: dict[str, Layer]) -> Any:
        asdu = _asdu(msg)
        if asdu is None or _type(asdu) not in TSHARK_DECODED_TYPES:
            return None
        type_id = _type(asdu)
        got = [extract(o, type_id) for o in _objects(asdu)]
        if all(v is None for v in got):
            return _Absent()
        return Approx(got) if approx else got
    return read


class _Absent:
    """Expected value "no such list": equal to our null (tshark shows nothing for this type)."""

    def __eq__(self, other: object) -> bool:
        return other is None

    def __ne__(self, other: object) -> bool:
        return other is not None

    def __hash__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "None"


def _first_object(msg: dict[str, Layer]) -> tuple[int, Layer] | None:
    asdu = _asdu(msg)
    if asdu is None or _type(asdu) not in TSHARK_DECODED_TYPES:
        return None
    objects = _objects(asdu)
    return (_type(asdu), objects[0]) if objects else None


def _select(msg: dict[str, Layer]) -> Any:
    first = _first_object(msg)
    if first is None:
        return None
    type_id, obj = first
    if type_id not in SELECT_EXECUTE_TYPES:
        return _Absent()
    for name in ("sco", "dco", "rco", "qos"):
        se = _tree(obj, name).get(f"iec60870_asdu.{name}.se")
        if se is not None:
            return se == "1"
    return None


def _qualifier(msg: dict[str, Layer]) -> Any:
    first = _first_object(msg)
    if first is None:
        return None
    _, obj = first
    for name, key in (("sco", "sco.qu"), ("dco", "dco.qu"), ("rco", "rco.qu"), ("qos", "qos.ql")):
        value = _tree(obj, name).get(f"iec60870_asdu.{key}")
        if value is not None:
            return int(value, 0)
    for key in ("qoi", "qcc", "qrp", "qpm"):
        value = obj.get(f"iec60870_asdu.{key}")
        if value is not None:
            return int(value, 0)
    return _Absent()


def _apci_format(msg: dict[str, Layer]) -> str | None:
    value = _apci(msg).get("iec60870_104.type")
    return {0: "I", 1: "S", 3: "U"}.get(int(value, 16)) if value is not None else None


def _u_function(msg: dict[str, Layer]) -> str | None:
    value = _apci(msg).get("iec60870_104.utype")
    return U_FUNCTIONS.get(int(value, 16), f"unknown-{int(value, 16)}") if value is not None else None


FIELDS: dict[str, Any] = {
    "apci": _apci_format,
    "send_seq": lambda m: _int(_apci(m).get("iec60870_104.tx")),
    "recv_seq": lambda m: _int(_apci(m).get("iec60870_104.rx")),
    "u_function": _u_function,
    "type_id": _asdu_field("iec60870_asdu.typeid"),
    "sq": _asdu_field("iec60870_asdu.sq", _bool),
    "num_objects": _asdu_field("iec60870_asdu.numix"),
    "cot": _asdu_field("iec60870_asdu.causetx"),
    "negative": _asdu_field("iec60870_asdu.nega", _bool),
    "test": _asdu_field("iec60870_asdu.test", _bool),
    "originator": _asdu_field("iec60870_asdu.oa"),
    "common_address": _asdu_field("iec60870_asdu.addr"),
    "ioas": _ioas,
    "values": _per_object(_value, approx=True),
    "quality": _per_object(lambda o, t: _quality(o)),
    "time_tags": _per_object(lambda o, t: _time(o)),
    "select": _select,
    "qualifier": _qualifier,
}


@functools.cache
def _compare(rel: str, path: Path) -> Agreement:
    """One capture's agreement (cached: the per-file and the corpus test share one tshark run)."""
    return compare(rel, our_messages(path, "iec104"), tshark_iec104(path), FIELDS)


@pytest.mark.parametrize("rel", FILES)
def test_iec104_file_agrees(rel: str) -> None:
    (_, path), = list(iterate([rel]))
    result = _compare(rel, path)
    assert result.theirs > 0, summarize(result)  # every capture listed carries IEC 104
    assert_file_agrees(result, EXCEPTIONS)


def test_iec104_corpus_agreement() -> None:
    assert_corpus_agrees((_compare(rel, path) for rel, path in iterate(FILES)), min_messages=700)


# A second, independent peer: the Wireshark JSON export (an older Wireshark, layers named 104apci/104asdu)
# that the capture's uploader shipped for 59 frames of an edited copy of iec104.pcap. Its frame numbers
# are its own, so frames are matched by timestamp; its duplicate JSON keys hold a frame's several APDUs.
_EXPORT_CAPTURE = "iec104/emreekin-ics-pcaps/iec104.pcap"
_EXPORT = CORPUS / (_EXPORT_CAPTURE + ".expected") / "wireshark-json-export" / "apci.json"


def _merge_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        key = key.replace("104apci", "iec60870_104").replace("104asdu", "iec60870_asdu")
        if key in out:
            out[key] = [*(out[key] if isinstance(out[key], list) else [out[key]]), value]
        else:
            out[key] = value
    return out


def test_iec104_agrees_with_the_wireshark_export() -> None:
    ours = our_messages(CORPUS / _EXPORT_CAPTURE, "iec104")
    frame_at = {round(m["ts"] * 1e6): frame for frame, msgs in ours.items() for m in msgs}
    theirs: dict[int, list[dict[str, Layer]]] = {}
    for packet in json.loads(_EXPORT.read_text(), object_pairs_hook=_merge_duplicates):
        layers = packet["_source"]["layers"]
        frame = frame_at[round(float(layers["frame"]["frame.time_epoch"]) * 1e6)]
        apcis, asdus = _as_list(layers.get("iec60870_104")), _as_list(layers.get("iec60870_asdu"))
        theirs[frame] = []
        for apci in apcis:
            message: dict[str, Layer] = {"iec60870_104": apci}
            if int(apci.get("iec60870_104.type", "0"), 16) == 0 and asdus:
                message["iec60870_asdu"] = asdus.pop(0)
            theirs[frame].append(message)
    result = compare(_EXPORT_CAPTURE, {f: ours[f] for f in theirs if f in ours}, theirs, FIELDS)
    print(summarize(result))
    assert result.theirs == 80 and result.compared == 80, summarize(result)
    assert not unexplained(result, EXCEPTIONS), "\n".join(unexplained(result, EXCEPTIONS))


# Zeek baselines: the corpus holds no iec104.log (ICSNPP's IEC 104 plugin was not run on these captures),
# only the conn.log of old Bro runs shipped with two captures. They still pin down which connections
# carry IEC 104: each conn.log connection on port 2404 must have our events, and ours no others.
_ZEEK_CONN_LOGS = {
    "iec104/emreekin-ics-pcaps/iec104.pcap": "zeek-automayt/IEC_60870__iec104/conn.log",
    "iec104/automayt-ics-pcap/IEC104_SQ.pcapng": "zeek-automayt/IEC_60870__IEC104_SQ/conn.log",
}


def _zeek_rows(path: Path) -> list[dict[str, str]]:
    """A Zeek TSV log as dicts by the ``#fields`` header ("-" kept as is)."""
    fields: list[str] = []
    rows = []
    for line in path.read_text().splitlines():
        if line.startswith("#fields"):
            fields = line.split("\t")[1:]
        elif line and not line.startswith("#"):
            rows.append(dict(zip(fields, line.split("\t"), strict=True)))
    return rows


@pytest.mark.parametrize("rel", sorted(_ZEEK_CONN_LOGS))
def test_iec104_connections_match_the_zeek_conn_log(rel: str) -> None:
    log = CORPUS / (rel + ".expected") / _ZEEK_CONN_LOGS[rel]
    zeek = {frozenset({(r["id.orig_h"], int(r["id.orig_p"])), (r["id.resp_h"], int(r["id.resp_p"]))})
            for r in _zeek_rows(log) if r["proto"] == "tcp" and 2404 in (int(r["id.orig_p"]), int(r["id.resp_p"]))}
    ours = {frozenset({(m["src"], m["sport"]), (m["dst"], m["dport"])})
            for msgs in our_messages(CORPUS / rel, "iec104").values() for m in msgs}
    assert zeek and ours == zeek


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [] if value is None else [value]
