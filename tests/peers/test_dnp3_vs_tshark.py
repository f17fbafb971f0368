"""DNP3 events agree with tshark's dnp3 dissection, message by message.

tshark shows one ``dnp3`` layer per link frame; a message of ours is an application fragment (shown by
tshark in the layer of the frame completing the transport reassembly, the one with ``dnp3.al.func``) or
a link frame without user data (a layer without a transport header). Layers of segments that do not
complete a fragment, and of frames whose CRC failed, are not messages on either side.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from functools import cache
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
    our_messages,
)

FILES = corpus_files("dnp3")

# tshark needs to be told about DNP3 on a port other than 20000 (we recognise it by its link header).
EXTRA: dict[str, list[str]] = {
    "dnp3/zeek/dnp3_read_p20001.pcap": ["-d", "tcp.port==20001,dnp3"],
}

# Functions whose object headers tshark 4.0 dissects (packet-dnp.c dissect_dnp3_al); for the others
# (confirm, freeze at time, restarts, application and configuration functions, assign class, delay
# measurement, record current time, file info/authentication/abort, activate config, and the Secure
# Authentication functions 32, 33 and 131, added in later versions) it shows none.
TSHARK_OBJECT_FUNCTIONS = frozenset({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 20, 21, 25, 26, 27, 129, 130})

_EXAMPLE = "dnp3/cisagov-icsnpp-dnp3/dnp3_example.pcap"
_DATASET = "dnp3/emreekin-ics-pcaps/dnp3dataset_capture.pcap"
_MALFORMED = "dnp3/controlthings-ct-samples/dnp_malformed.pcap"
_NDPI = "dnp3/ndpi/dnp3.pcap"
_QUT = "dnp3/qut-2017-dnp3/qut-attacks-testing-infrequent-attacker-ip-arp.pcap"
_ITI = "dnp3/iti-ics-security-tools/"

# tshark 4.0 keys transport reassembly by the bare 6-bit transport sequence number
# (fragment_add_seq_single_aging(..., tr_seq, ...) in packet-dnp.c; later versions extend it with
# calculate_extended_seqno): a fragment whose segments wrap from 63 to 0 is never completed, and a stale
# segment with the same number is glued to a later one (tshark then shows a bogus "Confirm"). Every such
# frame carries a transport segment numbered 0 or 1; we reassemble by the specification (seq + 1 mod 64).
_SEQ_WRAP = "tshark 4.0 reassembles DNP3 transport segments by the 6-bit sequence number alone: fails at the 63->0 wrap"
# tshark 4.0 does not know these objects ("Unknown Object\Variation") and stops its object walk there:
# g51v2 (unsynchronized CTO), g120 (Secure Authentication) and g112 (virtual terminal output).
_UNKNOWN = "tshark 4.0 does not know {} and stops reading the object list there"

# Every remaining difference, with the reason we are right or why the two legitimately differ.
EXCEPTIONS: dict[tuple[str, int], str] = {
    **{(_EXAMPLE, f): _SEQ_WRAP for f in (18, 114, 210, 311, 810)},
    **{(_DATASET, f): _SEQ_WRAP for f in (
        570, 785, 2518, 2728, 3803, 4027, 4238, 4240, 4451, 4454, 4661, 4878, 5102, 5312, 5529, 6621, 6831, 8135,
        8345, 10515, 10739, 10949, 12904, 13121, 14633, 14852, 15069, 15279, 16154, 16374, 16598, 16814, 16816,
        17030, 17033, 17247, 17469, 18943, 19177, 19402, 21414, 21629, 21851, 22113)},
    **{(f"{_ITI}opendnp3-conformance-{name}.pcap", f): _UNKNOWN.format("g51v2") for name, frames in (
        ("8.14.2.12", (10,)), ("8.14.2.13", (10, 16)), ("8.14.2.15", (10,)), ("8.15.2", (10,)),
        ("8.22.2.12", (10,)), ("8.22.2.14", (10, 16)), ("8.22.2.15", (10,))) for f in frames},
    (f"{_ITI}operate_aggressive_mode.pcap", 1): _UNKNOWN.format("g120v3 (aggressive mode request)"),
    (f"{_ITI}write_vto_empty_string.pcap", 2): _UNKNOWN.format("g112 (virtual terminal)") + "; we walk the "
        "285 empty-string headers (qualifier 0x01, points 0..65535 of 0 bytes) up to our 256-header limit",
    # A fuzzing capture: g0 (device attribute) points with the undefined data type code 0. IEEE 1815 gives
    # every attribute a type, a length and a value; tshark reads no length octet for type 0 (nor for
    # octet strings, times or lists), so the two walks part after that point.
    **{(_MALFORMED, f): "fuzzed g0 attribute of data type 0: tshark reads no length octet for it, we do"
       for f in (156, 159, 161, 162, 163, 164, 169)},
    # TCP retransmissions of bytes already delivered: tshark dissects the copy again (flagged
    # tcp.analysis.retransmission / fast_retransmission), our stream reassembly delivers the bytes once.
    **{(_NDPI, f): "TCP retransmission: tshark dissects the retransmitted DNP3 frame again" for f in (
        11, 12, 35, 36, 50, 51, 89, 90, 104, 105, 131, 132, 140, 141, 194, 195, 239, 240, 362, 363, 440, 441, 455,
        456, 482, 483, 515, 516)},
    **{(_QUT, f): "TCP retransmission: tshark dissects the retransmitted DNP3 frame again" for f in (15851, 15858)},
    # ARP-spoofing man-in-the-middle capture: the attacker's forwarded copy of a response is one byte longer
    # than the server's (frame 12227: 36 bytes for 35), so the two copies disagree about the stream from
    # there; the server's next segments overlap the attacker's extra bytes, first-wins reassembly hands us
    # each from mid-frame (a garbage anomaly), tshark dissects each segment on its own.
    **{(_QUT, f): "MITM capture: server segment overlaps the attacker's longer forwarded copy; first-wins "
       "reassembly starts mid-frame" for f in (12236, 12249, 12262, 12281)},
}


def _walk(tree: Any, key: str) -> Iterator[Any]:
    """Every value of ``key`` in a tshark JSON tree, in document order (lists flattened)."""
    if isinstance(tree, dict):
        for k, v in tree.items():
            if k == key:
                yield from (v if isinstance(v, list) else [v])
            else:
                yield from _walk(v, key)
    elif isinstance(tree, list):
        for item in tree:
            yield from _walk(item, key)


def _message(func: str | None, tr_ctl: str | None, src: str | None, dst: str | None, iin: str | None,
             objects: list[str]) -> dict[str, Any] | None:
    """One tshark dnp3 layer as a message of ours, or None when it is not one (a segment of a longer
    fragment, a frame whose CRC failed)."""
    if func is None and tr_ctl is not None:
        return None
    fc = int(func) if func is not None else None
    objs = None
    if fc is not None and fc in TSHARK_OBJECT_FUNCTIONS:
        objs = [f"g{int(v, 16) >> 8}v{int(v, 16) & 0xFF}" for v in objects]
    return {"link_src": int(src) if src else None, "link_dst": int(dst) if dst else None,
            "has_apdu": fc is not None, "function_code": fc, "iin": int(iin, 16) if iin else None,
            "objects": objs}


def _tshark(path: Path, args: list[str]) -> str:
    return subprocess.run(["tshark", "-n", "-r", str(path), *args], capture_output=True, text=True,
                          check=True).stdout


# tshark runs mostly wait on its start-up: a few run ahead of the tests, in parallel.
_POOL = ThreadPoolExecutor(max_workers=4)
_RUNS: dict[str, Future[dict[int, list[dict[str, Any]]]]] = {}
LOOKAHEAD = 6


def _theirs(rel: str) -> dict[int, list[dict[str, Any]]]:
    i = FILES.index(rel) if rel in FILES else len(FILES)
    for r in [rel, *FILES[i + 1 : i + 1 + LOOKAHEAD]]:
        if r not in _RUNS:
            _RUNS[r] = _POOL.submit(_tshark_messages, r)
    return _RUNS[rel].result()


def _tshark_messages(rel: str) -> dict[int, list[dict[str, Any]]]:
    """frame -> tshark's messages. One fast ``-T fields`` pass; the JSON tree (which tells which layer a
    field belongs to) only for frames holding several link frames."""
    path = CORPUS / rel
    extra = EXTRA.get(rel, [])
    keys = ("frame.number", "dnp3.len", "dnp3.al.func", "dnp3.tr.ctl", "dnp3.src", "dnp3.dst", "dnp3.al.iin",
            "dnp3.al.obj")
    fields = [a for k in keys for a in ("-e", k)]
    out: dict[int, list[dict[str, Any]]] = {}
    multi = False
    for line in _tshark(path, ["-Y", "dnp3", "-T", "fields", "-E", "occurrence=a", *fields, *extra]).splitlines():
        frame, length, func, tr_ctl, src, dst, iin, objs = (line.split("\t") + [""] * 8)[:8]
        if "," in length:
            multi = True
            continue
        msg = _message(func or None, tr_ctl or None, src, dst, iin or None, [v for v in objs.split(",") if v])
        if msg is not None:
            out[int(frame)] = [msg]
    if multi:
        text = _tshark(path, ["-Y", "count(dnp3.len) > 1", "-T", "json", "--no-duplicate-keys", "-j", "frame dnp3",
                              "-J", "frame dnp3", *extra])
        for pkt in json.loads(text or "[]"):
            layers = pkt["_source"]["layers"]
            number = int(layers["frame"]["frame.number"])
            dnp3 = layers["dnp3"] if isinstance(layers["dnp3"], list) else [layers["dnp3"]]
            msgs = []
            for layer in dnp3:
                def first(key: str, layer: Layer = layer) -> Any:
                    return next(_walk(layer, key), None)
                msg = _message(first("dnp3.al.func"), first("dnp3.tr.ctl"), first("dnp3.src"), first("dnp3.dst"),
                               first("dnp3.al.iin"), list(_walk(layer, "dnp3.al.obj")))
                if msg is not None:
                    msgs.append(msg)
            if msgs:
                out[number] = msgs
    return out


FIELDS: dict[str, Any] = {name: (lambda m, name=name: m[name]) for name in
                          ("link_src", "link_dst", "has_apdu", "function_code", "iin", "objects")}


@cache
def _ours(rel: str) -> dict[int, list[dict[str, Any]]]:
    ours = our_messages(CORPUS / rel, "dnp3")
    for msgs in ours.values():
        for m in msgs:
            m["has_apdu"] = m["function_code"] is not None
    return ours


def _compare(rel: str) -> Agreement:
    return compare(rel, _ours(rel), _theirs(rel), FIELDS)


@pytest.mark.parametrize("rel", FILES)
def test_dnp3_file_agrees(rel: str) -> None:
    assert_file_agrees(_compare(rel), EXCEPTIONS)


def test_dnp3_corpus_agreement() -> None:
    total = assert_corpus_agrees((_compare(rel) for rel in FILES), min_messages=10000)
    seen = {(n, f) for n, f, *_ in total.differences} | {(n, f) for n, f, _ in total.unmatched}
    assert not set(EXCEPTIONS) - seen, f"stale exceptions: {sorted(set(EXCEPTIONS) - seen)}"
