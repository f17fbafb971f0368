"""Compare zonewarden's inventory (assets and edges from ``analyze``) with the simulator's truth.

Pure functions over plain data, shared by the end-to-end test; a difference is returned as text so the
test (and a person reading its output) sees exactly what disagrees.
"""

from __future__ import annotations

from typing import Any

# Protocols zonewarden has analyzers for: their edges are named by protocol, others by transport/port.
ANALYZED = {"modbus", "s7comm", "s7comm_plus", "enip", "dnp3", "iec104", "bacnet", "opcua", "mqtt", "profinet_dcp"}


def zw_assets_by_address(assets: list[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for a in assets:
        for key in [*a.ips, *a.macs]:
            out[key] = a
    return out


def find(truth_asset: dict[str, Any], index: dict[str, Any]) -> Any:
    for key in [*truth_asset["ips"], *truth_asset["macs"]]:
        if key in index:
            return index[key]
    return None


def _norm(attribute: str, value: Any, truth_asset: dict[str, Any]) -> Any:
    if value is None:
        return None
    if attribute == "serial" and "enip" in truth_asset["identity"]:
        return int(str(value), 16)  # CIP serials are 32-bit numbers, written in hex either way
    if attribute == "device_type":
        return str(value).lower().replace(" ", "_")
    if attribute in ("vendor", "product_name", "firmware", "order_number"):
        return str(value).strip().lower()
    if attribute == "product_code":
        try:
            return int(str(value), 0)  # 258, "258" and "0x0102" are the same PROFINET device id
        except ValueError:
            return str(value)
    return str(value)


def identity_differences(truth_asset: dict[str, Any], zw: Any) -> list[str]:
    """Every disclosed attribute whose value zonewarden resolved differently (or not at all)."""
    diffs = []
    for attribute, protocols in sorted(truth_asset["disclosed"].items()):
        if attribute == "hostnames":
            want = set(truth_asset["hostnames"]) - {truth_asset["name"]}
            if not want <= set(zw.hostnames):
                diffs.append(f"hostnames: truth {sorted(want)} (via {'/'.join(protocols)}), zonewarden {zw.hostnames}")
            continue
        if attribute == "ips":
            if not set(truth_asset["ips"]) <= set(zw.ips):
                diffs.append(f"ips: truth {truth_asset['ips']} (via {'/'.join(protocols)}), zonewarden {zw.ips}")
            continue
        if attribute == "vendor_id":
            allowed = set(truth_asset["vendor_ids"].values())
            if zw.vendor_id not in allowed:
                diffs.append(f"vendor_id: truth one of {sorted(allowed)} (via {'/'.join(protocols)}), "
                             f"zonewarden {zw.vendor_id!r}")
            continue
        want = _norm(attribute, truth_asset[attribute], truth_asset)
        got = _norm(attribute, getattr(zw, attribute), truth_asset)
        if attribute == "vendor" and want and got and (want in got or got in want):
            continue
        if want != got:
            diffs.append(f"{attribute}: truth {truth_asset[attribute]!r} (via {'/'.join(protocols)}), "
                         f"zonewarden {getattr(zw, attribute)!r}")
    return diffs


def edge_key(edge: dict[str, Any]) -> tuple[str, str, str]:
    proto = edge["proto"] if edge["proto"] in ANALYZED else f"{edge['transport']}/{edge['port']}"
    return edge["client_ip"], edge["server_ip"], proto


def zw_edge_keys(assets: list[Any], edges: list[Any]) -> set[tuple[str, str, str]]:
    """zonewarden edges as (client, server, proto) with each asset named by its first IP (else its MAC)."""
    name = {a.asset_id: (a.ips[0] if a.ips else (a.macs[0] if a.macs else a.asset_id)) for a in assets}
    out = set()
    for e in edges:
        d = e if isinstance(e, dict) else e.__dict__
        out.add((name.get(d["client"], d["client"]), name.get(d["server"], d["server"]), d["proto"]))
    return out


def ip_aliases(truth: dict[str, Any]) -> dict[str, str]:
    """Every address of a multi-homed truth asset mapped to its first, as zonewarden names assets."""
    out = {}
    for a in truth["assets"]:
        for ip in a["ips"]:
            out[ip] = a["ips"][0]
    return out
