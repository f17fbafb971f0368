"""The event lane's S7comm encoder (see eventlane_layout for the contract). Not written yet: it refuses every flow."""

# mypy: disallow-untyped-calls=False, warn-return-any=False, disable-error-code="assignment,return-value"

from __future__ import annotations

from numba import njit

from zonewarden.pipeline.eventlane_layout import ENC_REFUSE
from zonewarden.pipeline.fastlane_pdus_kernel import UNCOUNTED


@njit(**UNCOUNTED)
def encode_s7(data, off, end, side, ts_ns, frame, hdr, st, sb, out, pos):  # type: ignore[no-untyped-def]
    return ENC_REFUSE, pos
