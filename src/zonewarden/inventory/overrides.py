"""User overrides: what the user knows beats what the traffic suggests, and it survives new analyses.

A YAML file lists assets by address or id and the attributes to set:

    assets:
      - match: {ip: 10.10.1.11}          # or mac: 00:1b:1b:4e:81:0b, or asset_id: A8fd84b916380
        set: {name: Boiler PLC, role: plc, purdue_level: 1, zone: cell-1}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from zonewarden.errors import ConfigError
from zonewarden.model.assets import SCALAR_ATTRIBUTES, Asset

SETTABLE = frozenset(SCALAR_ATTRIBUTES) | {"name"}  # a name joins the asset's host names
MATCH_KEYS = frozenset({"ip", "mac", "asset_id"})


def parse_value(attribute: str, text: str) -> Any:
    """A CLI value in the attribute's type (Purdue levels and vendor ids are numbers)."""
    if attribute == "purdue_level":
        try:
            return float(text)
        except ValueError as exc:
            raise ConfigError(f"purdue_level must be a number (0, 1, 2, 3, 3.5, 4, 5), not {text!r}") from exc
    if attribute == "vendor_id":
        try:
            return int(text, 0)
        except ValueError as exc:
            raise ConfigError(f"vendor_id must be an integer, not {text!r}") from exc
    return text


def check_attribute(attribute: str) -> None:
    if attribute not in SETTABLE:
        raise ConfigError(f"cannot override {attribute!r}; settable: {', '.join(sorted(SETTABLE))}")


def load(path: str) -> list[tuple[dict[str, str], dict[str, Any]]]:
    try:
        doc = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read overrides: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("assets"), list):
        raise ConfigError(f"{path}: expected a mapping with an 'assets' list")
    out = []
    for n, entry in enumerate(doc["assets"], start=1):
        if not isinstance(entry, dict) or not isinstance(entry.get("match"), dict) or not isinstance(
                entry.get("set"), dict):
            raise ConfigError(f"{path}: assets entry {n} needs 'match' and 'set' mappings")
        match = {str(k): str(v) for k, v in entry["match"].items()}
        if not match or set(match) - MATCH_KEYS:
            raise ConfigError(f"{path}: assets entry {n}: match on one of {', '.join(sorted(MATCH_KEYS))}")
        for attribute in entry["set"]:
            check_attribute(str(attribute))
        out.append((match, {str(k): v for k, v in entry["set"].items()}))
    return out


def resolve(entries: list[tuple[dict[str, str], dict[str, Any]]], assets: list[Asset]) -> tuple[
        dict[str, dict[str, Any]], list[dict[str, str]]]:
    """Overrides keyed by asset id, and the matches that found no asset (reported to the user)."""
    found: dict[str, dict[str, Any]] = {}
    unmatched = []
    for match, values in entries:
        hits = [a for a in assets if all(
            (k == "ip" and v in a.ips) or (k == "mac" and v.lower() in a.macs) or (k == "asset_id" and v == a.asset_id)
            for k, v in match.items())]
        if not hits:
            unmatched.append(match)
        for a in hits:
            found.setdefault(a.asset_id, {}).update(values)
    return found, unmatched
