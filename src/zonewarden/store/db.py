"""The store: open (SQLite path or database URL), migrate, and read/write inventory snapshots.

Every write of an analysis happens in one transaction, so a run killed halfway leaves the store as it
was before the run.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, delete, event, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

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


class Store:
    def __init__(self, target: str = DEFAULT_DB) -> None:
        self.url = _url(target)
        try:
            self.engine: Engine = create_engine(self.url)
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
            return {r.fingerprint: r.path for r in conn.execute(select(s.inputs))}

    def load_assets(self) -> dict[str, dict[str, Any]]:
        """Every stored asset (Asset JSON) with its evidence list."""
        with self.engine.connect() as conn:
            out = {r.asset_id: dict(r.data, evidence=[]) for r in conn.execute(select(s.assets))}
            for r in conn.execute(select(s.evidence).order_by(s.evidence.c.id)):
                if r.asset_id in out:
                    out[r.asset_id]["evidence"].append({
                        "attribute": r.attribute, "value": r.value, "proto": r.proto, "ts": r.ts,
                        "flow_id": r.flow_id, "confidence": r.confidence})
        return out

    def load_edges(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r.data, client=r.client, server=r.server, proto=r.proto, first_seen=r.first_seen,
                         last_seen=r.last_seen) for r in conn.execute(select(s.edges))]

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
            rows = [{"asset_id": asset["asset_id"], "attribute": e["attribute"], "value_key": repr(e["value"])[:400],
                     "value": e["value"], "proto": e["proto"], "ts": e["ts"], "flow_id": e["flow_id"],
                     "confidence": e["confidence"]} for e in _unique_evidence(asset["evidence"])]
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
            return self._save_analysis(**kwargs)
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot write to the store {self.url}: {exc.__class__.__name__}: {exc.args[0]}") from exc

    def _save_analysis(self, *, inputs: list[tuple[str, str, int]], summary: dict[str, Any], ts_first: float | None,
                      ts_last: float | None, assets: list[dict[str, Any]], edges: list[dict[str, Any]],
                      changes: list[dict[str, Any]], seen: set[str]) -> int:
        """Write one analysis atomically: the merged assets (with evidence), edges and changes."""
        with self.engine.begin() as conn:
            aid = conn.execute(insert(s.analyses).values(
                started_at=_now(), ts_first=ts_first, ts_last=ts_last,
                inputs=[p for _, p, _ in inputs], summary=summary)).inserted_primary_key[0]  # type: ignore[index]
            for fingerprint, path, size in inputs:
                conn.execute(insert(s.inputs).values(fingerprint=fingerprint, path=path, size=size, analysis_id=aid))
            existing = set(conn.scalars(select(s.assets.c.asset_id)))
            for a in assets:
                data = {k: v for k, v in a.items() if k != "evidence"}
                values = {"data": data, "first_seen": a["first_seen"], "last_seen": a["last_seen"]}
                if a["asset_id"] in existing:
                    q = update(s.assets).where(s.assets.c.asset_id == a["asset_id"])
                    if a["asset_id"] in seen:
                        values["analysis_id"] = aid
                    conn.execute(q.values(**values))
                else:
                    conn.execute(insert(s.assets).values(asset_id=a["asset_id"], analysis_id=aid, **values))
                conn.execute(delete(s.evidence).where(s.evidence.c.asset_id == a["asset_id"]))
                ev_rows = [{"asset_id": a["asset_id"], "attribute": e["attribute"],
                            "value_key": repr(e["value"])[:400], "value": e["value"], "proto": e["proto"],
                            "ts": e["ts"], "flow_id": e["flow_id"], "confidence": e["confidence"]}
                           for e in _unique_evidence(a["evidence"])]
                if ev_rows:
                    conn.execute(insert(s.evidence), ev_rows)
            for e in edges:
                key = (s.edges.c.client == e["client"]) & (s.edges.c.server == e["server"]) & (
                    s.edges.c.proto == e["proto"])
                data = {k: e[k] for k in ("operations", "messages", "flows", "packets", "bytes")}
                if conn.execute(select(s.edges.c.client).where(key)).first():
                    conn.execute(update(s.edges).where(key).values(data=data, first_seen=e["first_seen"],
                                                                   last_seen=e["last_seen"]))
                else:
                    conn.execute(insert(s.edges).values(client=e["client"], server=e["server"], proto=e["proto"],
                                                        data=data, first_seen=e["first_seen"],
                                                        last_seen=e["last_seen"]))
            if changes:
                rows = [{"analysis_id": aid, "kind": c["kind"], "asset_id": c.get("asset_id"),
                         "detail": {k: v for k, v in c.items() if k not in ("kind", "asset_id")}} for c in changes]
                conn.execute(insert(s.changes), rows)
        return int(aid)


def _unique_evidence(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: set[tuple[str, str, str]] = set()
    out = []
    for e in items:
        key = (e["attribute"], repr(e["value"])[:400], e["proto"])
        if key not in seen:
            seen.add(key)
            out.append(e)
    return out


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()
