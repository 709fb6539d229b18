"""Both cores: PyVRP's search (``optimizer.hgs``) in a child process beside the OR-Tools
path, the better plan kept.

The two searches share the day's deadline less a short repair time, in which
PyVRP's routes are read back through OR-Tools (``hgs.keep_feasible``). The plan
that serves more jobs wins; between plans that serve as many, the one that costs
the bureau less (fixed cost per vehicle used + cost per km). A child process needs
a second core and a parent that may have children: in Dask workers (daemonic),
on one core, with a counted budget (``solution_limit``, which must not depend on
the clock) and on tiny or city-sized days the OR-Tools path runs alone.
"""

from __future__ import annotations

import copyreg
import io
import logging
import multiprocessing
import os
import pickle
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType

from optimizer.jobs import Job
from optimizer.large import route_cost
from optimizer.model import COST_SCALE
from optimizer.params import SolveParams
from optimizer.problem import Problem
from optimizer.routes import RawResult
from optimizer.solution import Solution

log = logging.getLogger(__name__)

#: below this many jobs the OR-Tools path runs alone (a second process costs more
#: than it can win on a handful of visits)
HGS_MIN_JOBS = 30
#: seconds the parent waits for the child past the searches' end before giving up
#: (at most: ``solve()`` waits no later than halfway into its left-out pass)
GRACE_S = 8.0


def read_only(d: dict[str, int]) -> Mapping[str, int]:
    return MappingProxyType(d)


def dumps(obj: object) -> bytes:
    """Pickle ``obj``; a Problem's read-only mappings (demand, capacities) as dicts."""
    buf = io.BytesIO()
    pickler = pickle.Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = {**copyreg.dispatch_table,
                              MappingProxyType: lambda m: (read_only, (dict(m),))}
    pickler.dump(obj)
    return buf.getvalue()


def mode(params: SolveParams, n_jobs: int) -> str:
    """"ortools", "hgs" (in this process) or "parallel" for a day of ``n_jobs``."""
    if params.engines == "ortools" or params.counted or n_jobs < HGS_MIN_JOBS \
            or n_jobs > params.eliminate_max_jobs:
        return "ortools"
    if params.engines == "hgs":
        return "hgs"
    if (os.cpu_count() or 1) < 2 or multiprocessing.current_process().daemon:
        return "ortools"
    return "parallel"


class HgsProcess:
    """``hgs.plan`` in a child interpreter (``python -m optimizer.hgs``), until ``deadline``;
    the parent waits for it until ``wait_until`` (default ``deadline + GRACE_S``).

    A child interpreter rather than ``multiprocessing``: a spawned process imports
    the caller's main module again, which a script without a ``__main__`` guard
    cannot survive. The problem goes in and the plan comes back pickled, through
    anonymous temporary files, not pipes served by a thread: OR-Tools holds the
    interpreter lock for a whole search, so a thread writing the problem waited for
    the parent's first search to end and the child started 40 s late on a 60 s day
    (400 points, seed 27: 13 s of search instead of 52). Its logging goes nowhere
    (nothing prints but the CLI).
    """

    def __init__(self, problem: Problem, jobs: list[Job], params: SolveParams,
                 deadline: float, wait_until: float | None = None) -> None:
        self._wait_until = deadline + GRACE_S if wait_until is None else wait_until
        root = str(Path(__file__).resolve().parents[1])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [root, *filter(None, [os.environ.get("PYTHONPATH")])])}
        # closed in result(), once the child has written its plan
        self._out = tempfile.TemporaryFile()  # noqa: SIM115
        with tempfile.TemporaryFile() as payload:
            payload.write(dumps((problem, jobs, params, deadline)))
            payload.seek(0)
            self._proc = subprocess.Popen([sys.executable, "-m", "optimizer.hgs"],
                                          stdin=payload, stdout=self._out,
                                          stderr=subprocess.DEVNULL, env=env,
                                          # a session of its own: with the kernel's
                                          # autogroup scheduling (desktops, shells) the
                                          # child would otherwise share this process's
                                          # one CPU share on a loaded machine instead
                                          # of taking a second core
                                          start_new_session=True)

    def result(self) -> RawResult | None:
        """The child's plan; None when it failed or is late."""
        with self._out:
            try:
                self._proc.wait(max(0.0, self._wait_until - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("hgs process late: stopped")
                self._proc.kill()
                self._proc.wait()
                return None
            self._out.seek(0)
            out = self._out.read()
        try:
            got = pickle.loads(out) if out else None
        except (pickle.UnpicklingError, EOFError, AttributeError, ImportError):
            log.warning("hgs process returned no readable plan")
            return None
        return got


def day_cost(problem: Problem, jobs: Sequence[Job], raw: RawResult) -> float:
    """The bureau's cost of a plan in the model's units (fixed x 1000 + per km x metres)."""
    return sum(route_cost(problem, jobs, rr) for rr in raw.routes)


def solution_cost(problem: Problem, sol: Solution) -> float:
    """The bureau's cost of an assembled plan (fixed cost per vehicle used + per km)."""
    return sum(problem.vehicles[r.vehicle].fixed_cost + problem.vehicles[r.vehicle].cost_per_km
               * r.distance_m / 1000.0 for r in sol.routes if r.client_visits)


def better_solution(problem: Problem, a: Solution, b: Solution) -> Solution:
    """:func:`better` for assembled plans: fewer required clients left out, then the
    bureau's cost plus the penalties of the optional clients left out (``a`` on a tie)."""
    def key(sol: Solution) -> tuple[int, float]:
        pens = [problem.clients[u.client].penalty for u in sol.unassigned]
        return (sum(1 for p in pens if p is None),
                solution_cost(problem, sol) + sum(float(p) for p in pens if p is not None))

    return b if key(b) < key(a) else a


def better(problem: Problem, jobs: Sequence[Job], a: RawResult, b: RawResult) -> RawResult:
    """The plan that leaves fewer required jobs out, then costs less counting the
    penalties of the optional jobs it leaves out, as the solver's objective does
    (``a`` on a tie). Serving an optional job that is worth less than it costs is no
    better: a plan that serves more is not preferred for optional jobs alone."""
    def key(r: RawResult) -> tuple[int, float]:
        required = sum(1 for j in r.dropped if jobs[j].penalty is None)
        penalties = COST_SCALE * sum(float(jobs[j].penalty or 0) for j in r.dropped
                                     if jobs[j].penalty is not None)
        return required, day_cost(problem, jobs, r) + penalties

    return b if key(b) < key(a) else a
