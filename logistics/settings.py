"""Runtime settings: which database, where things go. Read from the environment."""

from __future__ import annotations

import os

DEFAULT_DB_URL = "sqlite:///wasteroute.db"
TIMEZONE = "Asia/Shanghai"


def db_url(override: str | None = None) -> str:
    """The SQLAlchemy URL: --db beats WASTEROUTE_DB beats ./wasteroute.db."""
    return override or os.environ.get("WASTEROUTE_DB") or DEFAULT_DB_URL


def redis_url() -> str | None:
    """Redis for the job queue; None = run jobs in-process (embedded default)."""
    return os.environ.get("WASTEROUTE_REDIS") or None
