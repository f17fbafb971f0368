"""Compile the hot-path kernels ahead of time into ``zonewarden/_aot_kernels`` (run by ``make``).

The exported signatures must match how the Python side calls the kernels: contiguous arrays of the
dtypes the readers, decoder and flow table allocate.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path


def main() -> int:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numba.pycc announces its deprecation; it still works
        from numba import from_dtype, types
        from numba.pycc import CC  # type: ignore[attr-defined]

    from zonewarden.capture.record_walk import walk_pcap, walk_pcapng
    from zonewarden.decode.l2l4_kernel import decode_batch
    from zonewarden.flow.layout import FLOW_DTYPE
    from zonewarden.flow.table_kernel import expire_flows, rehash, update_flows
    from zonewarden.kernels import HASH_FILE, drop_stale_lane_caches, sources_digest

    drop_stale_lane_caches()  # before the kernels are imported: their helpers may be cached from older sources
    from zonewarden.flow.jsonl_kernel import flow_jsonl_rows
    from zonewarden.pipeline.eventlane_kernel import forget as ev_forget
    from zonewarden.pipeline.eventlane_kernel import rehash as ev_rehash
    from zonewarden.pipeline.eventlane_kernel import settle as ev_settle
    from zonewarden.pipeline.eventlane_kernel import walk as ev_walk
    from zonewarden.pipeline.fastlane_kernel import forget, walk
    from zonewarden.pipeline.fastlane_kernel import rehash as lane_rehash

    u1, i4, i8, u8 = (types.Array(t, 1, "C") for t in (types.uint8, types.int32, types.int64, types.uint64))
    rec = types.Array(from_dtype(FLOW_DTYPE), 1, "C")
    I8, B1 = types.int64, types.boolean
    t3 = types.UniTuple(I8, 3)
    t4 = types.UniTuple(I8, 4)
    out = Path(__file__).resolve().parent
    cc = CC("_aot_kernels")
    cc.output_dir = str(out)
    cc.verbose = False
    cc.export("walk_pcap", t3(u1, I8, B1, I8, I8, I8, i8, i8, i8, i8, i4))(walk_pcap.py_func)
    cc.export("walk_pcapng", t3(u1, I8, B1, i4, u8, i8, u8, i8, i8, i8, i8, i8, i8, i4))(walk_pcapng.py_func)
    cc.export("decode_batch", types.none(
        u1, i8, i8, i8, i4, u1, i4, i4, i4, i8, i8, u8, u8, u8, u8, u1, i4, i4, u1, i8, i8, i8, i4, i4, u1, u1,
    ))(decode_batch.py_func)
    cc.export("update_flows", t4(
        rec, i8, I8, I8, I8, u1, u1, u1, i4, i4, u8, u8, u8, u8, u1, i4, i4, u1, i8, i4, i8, i8, i8, u1, u8, rec, I8,
    ))(update_flows.py_func)
    cc.export("expire_flows", t3(rec, i8, I8, I8, rec, I8, I8))(expire_flows.py_func)
    cc.export("rehash", types.none(rec, rec))(rehash.py_func)
    cc.export("flow_jsonl_rows", I8(rec, u1, i8))(flow_jsonl_rows.py_func)
    i1, i2 = types.Array(types.int8, 1, "C"), types.Array(types.int16, 1, "C")
    i1_2, u1_2, i8_2, u8_2 = (types.Array(t, 2, "C") for t in (types.int8, types.uint8, types.int64, types.uint64))
    cc.export("fastlane_walk", types.UniTuple(I8, 5)(
        u1, i8, i4, u1, u1, u1, i8, i8, i4, i4, i8, i8, u1, u1, u8, u8, u8, u8, u8, I8, i1, i1_2, u1, i2, u1, i8,
        i8_2, i8_2, u8_2, i8, u1_2, i8, u1, i8, i8, I8, i8_2, I8, u1, I8,
    ))(walk.py_func)
    cc.export("fastlane_rehash", types.none(i8_2, u8_2, i8_2, u8_2, i8))(lane_rehash.py_func)
    cc.export("fastlane_forget", types.none(i8_2, i8_2, i8, i8, i8))(forget.py_func)
    cc.export("eventlane_walk", types.UniTuple(I8, 4)(
        u1, i8, i4, u1, u1, u1, i8, i8, i4, i4, i8, i8, u1, u1, u8, u8, u8, u8, u8, i8, I8, i1, u1, B1, i8_2, u1_2,
        i8, u1, u1, I8, i8, i8, I8,
    ))(ev_walk.py_func)
    cc.export("eventlane_rehash", types.none(i8_2, u1_2, i8_2, u1_2))(ev_rehash.py_func)
    cc.export("eventlane_forget", types.none(i8_2, i8, i8))(ev_forget.py_func)
    cc.export("eventlane_settle", types.none(i8_2, i8, u1))(ev_settle.py_func)
    for old in out.glob("_aot_kernels*.so"):
        old.unlink()
    cc.compile()
    (out / HASH_FILE).write_text(sources_digest() + "\n")
    print(f"compiled kernels into {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
