"""Status codes and limits of the compiled record walks (kept free of numba so callers load fast)."""

NEED_MORE = 0
FULL = 1
CORRUPT = 2
OTHER_BLOCK = 3

# Largest frame we accept, as Wireshark does for ordinary link types (WTAP_MAX_PACKET_SIZE_STANDARD).
MAX_CAPLEN = 262144
