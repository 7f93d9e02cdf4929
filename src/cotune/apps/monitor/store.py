"""The monitor's store: scored events, series state, alerts and their deliveries, through
SQLAlchemy (SQLite in WAL mode by default; PostgreSQL is a URL away).

Exactly-once storage under at-least-once delivery rests on one rule: an event's id is its
primary key and inserts skip ids already present, so a redelivered or replayed event changes
nothing. Every aggregate the detector reads is computed from the stored events, so counts can
never drift from what was stored, and a restarted worker (or a second one) reads the same.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    cast,
    create_engine,
    event,
    func,
    select,
    update,
)
from sqlalchemy.exc import SQLAlchemyError

from cotune.apps.monitor.scoring import Scored
from cotune.errors import ConfigError

meta = MetaData()

events = Table(
    "events",
    meta,
    Column("id", String(200), primary_key=True),
    Column("ts", Float, nullable=False, index=True),
    Column("win", Integer, nullable=False),
    Column("text", Text, nullable=False),
    Column("topic", String(200), nullable=False),
    Column("lang", String(20)),
    Column("source", String(200)),
    Column("sentiment", String(10), nullable=False),
    Column("negative", Integer, nullable=False),
    Column("p_negative", Float, nullable=False),
    Column("score", Float, nullable=False),
    Column("orgs", JSON, nullable=False),
    Column("truncated", Boolean, nullable=False),
    Column("late", Boolean, nullable=False),
    Column("stored_at", Float, nullable=False),
)
event_orgs = Table(
    "event_orgs",
    meta,
    Column("event_id", String(200), primary_key=True),
    Column("org", String(200), primary_key=True),
    Column("win", Integer, nullable=False, index=True),
    Column("negative", Integer, nullable=False),
    Column("score", Float, nullable=False),
)
state = Table(
    "monitor_state",
    meta,
    Column("key", String(100), primary_key=True),
    Column("value", Text, nullable=False),
)
series = Table(
    "series_state",
    meta,
    Column("series", String(300), primary_key=True),
    Column("state", JSON, nullable=False),
    Column("last_win", Integer, nullable=False, index=True),
)
alerts = Table(
    "alerts",
    meta,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("series", String(300), nullable=False),
    Column("window_start", Float, nullable=False, index=True),
    Column("window_end", Float, nullable=False),
    Column("severity", String(10), nullable=False),
    Column("body", JSON, nullable=False),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("series", "window_start", name="one_alert_per_series_window"),
)
deliveries = Table(
    "deliveries",
    meta,
    Column("alert_id", Integer, primary_key=True),
    Column("sink", String(100), primary_key=True),
    Column("status", String(10), nullable=False, index=True),  # pending | delivered | failed
    Column("attempts", Integer, nullable=False),
    Column("next_try", Float, nullable=False),
    Column("last_error", Text),
    Column("delivered_at", Float),
)
Index("events_win_topic", events.c.win, events.c.topic)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL: readers (the dashboard) never block the writer. synchronous=FULL: a commit is on disk
    # before it returns, so an event acknowledged after its commit survives kill -9 and power loss.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def insert_ignoring(engine: Engine, table: Table) -> Any:
    """INSERT that skips rows whose key is already there (SQLite and PostgreSQL)."""
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing()
    if engine.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table).on_conflict_do_nothing()
    raise ConfigError(
        f"store.url: {engine.dialect.name} is not supported",
        fix="use a sqlite:/// or postgresql+psycopg:// URL",
    )


class Store:
    def __init__(self, url: str, window_s: float) -> None:
        try:
            self.engine = create_engine(url, pool_pre_ping=True)
        except (SQLAlchemyError, ImportError, ValueError) as e:
            raise ConfigError(
                f"store.url {url!r} cannot be opened: {e}",
                fix="give a SQLAlchemy URL such as sqlite:///monitor.db",
            ) from None
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self.window_s = window_s
        try:
            meta.create_all(self.engine)
        except SQLAlchemyError as e:
            raise ConfigError(f"store.url {url!r}: {e}", fix="check the URL and rights") from None
        self._check_window(url)

    def _check_window(self, url: str) -> None:
        stored = self.get_state("window_s")
        if stored is None:
            self.set_state_if("window_s", None, repr(self.window_s))
        elif float(stored) != self.window_s:
            raise ConfigError(
                f"the store {url} was built with {float(stored) / 60:g}-minute windows, the config "
                f"says {self.window_s / 60:g}",
                where="detector.window_minutes",
                fix="set detector.window_minutes back, or point store.url at a new store",
            )

    # ---------------------------------------------------------------- key/value state

    def get_state(self, key: str) -> str | None:
        with self.engine.connect() as c:
            return c.execute(select(state.c.value).where(state.c.key == key)).scalar()

    def set_state_if(self, key: str, old: str | None, new: str, conn: Any = None) -> bool:
        """Compare-and-set: the one way two workers agree who advances a shared mark."""

        def run(c: Any) -> bool:
            if old is None:
                done = c.execute(insert_ignoring(self.engine, state), [{"key": key, "value": new}])
            else:
                done = c.execute(
                    update(state).where(state.c.key == key, state.c.value == old).values(value=new)
                )
            return bool(done.rowcount)

        if conn is not None:
            return run(conn)
        with self.engine.begin() as c:
            return run(c)

    # ---------------------------------------------------------------- events

    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        with self.engine.connect() as c:
            for i in range(0, len(ids), 500):
                chunk = list(ids[i : i + 500])
                found.update(c.execute(select(events.c.id).where(events.c.id.in_(chunk))).scalars())
        return found

    def add(self, scored: Sequence[Scored]) -> int:
        """Store scored events in one transaction; ids already stored are skipped. Returns how
        many were new. Events of a window already judged are kept and flagged late."""
        if not scored:
            return 0
        closed = self.closed_win()
        now = time.time()
        rows, org_rows = [], []
        for s in scored:
            win = int(s.event.ts // self.window_s)
            e = s.event
            rows.append(
                {
                    "id": e.id,
                    "ts": e.ts,
                    "win": win,
                    "text": e.text,
                    "topic": s.topic,
                    "lang": e.lang,
                    "source": e.source,
                    "sentiment": s.sentiment,
                    "negative": int(s.negative),
                    "p_negative": s.p_negative,
                    "score": s.score,
                    "orgs": s.orgs,
                    "truncated": e.truncated,
                    "late": closed is not None and win <= closed,
                    "stored_at": now,
                }
            )
            org_rows += [
                {
                    "event_id": e.id,
                    "org": o,
                    "win": win,
                    "negative": int(s.negative),
                    "score": s.score,
                }
                for o in s.orgs
            ]
        with self.engine.begin() as c:
            # the rows RETURNING gives back are the ones inserted: a driver's rowcount for a
            # batched insert is -1 or 0 on PostgreSQL (psycopg), so it cannot count them
            inserted = insert_ignoring(self.engine, events).returning(events.c.id)
            added = len(c.execute(inserted, rows).all())
            if org_rows:
                c.execute(insert_ignoring(self.engine, event_orgs), org_rows)
            newest = max(s.event.ts for s in scored)
            c.execute(insert_ignoring(self.engine, state), [{"key": "max_ts", "value": "0"}])
            c.execute(
                update(state)
                .where(state.c.key == "max_ts", cast(state.c.value, Float) < newest)
                .values(value=repr(newest))
            )
        return added

    def count(self) -> int:
        with self.engine.connect() as c:
            return int(c.execute(select(func.count()).select_from(events)).scalar_one())

    def max_ts(self) -> float | None:
        value = self.get_state("max_ts")
        return float(value) if value is not None else None

    def closed_win(self) -> int | None:
        value = self.get_state("closed_win")
        return int(value) if value is not None else None

    # ---------------------------------------------------------------- windows

    def windows_with_events(self, after: int | None, upto: int, conn: Any) -> list[int]:
        q = select(events.c.win).where(events.c.win <= upto).distinct().order_by(events.c.win)
        if after is not None:
            q = q.where(events.c.win > after)
        return list(conn.execute(q).scalars())

    def window_counts(self, win: int, conn: Any) -> dict[str, tuple[int, int]]:
        """series -> (volume, negatives) in one window: per topic and per organisation."""
        out: dict[str, tuple[int, int]] = {}
        q = (
            select(events.c.topic, func.count(), func.sum(events.c.negative))
            .where(events.c.win == win)
            .group_by(events.c.topic)
        )
        for topic, n, k in conn.execute(q):
            out[f"topic:{topic}"] = (int(n), int(k or 0))
        q = (
            select(event_orgs.c.org, func.count(), func.sum(event_orgs.c.negative))
            .where(event_orgs.c.win == win)
            .group_by(event_orgs.c.org)
        )
        for org, n, k in conn.execute(q):
            out[f"org:{org}"] = (int(n), int(k or 0))
        return out

    def examples(self, series_key: str, win: int, k: int, conn: Any) -> list[dict[str, Any]]:
        """The k most negative texts of a series' window: what drove its alert."""
        kind, _, name = series_key.partition(":")
        cols = [events.c.id, events.c.ts, events.c.text, events.c.p_negative, events.c.source]
        if kind == "org":
            q = select(*cols).join(event_orgs, event_orgs.c.event_id == events.c.id)
            q = q.where(event_orgs.c.org == name, event_orgs.c.win == win)
        else:
            q = select(*cols).where(events.c.topic == name, events.c.win == win)
        q = q.order_by(events.c.p_negative.desc(), events.c.id).limit(k)
        return [
            {"id": i, "ts": ts, "text": t, "p_negative": round(p, 4), "source": s}
            for i, ts, t, p, s in conn.execute(q)
        ]

    def load_series(self, keys: Iterable[str], conn: Any) -> dict[str, dict[str, Any]]:
        keys = list(keys)
        out: dict[str, dict[str, Any]] = {}
        for i in range(0, len(keys), 500):
            q = select(series.c.series, series.c.state).where(
                series.c.series.in_(keys[i : i + 500])
            )
            out.update({k: dict(v) for k, v in conn.execute(q)})
        return out

    def save_series(self, states: dict[str, dict[str, Any]], win: int, conn: Any) -> None:
        if not states:
            return
        known = self.load_series(states, conn)
        fresh = [
            {"series": k, "state": v, "last_win": win} for k, v in states.items() if k not in known
        ]
        if fresh:
            conn.execute(series.insert(), fresh)
        for k, v in states.items():
            if k in known:
                conn.execute(
                    update(series).where(series.c.series == k).values(state=v, last_win=win)
                )

    def evict_series(self, keep: int, conn: Any) -> int:
        """Bound the detector's state: forget all but the `keep` series seen most recently."""
        total = conn.execute(select(func.count()).select_from(series)).scalar_one()
        if total <= keep:
            return 0
        recent = (
            select(series.c.series)
            .order_by(series.c.last_win.desc(), series.c.series)
            .limit(keep)
            .scalar_subquery()
        )
        return int(conn.execute(series.delete().where(series.c.series.not_in(recent))).rowcount)

    # ---------------------------------------------------------------- alerts

    def add_alert(self, body: dict[str, Any], sinks: Sequence[str], conn: Any) -> int | None:
        """Queue an alert and one delivery per sink, in the caller's transaction; None when this
        series' window already has one (a replay, or another worker)."""
        row = {
            "series": body["series"],
            "window_start": body["window_start_ts"],
            "window_end": body["window_end_ts"],
            "severity": body["severity"],
            "body": body,
            "created_at": time.time(),
        }
        done = conn.execute(insert_ignoring(self.engine, alerts), [row])
        if not done.rowcount:
            return None
        alert_id = conn.execute(
            select(alerts.c.id).where(
                alerts.c.series == row["series"], alerts.c.window_start == row["window_start"]
            )
        ).scalar_one()
        now = time.time()
        if not sinks:
            return int(alert_id)
        conn.execute(
            deliveries.insert(),
            [
                {
                    "alert_id": alert_id,
                    "sink": s,
                    "status": "pending",
                    "attempts": 0,
                    "next_try": now,
                }
                for s in sinks
            ],
        )
        return int(alert_id)

    def alerts(
        self, since: float | None = None, until: float | None = None, limit: int = 200
    ) -> list[dict[str, Any]]:
        q = select(alerts.c.id, alerts.c.body).order_by(alerts.c.window_start.desc(), alerts.c.id)
        if since is not None:
            q = q.where(alerts.c.window_end > since)
        if until is not None:
            q = q.where(alerts.c.window_start < until)
        with self.engine.connect() as c:
            return [{"id": i, **dict(b)} for i, b in c.execute(q.limit(limit))]

    def due_deliveries(self, sinks: Sequence[str], now: float, limit: int = 50) -> list[Any]:
        q = (
            select(deliveries, alerts.c.body)
            .join(alerts, alerts.c.id == deliveries.c.alert_id)
            .where(
                deliveries.c.status == "pending",
                deliveries.c.next_try <= now,
                deliveries.c.sink.in_(list(sinks)),
            )
            .order_by(deliveries.c.next_try, deliveries.c.alert_id)
            .limit(limit)
        )
        with self.engine.connect() as c:
            return list(c.execute(q))

    def claim_delivery(self, alert_id: int, sink: str, seen: float, lease_until: float) -> bool:
        """Take a due delivery for `lease_until` seconds, unless another worker just did."""
        with self.engine.begin() as c:
            done = c.execute(
                update(deliveries)
                .where(
                    deliveries.c.alert_id == alert_id,
                    deliveries.c.sink == sink,
                    deliveries.c.status == "pending",
                    deliveries.c.next_try == seen,
                )
                .values(next_try=lease_until)
            )
            return bool(done.rowcount)

    def finish_delivery(
        self, alert_id: int, sink: str, *, ok: bool, error: str | None, next_try: float | None
    ) -> None:
        values: dict[str, Any] = {"attempts": deliveries.c.attempts + 1, "last_error": error}
        if ok:
            values.update(status="delivered", delivered_at=time.time())
        elif next_try is None:
            values.update(status="failed")
        else:
            values.update(next_try=next_try)
        with self.engine.begin() as c:
            c.execute(
                update(deliveries)
                .where(deliveries.c.alert_id == alert_id, deliveries.c.sink == sink)
                .values(**values)
            )

    def delivery_counts(self) -> dict[str, int]:
        q = select(deliveries.c.status, func.count()).group_by(deliveries.c.status)
        with self.engine.connect() as c:
            return {s: int(n) for s, n in c.execute(q)}

    # ---------------------------------------------------------------- dashboard reads

    def topics(self) -> list[dict[str, Any]]:
        q = (
            select(events.c.topic, func.count(), func.sum(events.c.negative))
            .group_by(events.c.topic)
            .order_by(func.count().desc())
        )
        with self.engine.connect() as c:
            return [
                {"topic": t, "volume": int(n), "negatives": int(k or 0)} for t, n, k in c.execute(q)
            ]

    def series_points(
        self,
        topic: str | None,
        org: str | None,
        since: float | None,
        until: float | None,
        per: int = 1,
    ) -> list[dict[str, Any]]:
        """Volume, negative share and mean score per window (or per `per` windows)."""
        table = event_orgs if org is not None else events
        bucket = (table.c.win // per).label("bucket") if per > 1 else table.c.win.label("bucket")
        q = select(bucket, func.count(), func.sum(table.c.negative), func.avg(table.c.score))
        if org is not None:
            q = q.where(event_orgs.c.org == org)
        elif topic is not None:
            q = q.where(events.c.topic == topic)
        if since is not None:
            q = q.where(table.c.win >= int(since // self.window_s))
        if until is not None:
            q = q.where(table.c.win <= int(until // self.window_s))
        q = q.group_by("bucket").order_by("bucket")
        span = self.window_s * per
        with self.engine.connect() as c:
            return [
                {
                    "start": int(b) * span,
                    "volume": int(n),
                    "negative_share": (int(k or 0) / int(n)) if n else 0.0,
                    "mean_score": float(s or 0.0),
                }
                for b, n, k, s in c.execute(q)
            ]

    def close(self) -> None:
        self.engine.dispose()


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, sort_keys=True)
