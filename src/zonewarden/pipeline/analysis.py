"""The main job: captures -> flows, events, address sightings -> inventory -> the store.

Inputs already analysed into the store (same fingerprint) are skipped, so re-running the same
capture changes nothing.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from zonewarden.capture.source import STDIN
from zonewarden.inventory.builder import InventoryBuilder
from zonewarden.inventory.history import merge
from zonewarden.model.assets import Asset, Edge, EndpointSighting
from zonewarden.pipeline import forked
from zonewarden.pipeline.app_layer import AppLayer
from zonewarden.pipeline.endpoints import EndpointObserver, SightingColumns
from zonewarden.pipeline.fastlane import FastLane, MessageCounts
from zonewarden.pipeline.fastlane import enabled as fastlane_enabled
from zonewarden.pipeline.packets import PacketPipeline, RunSummary, rare_collections
from zonewarden.protocols.registry import ANALYZERS

if TYPE_CHECKING:
    from zonewarden.store.db import Store

FINGERPRINT_SPAN = 1 << 20
P = ParamSpec("P")
R = TypeVar("R")


def fingerprint(path: str) -> tuple[str, int]:
    """sha256 over the size, the first and the last MiB: cheap on big files, and what re-runs compare."""
    size = os.path.getsize(path)
    h = hashlib.sha256(str(size).encode())
    with open(path, "rb") as f:
        h.update(f.read(FINGERPRINT_SPAN))
        if size > 2 * FINGERPRINT_SPAN:
            f.seek(-FINGERPRINT_SPAN, os.SEEK_END)
            h.update(f.read(FINGERPRINT_SPAN))
    return h.hexdigest(), size


@dataclass
class AnalysisResult:
    summary: RunSummary | None
    analysis_id: int | None
    assets: list[Asset]
    edges: list[dict[str, Any]]
    changes: list[dict[str, Any]]
    skipped: list[str] = field(default_factory=list)
    events_by_protocol: dict[str, int] = field(default_factory=dict)
    run_assets: int = 0
    unmatched_overrides: list[dict[str, str]] = field(default_factory=list)
    probed_only: int = 0  # addresses only ever sent to, never answering, with no MAC: not made assets
    unproven_only: int = 0  # addresses with no MAC that only tried to open a connection or two (spoofable)
    refused_addresses: int = 0  # lookups of addresses past the inventory's address limit (a flood)


def _rare_collections(run: Callable[P, R]) -> Callable[P, R]:
    """``run`` under packets.rare_collections. An analysis makes hundreds of thousands of objects that live
    to its end (facts, conversations, evidence, assets); by default the collector walks that growing heap
    hundreds of times for almost nothing (0.25-0.35 s of ``analyze`` on the 1M-packet capture, 0.04 s so)."""

    @functools.wraps(run)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with rare_collections():
            return run(*args, **kwargs)

    return wrapper


@dataclass
class _Run:
    """One pass over the inputs and the inventory built from it: what the store write needs."""

    summary: RunSummary
    counts: dict[str, int]
    assets: list[Asset]
    edges: list[Edge]
    ts_first: float | None
    ts_last: float | None
    probed_only: int
    unproven_only: int
    refused: int


# The address sightings (as columns: EndpointObserver.sighting_columns), the MACs speaking bridge protocols,
# and the packets whose sightings were past the observer's bound (EndpointObserver.dropped).
Sightings = tuple[SightingColumns, dict[str, set[str]], int]


def fork_enabled() -> bool:
    """Whether ``analyze`` may fork a process for the address sightings (ZONEWARDEN_ANALYZE_FORK, on unless 0)."""
    return os.environ.get("ZONEWARDEN_ANALYZE_FORK", "1") != "0" and forked.available()


@_rare_collections
def analyze(inputs: Sequence[str], store: Store, progress: Callable[[int], None] | None = None,
            on_pipeline: Callable[[PacketPipeline], None] | None = None,
            overrides: list[tuple[dict[str, str], dict[str, Any]]] | None = None,
            fastlane: bool | None = None, stage: Callable[[str], None] | None = None) -> AnalysisResult:
    """Analyse ``inputs`` into ``store``. ``progress`` hears the bytes read, ``stage`` the name of each step
    after the reading. ``fastlane``: count the common ICS messages in the compiled fast lane
    (pipeline/fastlane.py); None follows ZONEWARDEN_FASTLANE (on unless 0).

    Where it can (regular files, fork available), the address sightings the inventory groups by are read by
    a forked child process from its own read of the files, while this one reads the flows and events: the
    result is the same as in one process (tests/pipeline/test_analysis_fork.py)."""
    todo, fingerprints, skipped = _select(_expand(inputs), store.known_inputs())
    if not todo:
        return AnalysisResult(None, None, [], [], [], skipped)
    task = None
    if STDIN not in todo and fork_enabled():
        task = forked.ForkedTask(functools.partial(_sightings, todo))
    try:
        run = _pass_and_build(todo, fastlane, task, progress, on_pipeline, stage or _no_stage)
    finally:
        if task is not None:
            task.cancel()
    (stage or _no_stage)(f"writing {len(run.assets):,} assets to the store")
    with rare_collections(None):  # (bounded work that makes no cycles: nothing for the collector to find)
        return _save(run, store, fingerprints, skipped, overrides)


def _no_stage(_name: str) -> None:
    return None


def _select(paths: list[str], known: dict[str, str]) -> tuple[list[str], list[tuple[str, str, int]], list[str]]:
    """The inputs to analyse, their fingerprints (fingerprint, path, size), and those the store already holds."""
    todo: list[str] = []
    fingerprints: list[tuple[str, str, int]] = []
    skipped: list[str] = []
    for path in paths:
        if path == STDIN:
            todo.append(path)
            continue
        fp, size = fingerprint(path)
        if fp in known:
            skipped.append(path)
        else:
            todo.append(path)
            fingerprints.append((fp, path, size))
    return todo, fingerprints, skipped


def _sightings(todo: list[str]) -> Sightings:
    """The address sightings of ``todo`` (with the MACs that speak bridge protocols), from a read of their own."""
    endpoints = EndpointObserver()
    for _records in PacketPipeline(todo, consumers=[endpoints], track_flows=False).flow_batches():
        pass
    return _seen(endpoints)


def _seen(endpoints: EndpointObserver) -> Sightings:
    columns = endpoints.sighting_columns()  # (first: the last merge may drop more)
    return columns, endpoints.bridge_protocols, endpoints.dropped


def _pass_and_build(todo: list[str], fastlane: bool | None, sightings: forked.ForkedTask[Sightings] | None,
                    progress: Callable[[int], None] | None,
                    on_pipeline: Callable[[PacketPipeline], None] | None, stage: Callable[[str], None]) -> _Run:
    """Flows, events and address sightings of ``todo``, and the inventory built from them; the sightings are
    read here unless a forked process reads them (``sightings``)."""
    builder = InventoryBuilder()
    summary, counts, span, seen = _pass(todo, fastlane, builder, sightings is None, progress, on_pipeline)
    # (The pass's tables are gone by now: a SYN flood grows the fast lane's to hundreds of MB.)
    stage("building the inventory")
    if seen is None:  # read by the forked process
        assert sightings is not None
        seen = sightings.result()
    columns, bridges, dropped = seen
    builder.on_sightings(map(EndpointSighting, *columns), bridges)
    with rare_collections(None):
        run_assets, run_edges = builder.build()
    if dropped:
        summary.limits["address_sightings_dropped"] = dropped
    if builder.refused:
        summary.limits["inventory_addresses_refused"] = builder.refused
    return _Run(summary, counts, run_assets, run_edges, *span, len(builder.probed_only), len(builder.unproven_only),
                builder.refused)


def _pass(todo: list[str], fastlane: bool | None, builder: InventoryBuilder, with_sightings: bool,
          progress: Callable[[int], None] | None, on_pipeline: Callable[[PacketPipeline], None] | None,
          ) -> tuple[RunSummary, dict[str, int], tuple[float | None, float | None], Sightings | None]:
    """Read ``todo`` into ``builder``: its flows and messages, and (``with_sightings``) its address sightings.
    Returns the run's summary, messages per protocol, the packet time span and the sightings (None without)."""
    counts: dict[str, int] = {}

    def on_event(e: Any) -> None:
        counts[e.proto] = counts.get(e.proto, 0) + 1
        builder.on_event(e)

    def on_counts(c: MessageCounts) -> None:
        counts[c.proto] = counts.get(c.proto, 0) + c.count
        builder.on_message_counts(c.proto, c.src, c.dst, c.is_response, c.count, c.first, c.last, c.operations,
                                  c.samples, c.flows)

    app = AppLayer(on_event, ANALYZERS)
    if fastlane_enabled() if fastlane is None else fastlane:
        app.lane = FastLane(on_counts, app.tcp_ports)
    endpoints = EndpointObserver() if with_sightings else None
    pipeline = PacketPipeline(todo, consumers=[app] if endpoints is None else [app, endpoints])
    if on_pipeline is not None:
        on_pipeline(pipeline)
    ts_first: float | None = None
    ts_last: float | None = None
    for records in pipeline.flow_batches(progress):
        if not len(records):
            continue
        builder.on_finished_flows(records)
        # (as the records state them: nanoseconds / 1e9, which keeps the order)
        first, last = float(records["ts_first"].min()) / 1e9, float(records["ts_last"].max()) / 1e9
        ts_first = first if ts_first is None else min(ts_first, first)
        ts_last = last if ts_last is None else max(ts_last, last)
    seen = None if endpoints is None else _seen(endpoints)
    return pipeline.summary, counts, (ts_first, ts_last), seen


def _save(run: _Run, store: Store, fingerprints: list[tuple[str, str, int]],
          skipped: list[str], overrides: list[tuple[dict[str, str], dict[str, Any]]] | None) -> AnalysisResult:
    """Merge the run's inventory with what ``store`` holds and write it as one analysis."""
    run_assets = run.assets
    unmatched: list[dict[str, str]] = []
    if overrides:
        from zonewarden.inventory.history import asset_from_dict
        from zonewarden.inventory.overrides import resolve as resolve_overrides

        # Matching by address may name any stored asset: the whole store, only when overrides are given.
        candidates = run_assets + [asset_from_dict(d) for aid, d in store.load_assets().items()]
        found, unmatched = resolve_overrides(overrides, candidates)
        for aid, values in found.items():
            for attribute, value in values.items():
                store.set_override(aid, attribute, value, "overrides file")
    # What this run touches, not the whole store: an analysis costs its own size however big the store grows.
    user_set = store.load_overrides()
    touched = {a.asset_id for a in run_assets} | set(user_set)
    assets, edges, changes = merge(store.load_assets(touched), run_assets, store.load_edges(touched), run.edges,
                                   user_set, store.latest_analysis_assets())
    summary = run.summary.as_dict()
    summary["events"] = run.counts
    analysis_id = store.save_analysis(inputs=fingerprints, summary=summary, ts_first=run.ts_first,
                                      ts_last=run.ts_last, assets=[a.as_dict() for a in assets], edges=edges,
                                      changes=changes, seen={a.asset_id for a in run_assets})
    return AnalysisResult(run.summary, analysis_id, assets, edges, changes, skipped, run.counts, len(run_assets),
                          unmatched, run.probed_only, run.unproven_only, run.refused)


def _expand(inputs: Sequence[str]) -> list[str]:
    from zonewarden.capture.source import CaptureRun

    return CaptureRun(inputs).inputs
