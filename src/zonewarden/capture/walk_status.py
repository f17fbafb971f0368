"""Status codes and limits of the compiled record walks (kept free of numba so callers load fast)."""

NEED_MORE = 0
FULL = 1
CORRUPT = 2
OTHER_BLOCK = 3

# Largest frame we accept, as Wireshark does for ordinary link types (WTAP_MAX_PACKET_SIZE_STANDARD).
MAX_CAPLEN = 262144

# How a classic pcap file stores a record's two lengths (files before version 2.3 swapped them).
LENGTHS_IN_ORDER = 0
LENGTHS_SWAPPED = 1
LENGTHS_MAYBE_SWAPPED = 2  # version 2.3: swapped when the "captured" length exceeds the wire length
