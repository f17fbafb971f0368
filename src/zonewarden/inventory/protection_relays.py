"""Protective relay families: a field device whose identity names one of these is an IED, not an RTU or a PLC.

Relays speak the same protocols as RTUs and PLCs (DNP3, IEC 60870-5-104, Modbus), so only the product
they report tells them apart. The table is small on purpose: the common families, matched on the
product name or code a device discloses (DNP3 device attributes, Modbus MEI, EtherNet/IP identity).
"""

from __future__ import annotations

import re

PROTECTION_RELAY_FAMILIES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), family) for pattern, family in (
        # Three digits and then no digit: SEL-311C, SEL-421, SEL-547, SEL-751A are relays; four-digit
        # SEL-2xxx/3xxx products (RTAC, communications processors) are automation controllers, not relays.
        (r"\bSEL-?[3457]\d\d(?!\d)", "SEL protective relay"),
        (r"\bMultilin\b", "GE Multilin protective relay"),
        (r"\bRE[FLT] ?6[1-7]\d\b", "ABB Relion protective relay"),
        (r"\bSIPROTEC\b|\b7(?:S[AJDK]|UT)\d\d", "Siemens SIPROTEC protective relay"),
        (r"\bprotect(?:ion|ive) relay\b", "protective relay"),
    ))


def protection_relay(products: list[str]) -> tuple[str, str] | None:
    """The first product name or code that names a protective relay, and its family; None for anything else."""
    for product in products:
        for pattern, family in PROTECTION_RELAY_FAMILIES:
            if pattern.search(product):
                return product, family
    return None
