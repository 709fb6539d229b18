"""Ray against Dask distributed for the planning cluster: start, many small tasks, one
large argument, memory of all processes. The measurement behind docs/decisions/0008.

    python benchmarks/cluster_engines.py dask
    python benchmarks/cluster_engines.py ray     # in an environment with ray installed

Each run starts a local cluster of 2 worker processes (1 thread each), runs 200 small
tasks, sends one 32 MB array to a task, and prints the seconds of each step and the
resident memory of this process and all its children (psutil).
"""

from __future__ import annotations

import sys
import time

import numpy as np
import psutil


def work(n: int) -> int:
    return int(np.arange(n * 1000, dtype=np.int64).sum())


def shape(x: np.ndarray) -> tuple[int, ...]:
    return tuple(x.shape)


def rss_all_mb() -> float:
    me = psutil.Process()
    return sum(p.memory_info().rss for p in [me, *me.children(recursive=True)]) / 1e6


def run_dask() -> dict[str, float]:
    t0 = time.time()  # the import counts: it is part of starting
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=None)
    client = Client(cluster)
    t1 = time.time()
    client.gather(client.map(work, range(200), pure=False))
    t2 = time.time()
    client.submit(shape, np.zeros((2000, 2000))).result()
    t3 = time.time()
    out = {"start_s": t1 - t0, "tasks_200_s": t2 - t1, "arg_32mb_s": t3 - t2,
           "rss_mb": rss_all_mb()}
    client.close()
    cluster.close()
    return out


def run_ray() -> dict[str, float]:
    t0 = time.time()  # the import counts: it is part of starting
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    t1 = time.time()
    remote_work, remote_shape = ray.remote(work), ray.remote(shape)
    ray.get([remote_work.remote(i) for i in range(200)])
    t2 = time.time()
    ray.get(remote_shape.remote(np.zeros((2000, 2000))))
    t3 = time.time()
    out = {"start_s": t1 - t0, "tasks_200_s": t2 - t1, "arg_32mb_s": t3 - t2,
           "rss_mb": rss_all_mb()}
    ray.shutdown()
    return out


def main() -> int:
    which = sys.argv[1] if len(sys.argv) > 1 else "dask"
    res = run_dask() if which == "dask" else run_ray()
    print(which, {k: round(v, 2) for k, v in res.items()})  # noqa: T201 - a benchmark script
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
