"""Resolving an asset's attributes from conflicting evidence: confidence first, a source's later word
supersedes its earlier one, another source's later word does not."""

from __future__ import annotations

from zonewarden.inventory.resolution import current_values, resolve
from zonewarden.model.assets import Asset, Evidence

T0 = 1_767_592_800.0
DAY = 86_400.0


def firmware(*statements: tuple[str, str, float, float]) -> Asset:
    asset = Asset("A1", evidence=[Evidence("firmware", v, proto, ts, None, c) for v, proto, ts, c in statements])
    resolve(asset)
    return asset


def test_a_later_statement_of_the_same_source_is_the_device_now() -> None:
    asset = firmware(("v2.7", "modbus", T0, 0.9), ("v3.1", "modbus", T0 + DAY, 0.9))
    assert asset.firmware == "v3.1"
    assert [e.value for e in asset.evidence] == ["v2.7", "v3.1"]  # the old value is kept as history


def test_a_value_stated_again_after_another_is_current_again() -> None:
    assert firmware(("v1", "enip", T0, 0.9), ("v2", "enip", T0 + 1, 0.9), ("v1", "enip", T0 + 2, 0.9)).firmware == "v1"


def test_a_weaker_later_statement_supersedes_nothing() -> None:
    assert firmware(("v2.7", "modbus", T0, 0.9), ("v9", "modbus", T0 + DAY, 0.5)).firmware == "v2.7"


def test_another_source_speaking_later_does_not_overwrite() -> None:
    # An S7 PLC: SZL module name first, PROFINET DCP station type later, equally confident.
    asset = Asset("A1", evidence=[Evidence("product_name", "CPU 315-2 PN/DP", "s7comm", T0, None, 0.9),
                                  Evidence("product_name", "S7-300", "profinet_dcp", T0 + 10, None, 0.9)])
    resolve(asset)
    assert asset.product_name == "CPU 315-2 PN/DP"


def test_more_sources_beat_one_at_equal_confidence() -> None:
    asset = Asset("A1", evidence=[Evidence("vendor", "Siemens", "s7comm", T0 + 5, None, 0.9),
                                  Evidence("vendor", "Siemens", "profinet_dcp", T0 + 6, None, 0.9),
                                  Evidence("vendor", "ACME", "snmp", T0, None, 0.9)])
    resolve(asset)
    assert asset.vendor == "Siemens"


def test_current_values_of_simultaneous_statements_all_stand() -> None:
    same_time = [Evidence("name", n, "bacnet", T0, None, 0.9) for n in ("a", "b")]
    assert current_values(same_time) == {"'a'", "'b'"}
    later = [*same_time, Evidence("name", "c", "bacnet", T0 + 1, None, 0.9)]
    assert current_values(later) == {"'c'"}
    weaker_later = [*same_time, Evidence("name", "c", "bacnet", T0 + 1, None, 0.5)]
    assert current_values(weaker_later) == {"'a'", "'b'", "'c'"}
