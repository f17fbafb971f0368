"""Merge one run's inventory into what the store already knows, apply user overrides, list the changes."""

from __future__ import annotations

from typing import Any

from zonewarden.inventory.resolution import resolve
from zonewarden.model.assets import Asset, Edge, Evidence

TRACKED = ("vendor", "product_name", "product_code", "firmware", "hardware_revision", "serial", "role",
           "purdue_level", "order_number")
OVERRIDE_CONFIDENCE = 1.0


def asset_from_dict(d: dict[str, Any]) -> Asset:
    fields = {k: v for k, v in d.items() if k != "evidence"}
    asset = Asset(**fields)
    asset.evidence = [Evidence(**e) for e in d.get("evidence", [])]
    return asset


def apply_overrides(asset: Asset, overrides: dict[str, Any]) -> None:
    """A user's statement beats any observation; kept as evidence so the report shows where it came from."""
    asset.evidence = [e for e in asset.evidence if e.proto != "override"]
    for attribute, value in overrides.items():
        asset.evidence.append(Evidence(attribute, value, "override", asset.last_seen or 0.0, None, OVERRIDE_CONFIDENCE))
    resolve(asset)
    for attribute, value in overrides.items():
        if attribute in ("zone", "hostnames") or attribute not in Asset.__dataclass_fields__:
            if attribute == "zone":
                asset.zone = value
            continue
        setattr(asset, attribute, value)


def merge_evidence(old: list[Evidence], new: list[Evidence]) -> list[Evidence]:
    """One statement (attribute, value, protocol) once: a new run's copy replaces the stored one when it is as
    confident and later, so the evidence shows the latest message that said so (and resolve() sees a value
    stated again after a different one as current)."""
    kept = {(e.attribute, repr(e.value), e.proto): e for e in old}
    for e in new:
        key = (e.attribute, repr(e.value), e.proto)
        was = kept.get(key)
        if was is None or (e.confidence, e.ts) > (was.confidence, was.ts):
            kept[key] = e
    return list(kept.values())


def merge(stored: dict[str, dict[str, Any]], new_assets: list[Asset], stored_edges: list[dict[str, Any]],
          new_edges: list[Edge], overrides: dict[str, dict[str, Any]], previous: dict[str, list[str]] | None = None,
          ) -> tuple[list[Asset], list[dict[str, Any]], list[dict[str, Any]]]:
    """Returns (the assets after the merge, the edges after the merge, changes).

    ``stored`` and ``stored_edges`` need only hold what the run touches (its assets, the assets with
    overrides, the edges between its assets): what they leave out is unchanged. An asset has vanished when
    the previous analysis saw it and this one does not: ``previous`` maps those asset ids to their addresses
    (default: every asset of ``stored``)."""
    changes: list[dict[str, Any]] = []
    merged: dict[str, Asset] = {aid: asset_from_dict(d) for aid, d in stored.items()}
    for new in new_assets:
        old = merged.get(new.asset_id)
        if old is None:
            merged[new.asset_id] = new
            changes.append({"kind": "new_asset", "asset_id": new.asset_id, "ips": new.ips, "macs": new.macs,
                            "role": new.role})
            continue
        before = {k: getattr(old, k) for k in TRACKED}
        old.ips = sorted(set(old.ips) | set(new.ips))
        old.macs = sorted(set(old.macs) | set(new.macs))
        old.hostnames = sorted(set(old.hostnames) | set(new.hostnames))
        old.mac_vendor = old.mac_vendor or new.mac_vendor
        old.first_seen = min(x for x in (old.first_seen, new.first_seen) if x is not None)
        old.last_seen = max(x for x in (old.last_seen, new.last_seen) if x is not None)
        for side in ("served", "used"):
            old.protocols[side] = sorted(set(old.protocols.get(side, [])) | set(new.protocols[side]))
        old.evidence = merge_evidence(old.evidence, new.evidence)
        resolve(old)
        for k in TRACKED:
            if before[k] is not None and getattr(old, k) != before[k]:
                changes.append({"kind": "changed_attribute", "asset_id": old.asset_id, "attribute": k,
                                "old": before[k], "new": getattr(old, k)})
    seen = {a.asset_id for a in new_assets}
    if previous is None:
        previous = {aid: d.get("ips", []) for aid, d in stored.items()}
    for aid in sorted(set(previous) - seen):
        changes.append({"kind": "vanished_asset", "asset_id": aid, "ips": previous[aid]})
    for aid, values in overrides.items():
        if aid in merged:
            apply_overrides(merged[aid], values)
    edges = {(e["client"], e["server"], e["proto"]): dict(e) for e in stored_edges}
    for e in new_edges:
        key = (e.client, e.server, e.proto)
        old_edge = edges.get(key)
        if old_edge is None:
            edges[key] = e.as_dict()
            changes.append({"kind": "new_edge", "client": e.client, "server": e.server, "proto": e.proto})
            continue
        for op, n in e.operations.items():
            if op not in old_edge["operations"]:
                changes.append({"kind": "new_operation", "client": e.client, "server": e.server, "proto": e.proto,
                                "operation": op})
            old_edge["operations"][op] = old_edge["operations"].get(op, 0) + n
        for k in ("messages", "flows", "packets", "bytes"):
            old_edge[k] += getattr(e, k)
        old_edge["first_seen"] = min(x for x in (old_edge["first_seen"], e.first_seen) if x is not None)
        old_edge["last_seen"] = max(x for x in (old_edge["last_seen"], e.last_seen) if x is not None)
    return sorted(merged.values(), key=lambda a: a.asset_id), list(edges.values()), changes
