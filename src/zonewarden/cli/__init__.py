"""The command line: the top layer, nothing imports it."""

import gc

# A command is one short run that keeps most of what it makes (modules, then a capture's results), and
# CPython's default (a collection every 700 net container allocations) walks those again and again: ~200
# collections, 0.11 s of an `analyze` of the 1M-packet bench capture, 17 ms of `flows`. As
# pipeline.packets.rare_collections does for a pass over packets, collect every 100,000 (cycles still are).
gc.set_threshold(100_000, *gc.get_threshold()[1:])
