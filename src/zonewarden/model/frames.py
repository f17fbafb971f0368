"""Frame batches: how captured frames move through the hot path.

A batch is one byte buffer plus parallel arrays (struct of arrays), never one Python object per frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

# Link-layer header types (tcpdump.org LINKTYPE_* values) the decoder understands.
LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276
# DLT_RAW is 12 on most BSDs and 14 on OpenBSD; libpcap maps both to raw IP.
LINKTYPE_RAW_BSD12 = 12
LINKTYPE_RAW_BSD14 = 14
LINKTYPE_PPP = 9
LINKTYPE_PPP_HDLC = 50

LINKTYPE_NAMES: dict[int, str] = {
    LINKTYPE_NULL: "null",
    LINKTYPE_ETHERNET: "ethernet",
    LINKTYPE_RAW: "raw",
    LINKTYPE_RAW_BSD12: "raw",
    LINKTYPE_RAW_BSD14: "raw",
    LINKTYPE_LOOP: "loop",
    LINKTYPE_LINUX_SLL: "linux-sll",
    LINKTYPE_IPV4: "ipv4",
    LINKTYPE_IPV6: "ipv6",
    LINKTYPE_LINUX_SLL2: "linux-sll2",
    LINKTYPE_PPP: "ppp",
    LINKTYPE_PPP_HDLC: "ppp-hdlc",
}


def linktype_name(linktype: int) -> str:
    return LINKTYPE_NAMES.get(linktype, f"unknown-{linktype}")


@dataclass(frozen=True, slots=True)
class FrameBatch:
    """Frames read from a capture: ``data[offset[i] : offset[i] + caplen[i]]`` is frame ``i``.

    ``ts_ns`` is packet time in nanoseconds since the epoch (UTC), ``wirelen`` the original length on the
    wire, ``linktype`` the LINKTYPE_* of the interface that captured the frame, ``first_frame`` the 1-based
    number (as in Wireshark) of frame 0 within the whole run.
    """

    data: npt.NDArray[np.uint8]
    offset: npt.NDArray[np.int64]
    caplen: npt.NDArray[np.int64]
    wirelen: npt.NDArray[np.int64]
    ts_ns: npt.NDArray[np.int64]
    linktype: npt.NDArray[np.int32]
    first_frame: int
    # Frame numbers when they are not consecutive from first_frame (datagrams rebuilt from fragments
    # carry the number of their last fragment, as Wireshark shows them).
    numbers: npt.NDArray[np.int64] | None = None

    def __len__(self) -> int:
        return int(self.offset.shape[0])

    def frame_numbers(self) -> npt.NDArray[np.int64]:
        if self.numbers is not None:
            return self.numbers
        return np.arange(self.first_frame, self.first_frame + len(self), dtype=np.int64)

    def frame(self, i: int) -> bytes:
        start = int(self.offset[i])
        return self.data[start : start + int(self.caplen[i])].tobytes()
