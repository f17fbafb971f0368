"""Every analyzer zonewarden has. Adding a protocol: write its package, then add its SPEC here."""

from __future__ import annotations

from zonewarden.protocols import modbus
from zonewarden.protocols.base import AnalyzerSpec

ANALYZERS: tuple[AnalyzerSpec, ...] = (
    modbus.SPEC,
)


def analyzer_names() -> list[str]:
    return sorted(spec.name for spec in ANALYZERS)
