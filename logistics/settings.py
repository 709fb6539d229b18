"""Runtime settings: which database, where things go. Read from the environment."""

from __future__ import annotations

import os

DEFAULT_DB_URL = "sqlite:///wasteroute.db"
TIMEZONE = "Asia/Shanghai"


def db_url(override: str | None = None) -> str:
    """The SQLAlchemy URL: --db beats WASTEROUTE_DB beats ./wasteroute.db."""
    return override or os.environ.get("WASTEROUTE_DB") or DEFAULT_DB_URL


def cluster_address() -> str | None:
    """``WASTEROUTE_CLUSTER``: the planning cluster large days run on (``local``,
    ``local:N`` or ``tcp://HOST:8786``); None = a local cluster, one worker per core.
    ``--cluster`` beats it."""
    return os.environ.get("WASTEROUTE_CLUSTER") or None


#: above this many locations a day is planned without a full matrix, by regions on
#: the planning cluster (optimizer.city)
DEFAULT_CITY_ABOVE = 3000


def city_above() -> int:
    """``WASTEROUTE_CITY_ABOVE``: locations (points, depots, facilities) above which a
    day is planned by regions on the planning cluster (default 3000)."""
    text = os.environ.get("WASTEROUTE_CITY_ABOVE") or ""
    return max(1, int(text)) if text.strip().isdigit() else DEFAULT_CITY_ABOVE


def redis_url() -> str | None:
    """Redis for the job queue; None = run jobs in-process (embedded default)."""
    return os.environ.get("WASTEROUTE_REDIS") or None


#: failed sign-ins allowed per account and per client address (``limits`` notation)
DEFAULT_LOGIN_LIMIT_ACCOUNT = "5/minute"
DEFAULT_LOGIN_LIMIT_ADDRESS = "20/minute"
#: concurrent Argon2 hash checks per API process
DEFAULT_HASH_THREADS = 2
#: the shortest WASTEROUTE_SECRET a server on a non-loopback address accepts
MIN_SECRET_BYTES = 32


def login_limit_account() -> str:
    """``WASTEROUTE_LOGIN_LIMIT_ACCOUNT``: failed sign-ins per user name (default 5/minute)."""
    return os.environ.get("WASTEROUTE_LOGIN_LIMIT_ACCOUNT") or DEFAULT_LOGIN_LIMIT_ACCOUNT


def login_limit_address() -> str:
    """``WASTEROUTE_LOGIN_LIMIT_ADDRESS``: failed sign-ins per client address
    (default 20/minute)."""
    return os.environ.get("WASTEROUTE_LOGIN_LIMIT_ADDRESS") or DEFAULT_LOGIN_LIMIT_ADDRESS


def hash_threads() -> int:
    """``WASTEROUTE_HASH_THREADS``: Argon2 checks at once per API process (default 2)."""
    return max(1, int(os.environ.get("WASTEROUTE_HASH_THREADS") or DEFAULT_HASH_THREADS))


def token_secret_env() -> str | None:
    """``WASTEROUTE_SECRET``: the key that signs bearer tokens and login cookies."""
    return os.environ.get("WASTEROUTE_SECRET") or None
