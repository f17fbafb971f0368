"""PROFINET DCP events agree with tshark's pn_dcp dissection, frame by frame.

Every capture of the corpus carrying DCP is compared (profinet/ and the Modbus capture mb2.pcap, whose
switch ports also saw DCP); the other PROFINET captures carry only RT data and DCE/RPC, which the DCP
analyzer must pass over silently, so they are compared too (both sides: no messages).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest

from tests.peers.events_peer import (
    Agreement,
    Layer,
    assert_corpus_agrees,
    assert_file_agrees,
    compare,
    corpus_files,
    iterate,
    our_messages,
    tshark_messages,
)
from zonewarden.protocols.profinet_dcp.codes import option_name

FILES = [*corpus_files("profinet"), "modbus/iti-ics-security-tools/mb2.pcap"]
LAYERS = ["pn_rt", "pn_dcp"]
EXTRA = ["-J", "frame " + " ".join(LAYERS)]

# Every remaining difference, with the reason we are right or why the two legitimately differ.
EXCEPTIONS: dict[tuple[str, int], str] = {}

# tshark names the suboption field after the option it belongs to.
_SUBOPTION_KEYS = {1: "suboption_ip", 2: "suboption_device", 3: "suboption_dhcp", 5: "suboption_control",
                   6: "suboption_deviceinitiative", 255: "suboption_all"}


def tshark_dcp(path: Path) -> dict[int, list[dict[str, Layer]]]:
    """tshark's DCP messages (frames with other PROFINET frame ids have a pn_rt layer only: dropped)."""
    frames = tshark_messages(path, LAYERS, extra=EXTRA)
    return {n: kept for n, msgs in frames.items() if (kept := [m for m in msgs if "pn_dcp" in m])}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [] if value is None else [value]


def _blocks(msg: dict[str, Layer]) -> list[Layer]:
    return _as_list(msg["pn_dcp"].get("pn_dcp.block"))


def _block_field(key: str, convert: Any = str) -> Any:
    """The first occurrence of a block field, None when no block carries it (nothing to compare)."""
    def read(msg: dict[str, Layer]) -> Any:
        for block in _blocks(msg):
            values = _as_list(block.get(f"pn_dcp.{key}"))
            if values:
                return convert(values[0])
        return None
    return read


def _dcp_field(key: str, convert: Any = int) -> Any:
    def read(msg: dict[str, Layer]) -> Any:
        value = msg["pn_dcp"].get(f"pn_dcp.{key}")
        return None if value is None else convert(value)
    return read


def _hex(value: str) -> int:
    return int(value, 16)


def _block_pairs(block: Layer) -> list[tuple[int, int]]:
    """A block's (option, suboption) and those it lists (device options), in order."""
    options = [int(o) for o in _as_list(block.get("pn_dcp.option"))]
    subs = {opt: [int(s) for s in _as_list(block.get(f"pn_dcp.{key}"))] for opt, key in _SUBOPTION_KEYS.items()}
    used = dict.fromkeys(subs, 0)
    pairs = []
    for option in options:
        if option not in subs or used[option] >= len(subs[option]):
            return pairs  # manufacturer options: tshark keeps no suboption we can pair
        pairs.append((option, subs[option][used[option]]))
        used[option] += 1
    return pairs


def _options(msg: dict[str, Layer]) -> list[str] | None:
    blocks = _blocks(msg)
    if not blocks:
        return None  # Get request selectors sit unpaired in the layer
    return [option_name(*pairs[0]) for block in blocks if (pairs := _block_pairs(block))]


def _supported_options(msg: dict[str, Layer]) -> list[str] | None:
    for block in _blocks(msg):
        pairs = _block_pairs(block)
        if pairs and pairs[0] == (2, 5):
            return [option_name(*p) for p in pairs[1:]]
    return None


def _block_error(msg: dict[str, Layer]) -> int | None:
    errors = [int(e) for block in _blocks(msg) for e in _as_list(block.get("pn_dcp.block_error"))]
    return next((e for e in errors if e), 0) if errors else None


def _device_instance(msg: dict[str, Layer]) -> int | None:
    high = _block_field("suboption_device_instance", int)(msg)
    low = _block_field("instance_id_low", int)(msg)
    return None if high is None or low is None else high << 8 | low


FIELDS: dict[str, Any] = {
    "frame_id": lambda m: int(m["pn_rt"]["pn_rt.frame_id"]) if "pn_rt" in m else None,
    "service_id": _dcp_field("service_id"),
    "service_type": _dcp_field("service_type"),
    "xid": _dcp_field("xid", _hex),
    "response_delay": _dcp_field("response_delay"),
    "options": _options,
    "name_of_station": _block_field("suboption_device_nameofstation"),
    "vendor_name": _block_field("suboption_device_devicevendorvalue"),
    "vendor_id": _block_field("suboption_vendor_id", _hex),
    "device_id": _block_field("suboption_device_id", _hex),
    "device_role": _block_field("suboption_device_role", _hex),
    "alias_name": _block_field("suboption_device_aliasname"),
    "device_instance": _device_instance,
    "mac_address": _block_field("suboption_ip_mac_address"),
    "ip_address": _block_field("suboption_ip_ip"),
    "netmask": _block_field("suboption_ip_subnetmask"),
    "gateway": _block_field("suboption_ip_standard_gateway"),
    "ip_block_info": _block_field("suboption_ip_block_info", int),
    "supported_options": _supported_options,
    "block_qualifier": _block_field("block_qualifier", int),
    "block_error": _block_error,
}


@functools.cache
def _compare(rel: str, path: Path) -> Agreement:
    """One capture's agreement (cached: the per-file and the corpus test share one tshark run)."""
    return compare(rel, our_messages(path, "profinet_dcp"), tshark_dcp(path), FIELDS)


@pytest.mark.parametrize("rel", FILES)
def test_profinet_dcp_file_agrees(rel: str) -> None:
    (_, path), = list(iterate([rel]))
    assert_file_agrees(_compare(rel, path), EXCEPTIONS)


def test_profinet_dcp_corpus_agreement() -> None:
    assert_corpus_agrees((_compare(rel, path) for rel, path in iterate(FILES)), min_messages=39)
