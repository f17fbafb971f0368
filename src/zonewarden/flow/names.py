"""The names Flow JSONL gives a flow's codes: protocols, Zeek's connection states and history letters, end
reasons. The Python writers (records.py) and the compiled one (jsonl_kernel.py, which bakes them into its
tables) both take them from here; no kernels are imported here, so the kernel module can import this one."""

from __future__ import annotations

from functools import lru_cache

from zonewarden.flow.layout import F_FIN, F_RST, F_SYN, F_SYNACK, HISTORY_LETTERS

PROTO_NAMES = {1: "icmp", 6: "tcp", 17: "udp", 58: "icmp6", 2: "igmp", 47: "gre", 50: "esp", 89: "ospf",
               132: "sctp", 112: "vrrp"}
END_REASONS = ("active", "idle", "active_timeout", "port_reuse", "evicted")


def proto_name(proto: int) -> str:
    return PROTO_NAMES.get(proto, f"ip-{proto}")


@lru_cache(maxsize=1024)
def tcp_state(flags_o: int, flags_r: int) -> str:
    """Zeek's conn_state vocabulary, derived from the flags each side sent."""
    o_syn, r_synack = bool(flags_o & F_SYN), bool(flags_r & F_SYNACK)
    o_fin, r_fin = bool(flags_o & F_FIN), bool(flags_r & F_FIN)
    o_rst, r_rst = bool(flags_o & F_RST), bool(flags_r & F_RST)
    if o_syn and r_synack:
        if o_rst:
            return "RSTO"
        if r_rst:
            return "RSTR"
        if o_fin and r_fin:
            return "SF"
        return "S2" if o_fin else "S3" if r_fin else "S1"
    if o_syn:
        if r_rst:
            return "REJ"
        if o_rst:
            return "RSTOS0"
        return "SH" if o_fin else "S0"
    if r_synack:
        if r_rst:
            return "RSTRH"
        return "SHR" if r_fin else "OTH"
    return "OTH"


@lru_cache(maxsize=4096)
def history_string(history: int) -> str:
    letters = []
    while history:
        code = (history & 0xF) - 1
        letter = HISTORY_LETTERS[code % 7]
        letters.append(letter.lower() if code >= 7 else letter)
        history >>= 4
    return "".join(letters)
