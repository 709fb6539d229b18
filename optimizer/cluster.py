"""The planning cluster: parts of a large day run as tasks on Dask distributed.

This is the one module that imports the engine (``distributed``); the rest of the
optimizer hands it a function and its inputs (:meth:`Cluster.map`) and gets the
results back in order. Why Dask and not Ray: docs/decisions/0008.

* ``address`` None or ``"local"``: a local cluster of worker processes on this
  machine, one per core (``"local:N"``: N workers), started for the solve and shut
  down after it (the embedded default: nothing to install or run beforehand);
* ``"tcp://HOST:8786"`` (or ``HOST:8786``): join a running cluster, started with the
  engine's own commands (``dask scheduler`` on one machine, ``dask worker
  tcp://HOST:8786 --nworkers N --nthreads 1`` on each; README, "Planning cluster").

Tasks are plain functions of picklable values; workers need the same version of
this package installed (the functions are sent by reference).
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


class ClusterError(RuntimeError):
    """The cluster cannot be reached or started; the message is meant for a person."""


def local_workers(address: str | None) -> int | None:
    """How many local workers an address asks for (None: not a local cluster)."""
    text = (address or "local").strip().lower()
    if text == "local":
        return max(1, os.cpu_count() or 1)
    if text.startswith("local:"):
        try:
            n = int(text.removeprefix("local:"))
        except ValueError:
            raise ClusterError(f"cluster {address!r}: use local, local:N or tcp://HOST:PORT") \
                from None
        if n < 1:
            raise ClusterError(f"cluster {address!r}: at least one worker")
        return n
    return None


@dataclass
class Cluster:
    """A connected Dask client; :meth:`map` runs tasks on the cluster's workers."""

    client: Any
    address: str
    local: bool

    @property
    def workers(self) -> int:
        """Worker processes (threads) the scheduler knows now."""
        info = self.client.scheduler_info()
        return max(1, sum(int(w.get("nthreads", 1)) for w in info.get("workers", {}).values()))

    def map(self, fn: Callable[[T], R], items: Sequence[T],
            priority: Sequence[int] | None = None) -> Iterator[tuple[int, R]]:
        """Run ``fn`` on each item as a task; yields ``(position, result)`` as tasks
        finish. ``priority``: larger first (long tasks first keep workers busy)."""
        as_completed = _engine().as_completed
        futures = []
        for i, item in enumerate(items):
            prio = 0 if priority is None else int(priority[i])
            futures.append(self.client.submit(fn, item, pure=False, priority=prio,
                                              key=f"part-{i}-{os.getpid()}-{id(items)}"))
        where = {f.key: i for i, f in enumerate(futures)}
        for fut in as_completed(futures):
            yield where[fut.key], fut.result()


def _engine() -> Any:
    """The ``distributed`` module (imported when a cluster is first needed)."""
    try:
        return importlib.import_module("distributed")
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise ClusterError("the planning cluster needs dask distributed "
                           "(pip install 'distributed')") from exc


@contextmanager
def connect(address: str | None = None) -> Iterator[Cluster]:
    """A cluster for the duration of a solve (see the module docstring for addresses)."""
    engine = _engine()
    # the engine's own INFO lines (workers starting, closing) are not the user's news
    logging.getLogger("distributed").setLevel(logging.WARNING)
    Client, LocalCluster = engine.Client, engine.LocalCluster  # noqa: N806 - class names
    n_local = local_workers(address)
    if n_local is not None:
        log.info("starting a local planning cluster of %d worker(s)", n_local)
        try:
            lc = LocalCluster(n_workers=n_local, threads_per_worker=1, processes=True,
                              dashboard_address=None, silence_logs=logging.WARNING)
        except Exception as exc:  # noqa: BLE001 - any start failure, said plainly
            raise ClusterError(f"cannot start a local cluster of {n_local} worker(s): "
                               f"{exc}") from exc
        client = Client(lc)
        try:
            yield Cluster(client, f"local:{n_local}", True)
        finally:
            client.close()
            lc.close()
        return
    target = str(address).strip()
    if "://" not in target:
        target = f"tcp://{target}"
    try:
        client = Client(target, timeout=20)
    except Exception as exc:  # noqa: BLE001 - unreachable, refused, timed out
        raise ClusterError(f"cannot join the planning cluster at {target}: {exc}") from exc
    try:
        yield Cluster(client, target, False)
    finally:
        client.close()


__all__ = ["Cluster", "ClusterError", "connect", "local_workers"]
