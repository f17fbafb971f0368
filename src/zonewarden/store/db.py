"""The store: open (SQLite path or database URL), migrate, and read/write inventory snapshots.

Every write of an analysis happens in one transaction, so a run killed halfway leaves the store as it
was before the run.
"""

from __future__ import annotations

import gc
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
from sqlalchemy import (
    ARRAY,
    JSON,
    ClauseElement,
    Column,
    ColumnElement,
    Connection,
    Dialect,
    Engine,
    Select,
    String,
    Table,
    any_,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql.compiler import SQLCompiler

from zonewarden.errors import StoreError
from zonewarden.store import schema as s

DEFAULT_DB = "zonewarden.db"


def _url(target: str) -> str:
    if "://" in target:
        return target
    if target == ":memory:":
        return "sqlite://"  # a store that lives for one run (benchmarks, quick looks)
    return f"sqlite:///{Path(target).expanduser()}"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Hold the cyclic garbage collector while bulk rows are built and written.

    A bulk write or read makes ~100k dicts that live until their statement ends. With an analysis on the heap
    (~250k tracked objects), they set off full collections that walk everything several times: a third of
    save_analysis on the 1M-packet bench. The rows make no cycles; any garbage left is collected afterwards."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class Store:
    def __init__(self, target: str = DEFAULT_DB) -> None:
        self.url = _url(target)
        try:
            self.engine: Engine = create_engine(self.url, json_serializer=_json_text)
            if self.url.startswith("sqlite"):
                event.listen(self.engine, "connect", _sqlite_pragmas)
            self.migrate()
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot open store {target}: {exc.__class__.__name__}: {exc.args[0]}") from exc

    def migrate(self) -> list[str]:
        """Apply the migrations not yet recorded; returns their names."""
        applied: list[str] = []
        with self.engine.begin() as conn:
            s.schema_migrations.create(conn, checkfirst=True)
            done = set(conn.scalars(select(s.schema_migrations.c.name)))
            for name, step in s.MIGRATIONS:
                if name in done:
                    continue
                step(conn)
                conn.execute(insert(s.schema_migrations).values(name=name, applied_at=_now()))
                applied.append(name)
        return applied

    def applied_migrations(self) -> list[str]:
        with self.engine.connect() as conn:
            return sorted(conn.scalars(select(s.schema_migrations.c.name)))

    def known_inputs(self) -> dict[str, str]:
        with self.engine.connect() as conn:
            return {fingerprint: path for fingerprint, path in conn.execute(select(s.inputs.c.fingerprint,
                                                                                   s.inputs.c.path))}

    def load_assets(self, ids: Collection[str] | None = None) -> dict[str, dict[str, Any]]:
        """The stored assets (Asset JSON) with their evidence lists: every one, or those of ``ids``."""
        ev = s.evidence.c
        dialect = self.engine.dialect
        asset_query = _among(select(s.assets.c.asset_id, s.assets.c.data), s.assets.c.asset_id, ids, dialect)
        evidence_query = _among(select(ev.asset_id, ev.attribute, ev.value, ev.proto, ev.ts, ev.flow_id,
                                       ev.confidence), ev.asset_id, ids, dialect)
        with _gc_paused(), self.engine.connect() as conn:
            out = {asset_id: dict(data, evidence=[]) for asset_id, data in conn.execute(asset_query)}
            rows = conn.execute(evidence_query.order_by(ev.id))
            for asset_id, attribute, value, proto, ts, flow_id, confidence in rows:
                if asset_id in out:
                    out[asset_id]["evidence"].append({"attribute": attribute, "value": value, "proto": proto, "ts": ts,
                                                      "flow_id": flow_id, "confidence": confidence})
        return out

    def load_edges(self, ids: Collection[str] | None = None) -> list[dict[str, Any]]:
        """The stored edges: every one, or those between assets of ``ids``."""
        query = _among(select(s.edges), s.edges.c.client, ids, self.engine.dialect)
        with self.engine.connect() as conn:
            return [dict(r.data, client=r.client, server=r.server, proto=r.proto, first_seen=r.first_seen,
                         last_seen=r.last_seen) for r in conn.execute(query)
                    if ids is None or (r.client in ids and r.server in ids)]

    def latest_analysis_assets(self) -> dict[str, list[str]]:
        """The assets the latest analysis saw (asset id -> IP addresses): what the next one may find vanished."""
        a = s.assets.c
        latest = select(func.max(s.analyses.c.id)).scalar_subquery()
        with self.engine.connect() as conn:
            return {asset_id: data.get("ips", []) for asset_id, data
                    in conn.execute(select(a.asset_id, a.data).where(a.analysis_id == latest))}

    def count_assets(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(s.assets)).scalar_one())

    def load_overrides(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        with self.engine.connect() as conn:
            for r in conn.execute(select(s.overrides)):
                out.setdefault(r.asset_id, {})[r.attribute] = r.value
        return out

    def set_override(self, asset_id: str, attribute: str, value: Any, source: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(s.overrides).where(s.overrides.c.asset_id == asset_id,
                                                   s.overrides.c.attribute == attribute))
            conn.execute(insert(s.overrides).values(asset_id=asset_id, attribute=attribute, value=value,
                                                    source=source))

    def update_asset(self, asset: dict[str, Any]) -> None:
        """Rewrite one asset and its evidence (after an override), in one transaction."""
        with self.engine.begin() as conn:
            data = {k: v for k, v in asset.items() if k != "evidence"}
            conn.execute(update(s.assets).where(s.assets.c.asset_id == asset["asset_id"]).values(data=data))
            conn.execute(delete(s.evidence).where(s.evidence.c.asset_id == asset["asset_id"]))
            rows = [_evidence_row((asset["asset_id"], *key), e)
                    for key, e in _unique_evidence(asset["evidence"]).items()]
            if rows:
                conn.execute(insert(s.evidence), rows)

    def changes(self, analysis_id: int | None = None) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            if analysis_id is None:
                analysis_id = conn.scalar(select(s.analyses.c.id).order_by(s.analyses.c.id.desc()).limit(1))
            if analysis_id is None:
                return []
            rows = conn.execute(select(s.changes).where(s.changes.c.analysis_id == analysis_id)
                                .order_by(s.changes.c.id))
            return [{"kind": r.kind, **({"asset_id": r.asset_id} if r.asset_id is not None else {}), **r.detail}
                    for r in rows]

    def analyses(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(select(s.analyses).order_by(s.analyses.c.id))]

    def save_analysis(self, **kwargs: Any) -> int:
        try:
            with _gc_paused():
                return self._save_analysis(**kwargs)
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot write to the store {self.url}: {exc.__class__.__name__}: {exc.args[0]}") from exc

    def _save_analysis(self, *, inputs: list[tuple[str, str, int]], summary: dict[str, Any], ts_first: float | None,
                      ts_last: float | None, assets: list[dict[str, Any]], edges: list[dict[str, Any]],
                      changes: list[dict[str, Any]], seen: set[str]) -> int:
        """Write one analysis atomically: the merged assets (with evidence), edges and changes.

        A few statements whatever the size: what is stored is read in bulk, rows go in as executemany
        (one prepared statement each), all in one transaction.
        """
        with self.engine.begin() as conn:
            aid = conn.execute(insert(s.analyses).values(
                started_at=_now(), ts_first=ts_first, ts_last=ts_last,
                inputs=[p for _, p, _ in inputs], summary=summary)).inserted_primary_key[0]  # type: ignore[index]
            _insert(conn, s.inputs, ("fingerprint", "path", "size", "analysis_id"),
                    [(fp, path, size, aid) for fp, path, size in inputs])
            _write_assets(conn, aid, assets, seen)
            _write_edges(conn, edges)
            _insert(conn, s.changes, ("analysis_id", "kind", "asset_id", "detail"),
                    [(aid, c["kind"], c.get("asset_id"), _detail(c)) for c in changes])
        return int(aid)


def _among(query: Select[Any], column: ColumnElement[str], ids: Collection[str] | None,
           dialect: Dialect) -> Select[Any]:
    """``query`` restricted to rows whose ``column`` is one of ``ids`` (None: every row).

    The ids go in one parameter however many (a JSON array on SQLite, an array on PostgreSQL): SQLAlchemy's
    ``IN`` makes a parameter of each at every execution, ~7 ms for the 5.7k assets of the bench capture, and an analysis
    makes up to five such queries."""
    if ids is None:
        return query
    listed = sorted(ids)  # (SQLite fills the IN's b-tree in order: 2 ms less than unsorted on the bench)
    if dialect.name == "postgresql":
        return query.where(column == any_(bindparam(None, listed, ARRAY(String))))
    values = func.json_each(bindparam(None, _json_text(listed), String)).table_valued("value")
    return query.where(column.in_(select(values.c.value)))


_ASSET_COLUMNS = ("asset_id", "data", "first_seen", "last_seen", "analysis_id")
_EVIDENCE_COLUMNS = ("asset_id", "attribute", "value_key", "value", "proto", "ts", "flow_id", "confidence")
_EDGE_COLUMNS = ("client", "server", "proto", "data", "first_seen", "last_seen")
_EDGE_DATA = ("operations", "messages", "flows", "packets", "bytes")


def _write_assets(conn: Connection, aid: int, assets: list[dict[str, Any]], seen: set[str]) -> None:
    query = _among(select(s.assets.c.asset_id, s.assets.c.analysis_id), s.assets.c.asset_id,
                   {a["asset_id"] for a in assets}, conn.dialect)
    last_analysis: dict[str, int] = {asset_id: analysis_id for asset_id, analysis_id in conn.execute(query)}
    rows = []
    for a in assets:
        data = dict(a)  # (a copy and a pop: a comprehension over the keys cost six times as much)
        data.pop("evidence", None)
        asset_id = a["asset_id"]
        # the last analysis that saw the asset: this one, unless the asset was only carried over
        rows.append((asset_id, data, a["first_seen"], a["last_seen"],
                     aid if asset_id in seen else last_analysis.get(asset_id, aid)))
    _upsert(conn, s.assets, _ASSET_COLUMNS, rows)
    _write_evidence(conn, assets, {a["asset_id"] for a in assets if a["asset_id"] in last_analysis})


def _write_evidence(conn: Connection, assets: list[dict[str, Any]], stored_assets: set[str]) -> None:
    """Make each asset's stored evidence its list: insert the rows the store lacks, delete those it dropped,
    update those a later message restated (history.merge_evidence keeps the latest copy of a statement).

    A stored row keeps its place in the order. Only assets stored before (``stored_assets``) can have stored
    evidence (its foreign key): the others' rows are all new, and are neither read nor looked up."""
    ev = s.evidence.c
    stored: dict[tuple[str, str, str, str], tuple[int, float, str | None, float]] = {}
    if stored_assets:
        query = _among(select(ev.id, ev.asset_id, ev.attribute, ev.value_key, ev.proto, ev.ts, ev.flow_id,
                              ev.confidence), ev.asset_id, stored_assets, conn.dialect)
        stored = {(asset_id, attribute, value_key, proto): (id_, ts, flow_id, confidence)
                  for id_, asset_id, attribute, value_key, proto, ts, flow_id, confidence in conn.execute(query)}
    kept: set[tuple[str, str, str, str]] = set()
    new: list[tuple[Any, ...]] = []
    restated = []
    for a in assets:
        asset_id = a["asset_id"]
        unique = _unique_evidence(a["evidence"])
        if asset_id in stored_assets:  # its stored rows stay (updated if restated); the others are new
            for (attribute, value_key, proto), e in list(unique.items()):
                key = (asset_id, attribute, value_key, proto)
                row = stored.get(key)
                if row is None:
                    continue
                kept.add(key)
                del unique[attribute, value_key, proto]
                if row[1:] != (e["ts"], e["flow_id"], e["confidence"]):
                    restated.append({"restated_id": row[0], "ts": e["ts"], "flow_id": e["flow_id"],
                                     "confidence": e["confidence"]})
        new += [(asset_id, attribute, value_key, e["value"], proto, e["ts"], e["flow_id"], e["confidence"])
                for (attribute, value_key, proto), e in unique.items()]
    dropped = [{"dropped_id": row[0]} for key, row in stored.items() if key[0] in stored_assets and key not in kept]
    if dropped:
        conn.execute(delete(s.evidence).where(ev.id == bindparam("dropped_id")), dropped)
    if restated:
        conn.execute(update(s.evidence).where(ev.id == bindparam("restated_id")), restated)
    _insert(conn, s.evidence, _EVIDENCE_COLUMNS, new)


def _insert(conn: Connection, table: Table, names: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    """Insert ``rows`` (values of the columns ``names``, in that order) in one executemany."""
    if rows:
        _executemany(conn, insert(table), table, names, rows)


def _write_edges(conn: Connection, edges: list[dict[str, Any]]) -> None:
    _upsert(conn, s.edges, _EDGE_COLUMNS, [
        (e["client"], e["server"], e["proto"], {k: e[k] for k in _EDGE_DATA}, e["first_seen"], e["last_seen"])
        for e in edges])


def _dialect_insert(conn: Connection, table: Table) -> Any:
    """The dialect's INSERT (which has ON CONFLICT); each dialect is imported when a store uses it (PostgreSQL's
    takes 25 ms, a tenth of opening a SQLite store)."""
    if conn.dialect.name == "sqlite":
        from sqlalchemy.dialects import sqlite

        return sqlite.insert(table)
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    raise StoreError(f"the store runs on SQLite or PostgreSQL, not {conn.dialect.name}")


def _upsert(conn: Connection, table: Table, names: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    """Insert ``rows`` (values of the columns ``names``), updating those whose primary key is stored: one
    executemany (INSERT .. ON CONFLICT)."""
    if not rows:
        return
    stmt = _dialect_insert(conn, table)
    key = [c.name for c in table.primary_key]
    _executemany(conn, stmt.on_conflict_do_update(
        index_elements=key, set_={c.name: stmt.excluded[c.name] for c in table.columns if c.name not in key}),
        table, names, rows)


def _executemany(conn: Connection, stmt: ClauseElement, table: Table, names: tuple[str, ...],
                 rows: list[tuple[Any, ...]]) -> None:
    """``stmt`` (an insert into ``table`` of the columns ``names``) for every row of values in that order, in one
    DBAPI executemany: compiled once, and none of the per-row work of ``Connection.execute`` (which was most of
    writing an analysis of 45k rows). Each value goes through its column type's bind processor as SQLAlchemy
    would, a column at a time (map and zip over the column, not a Python loop over every value)."""
    compiled = stmt.compile(dialect=conn.dialect, column_keys=list(names))
    assert isinstance(compiled, SQLCompiler)
    order = list(compiled.positiontup or ()) if compiled.positional else list(names)
    columns = dict(zip(names, zip(*rows, strict=True), strict=True))
    params: list[Any] = list(zip(*(_bound(table.c[name], conn.dialect, columns[name]) for name in order),
                                 strict=True))
    if not compiled.positional:
        params = [dict(zip(order, values, strict=True)) for values in params]  # (the driver takes tuples or dicts)
    conn.exec_driver_sql(compiled.string, params)


def _bound(column: Column[Any], dialect: Dialect, values: Sequence[Any]) -> Iterable[Any]:
    """``values`` of ``column`` as its type's bind processor makes them for ``dialect``.

    JSON is encoded here: its processor (the store's engine serializes with _json_text, the one the dialects'
    String adds nothing to) costs two Python calls a value, and an analysis writes 45k of them."""
    if isinstance(column.type, JSON):
        return map(bytes.decode, map(_JSON.encode, values))
    process = column.type.bind_processor(dialect)
    return values if process is None else map(process, values)


def _evidence_row(key: tuple[str, str, str, str], e: dict[str, Any]) -> dict[str, Any]:
    asset_id, attribute, value_key, proto = key
    return {"asset_id": asset_id, "attribute": attribute, "value_key": value_key, "value": e["value"],
            "proto": proto, "ts": e["ts"], "flow_id": e["flow_id"], "confidence": e["confidence"]}


def _detail(change: dict[str, Any]) -> dict[str, Any]:
    detail = dict(change)
    detail.pop("kind", None)
    detail.pop("asset_id", None)
    return detail


def _unique_evidence(items: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    """Evidence by its key in the store (attribute, value repr cut to the column, proto); the first one wins."""
    out: dict[tuple[str, str, str], dict[str, Any]] = {}
    for e in items:
        out.setdefault((e["attribute"], repr(e["value"])[:400], e["proto"]), e)
    return out


_JSON = msgspec.json.Encoder()


def _json_text(value: Any) -> str:
    """JSON columns as compact text, encoded by msgspec: an analysis writes one per asset, edge and evidence row
    (json.dumps was a third of the store write)."""
    return _JSON.encode(value).decode()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()
