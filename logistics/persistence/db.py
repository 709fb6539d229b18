"""Engine, sessions and schema migration (Alembic, run programmatically).

Modules outside ``persistence/`` import the session and error types from here, never
from SQLAlchemy: every query lives in this package.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from logistics.settings import db_url

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = [
    "DataError",
    "Engine",
    "IntegrityError",
    "OperationalError",
    "Session",
    "get_engine",
    "session_factory",
    "session_scope",
    "sessionmaker",
    "transaction",
    "upgrade",
]

log = logging.getLogger(__name__)
MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


@lru_cache(maxsize=8)
def get_engine(url: str | None = None, pool_size: int | None = None) -> Engine:
    """The engine of ``url``; ``pool_size`` keeps that many connections and allows as
    many again in overflow (a server sizes it to its request threads)."""
    url = db_url(url)
    pool: dict[str, Any] = {}
    if pool_size is not None:
        pool = {"pool_size": pool_size, "max_overflow": pool_size, "pool_timeout": 60}
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, **pool)
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, pool_pre_ping=True, **pool)
    return engine


def alembic_config(url: str | None = None) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", db_url(url).replace("%", "%%"))
    return cfg


_REVISION = re.compile(r"^(down_)?revision(?:: [^=]+)? = '?(\w+)'?", re.M)


@lru_cache(maxsize=1)
def _head_revision() -> str | None:
    """The newest migration's id, read from the scripts' ``revision``/``down_revision``
    lines; None when that is not one plain chain (then Alembic decides)."""
    revs: set[str] = set()
    downs: set[str] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        for down, rev in _REVISION.findall(path.read_text(encoding="utf-8")):
            (downs if down else revs).add(rev)
    heads = revs - downs
    return heads.pop() if len(heads) == 1 else None


def _at_head(engine: Engine) -> bool:
    """Whether the database already stands at the newest migration. Checked without
    Alembic, whose import alone takes a good part of a short command's start."""
    head = _head_revision()
    if head is None:
        return False
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT version_num FROM alembic_version")).all()
    except DBAPIError:  # no version table yet
        return False
    return [r[0] for r in rows] == [head]


def upgrade(url: str | None = None) -> None:
    """Bring the schema to the newest migration."""
    engine = get_engine(url)
    if _at_head(engine):
        return
    from alembic import command

    cfg = alembic_config(url)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def session_factory(url: str | None = None, pool_size: int | None = None) -> sessionmaker[Session]:
    # get_engine(url) without a pool size: the same cached engine as every other caller's
    # (lru_cache keys get_engine(url) and get_engine(url, None) apart), so disposing
    # get_engine(url) closes this session's connections too
    engine = get_engine(url) if pool_size is None else get_engine(url, pool_size)
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction on a new session: commit on success, roll back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """One transaction on the database at ``url`` (see :func:`transaction`)."""
    with transaction(session_factory(url)) as session:
        yield session
