"""Every analyzer zonewarden has, discovered: each package under ``zonewarden.protocols`` that exports
``SPECS`` (a tuple of AnalyzerSpec) is registered. Adding a protocol means adding its package."""

from __future__ import annotations

import importlib
import pkgutil

from zonewarden import protocols
from zonewarden.protocols.base import AnalyzerSpec


def _discover() -> tuple[AnalyzerSpec, ...]:
    found: list[AnalyzerSpec] = []
    for info in sorted(pkgutil.iter_modules(protocols.__path__), key=lambda m: m.name):
        if not info.ispkg:
            continue
        module = importlib.import_module(f"{protocols.__name__}.{info.name}")
        found.extend(getattr(module, "SPECS", ()))
    names = [s.name for s in found]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise RuntimeError(f"analyzer names registered twice: {sorted(duplicates)}")
    return tuple(found)


ANALYZERS: tuple[AnalyzerSpec, ...] = _discover()


def analyzer_names() -> list[str]:
    return sorted(spec.name for spec in ANALYZERS)


def event_protocols() -> list[str]:
    """Every ``proto`` an event can carry (what ``zonewarden events --protocol`` selects)."""
    return sorted({p for spec in ANALYZERS for p in spec.event_protos})
