"""The query log (SQLite through SQLAlchemy by default; any SQLAlchemy URL works) and the
review export that closes the loop: low-confidence and handed-off queries become a labelling
file in the intents format, to correct and append to the intents file for the next build."""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Boolean, Float, Integer, String, Text, create_engine, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from cotune.errors import ConfigError


class _Base(DeclarativeBase):
    pass


class QueryRecord(_Base):
    __tablename__ = "queries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    asked_at: Mapped[str] = mapped_column(String(32), index=True)
    source: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    lang: Mapped[str] = mapped_column(String(8))
    intent: Mapped[str | None] = mapped_column(String(200), nullable=True)
    top_intent: Mapped[str | None] = mapped_column(String(200), nullable=True)
    confidence: Mapped[float] = mapped_column(Float)
    faq_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    handoff: Mapped[bool] = mapped_column(Boolean, index=True)
    reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    candidates: Mapped[str] = mapped_column(Text)
    reviewed: Mapped[bool] = mapped_column(Boolean, default=False, index=True)


def log_url(target: str | Path) -> str:
    """A SQLAlchemy URL as given, or a SQLite file path made into one."""
    text = str(target)
    return text if "://" in text else f"sqlite:///{Path(text).resolve()}"


class QueryLog:
    """Append-only log of answered queries; safe to share between threads."""

    def __init__(self, target: str | Path) -> None:
        self.url = log_url(target)
        args = {"check_same_thread": False} if self.url.startswith("sqlite") else {}
        try:
            self.engine = create_engine(self.url, connect_args=args)
            _Base.metadata.create_all(self.engine)
        except SQLAlchemyError as e:
            raise ConfigError(
                f"cannot open the query log {self.url}: {e}",
                where="log",
                fix="give a writable SQLite path or a SQLAlchemy URL",
            ) from None
        self._lock = threading.Lock()

    def record(self, answers: Sequence[dict[str, Any]], source: str) -> None:
        now = datetime.now(UTC).isoformat(timespec="seconds")
        rows = [
            QueryRecord(
                asked_at=now,
                source=source,
                text=a["text"],
                lang=a["lang"],
                intent=a["intent"],
                top_intent=a.get("top_intent"),
                confidence=float(a["confidence"]),
                faq_id=a["faq_id"],
                handoff=bool(a["handoff"]),
                reason=a.get("reason"),
                candidates=json.dumps(a["candidates"], ensure_ascii=False),
                reviewed=False,
            )
            for a in answers
        ]
        with self._lock, Session(self.engine) as session:
            session.add_all(rows)
            session.commit()

    def count(self) -> int:
        with Session(self.engine) as session:
            return len(session.scalars(select(QueryRecord.id)).all())

    def export_review(
        self, out: Path, *, below: float, include_reviewed: bool = False, mark: bool = True
    ) -> int:
        """Write handed-off and low-confidence queries (once per text) as intents-file rows;
        the suggested intent is the model's guess and must be checked. Returns rows written."""
        with Session(self.engine) as session:
            query = select(QueryRecord).where(
                (QueryRecord.handoff.is_(True)) | (QueryRecord.confidence < below)
            )
            if not include_reviewed:
                query = query.where(QueryRecord.reviewed.is_(False))
            records = session.scalars(query.order_by(QueryRecord.id)).all()
            seen: set[str] = set()
            rows = []
            for r in records:
                key = r.text.casefold()
                if key in seen:
                    continue
                seen.add(key)
                rows.append(
                    {
                        "text": r.text,
                        "intent": r.intent if r.reason != "out of scope" else None,
                        "lang": r.lang,
                        "_suggested": r.top_intent,
                        "_confidence": r.confidence,
                        "_reason": r.reason,
                        "_asked_at": r.asked_at,
                        "_answered_with": r.faq_id,
                    }
                )
            _write_atomic(out, rows)
            if mark and records:
                ids = [r.id for r in records]
                session.execute(
                    update(QueryRecord).where(QueryRecord.id.in_(ids)).values(reviewed=True)
                )
                session.commit()
        return len(rows)

    def close(self) -> None:
        self.engine.dispose()


def _write_atomic(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
