"""The compiled hot-path kernels, loaded ahead-of-time compiled when possible.

``make`` compiles the numba kernels once into a native extension (``_aot_kernels``) with
``python -m zonewarden.build_kernels``; loading it costs milliseconds and does not import numba at all.
When that module is missing, or was built from different kernel sources than the ones installed, or
ZONEWARDEN_JIT=1 is set, the same functions are compiled just in time by numba (cached on disk).

Callers write ``from zonewarden import kernels`` and call ``kernels.walk_pcap(...)``, never import the
names: in JIT mode this module imports the kernel modules, whose packages import those callers
(capture/__init__ -> source -> pcap), which would then find this module half initialised.
"""

from __future__ import annotations

import os
import sys
import zlib
from pathlib import Path
from typing import Any

LANE_SOURCES = ("pipeline/fastlane_kernel.py", "pipeline/fastlane_pdus_kernel.py", "pipeline/fastlane_enip_kernel.py",
                "pipeline/fastlane_dnp3_kernel.py", "pipeline/fastlane_layout.py", "pipeline/eventlane_kernel.py",
                "pipeline/eventlane_layout.py", "pipeline/eventlane_json.py", "pipeline/eventlane_modbus.py",
                "pipeline/eventlane_s7.py", "pipeline/eventlane_dnp3.py", "pipeline/eventlane_dnp3_objects.py",
                "pipeline/eventlane_enip.py", "pipeline/eventlane_enip_cip.py", "pipeline/eventlane_enip_conn.py",
                "json_bytes.py",
                # name tables the event lane's encoders bake in
                "protocols/modbus/codes.py", "protocols/s7comm/codes.py", "protocols/dnp3/codes.py",
                "protocols/enip/codes.py")
# The Flow JSONL writer's (flow/names.py: the name tables it bakes in)
FLOW_JSONL_SOURCES = ("flow/jsonl_kernel.py", "flow/names.py", "flow/layout.py", "json_bytes.py")
KERNEL_SOURCES = ("capture/record_walk.py", "decode/l2l4_kernel.py", "flow/table_kernel.py", "flow/layout.py",
                  "capture/walk_status.py", "decode/anomalies.py", *LANE_SOURCES, "flow/jsonl_kernel.py",
                  "flow/names.py")
HASH_FILE = "_aot_kernels.sha256"
_HERE = Path(__file__).resolve().parent


def sources_digest() -> str:
    """A checksum of the kernel sources (staleness, not security: CRC-32 loads faster than hashlib)."""
    crc = 0
    for rel in KERNEL_SOURCES:
        crc = zlib.crc32(rel.encode(), crc)
        crc = zlib.crc32((_HERE / rel).read_bytes(), crc)
    return f"crc32:{crc:08x}"


# Cached functions (globs of numba's cache files) and the sources their compiled code comes from.
CACHES = ((("pipeline/__pycache__/fastlane*_kernel.*.nb[ic]", "pipeline/__pycache__/eventlane*.nb[ic]"), LANE_SOURCES),
          (("flow/__pycache__/jsonl_kernel.*.nb[ic]",), FLOW_JSONL_SOURCES))


def drop_stale_lane_caches() -> None:
    """numba's on-disk cache checks only a function's own source file, and the lanes' kernels (and the Flow
    JSONL writer) call helpers in other files: after a change to one, drop every cached function of theirs."""
    for patterns, sources in CACHES:
        cached = [p for pattern in patterns for p in _HERE.glob(pattern)]
        if not cached:
            continue
        changed = max((_HERE / rel).stat().st_mtime for rel in sources)
        if min(p.stat().st_mtime for p in cached) < changed:
            for p in cached:
                p.unlink(missing_ok=True)


def _load_aot() -> Any:
    if os.environ.get("ZONEWARDEN_JIT") == "1":
        return None
    try:
        built = (_HERE / HASH_FILE).read_text().strip()
    except OSError:
        return None
    if built != sources_digest():
        # A checkout whose kernel sources changed since `make setup`: everything still works, compiled just in
        # time (seconds on first use, slower start and more memory on every run), which is easy to mistake for
        # a change in speed; say so once.
        print("zonewarden: the compiled kernels were built from other sources than these; compiling just in "
              "time instead (run `make setup` to rebuild them)", file=sys.stderr)
        return None
    try:
        from zonewarden import _aot_kernels  # type: ignore[attr-defined]
    except ImportError:
        return None
    return _aot_kernels


_aot = _load_aot()
MODE = "aot" if _aot is not None else "jit"

if _aot is not None:
    walk_pcap = _aot.walk_pcap
    walk_pcapng = _aot.walk_pcapng
    decode_batch = _aot.decode_batch
    update_flows = _aot.update_flows
    expire_flows = _aot.expire_flows
    rehash = _aot.rehash
    fastlane_walk = _aot.fastlane_walk
    fastlane_rehash = _aot.fastlane_rehash
    fastlane_forget = _aot.fastlane_forget
    eventlane_walk = _aot.eventlane_walk
    eventlane_rehash = _aot.eventlane_rehash
    eventlane_forget = _aot.eventlane_forget
    eventlane_settle = _aot.eventlane_settle
    flow_jsonl_rows = _aot.flow_jsonl_rows
else:
    drop_stale_lane_caches()
    from zonewarden.capture.record_walk import walk_pcap, walk_pcapng
    from zonewarden.decode.l2l4_kernel import decode_batch
    from zonewarden.flow.jsonl_kernel import flow_jsonl_rows
    from zonewarden.flow.table_kernel import expire_flows, rehash, update_flows
    from zonewarden.pipeline.eventlane_kernel import forget as eventlane_forget
    from zonewarden.pipeline.eventlane_kernel import rehash as eventlane_rehash
    from zonewarden.pipeline.eventlane_kernel import settle as eventlane_settle
    from zonewarden.pipeline.eventlane_kernel import walk as eventlane_walk
    from zonewarden.pipeline.fastlane_kernel import forget as fastlane_forget
    from zonewarden.pipeline.fastlane_kernel import rehash as fastlane_rehash
    from zonewarden.pipeline.fastlane_kernel import walk as fastlane_walk

__all__ = ["MODE", "decode_batch", "eventlane_forget", "eventlane_rehash", "eventlane_settle", "eventlane_walk",
           "expire_flows", "fastlane_forget", "fastlane_rehash", "fastlane_walk", "flow_jsonl_rows", "rehash",
           "update_flows", "walk_pcap", "walk_pcapng"]
