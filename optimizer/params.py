"""Solver parameters, and the budget a search runs under."""

from __future__ import annotations

import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path

#: progress(fraction of the time limit used, best objective or None)
Progress = Callable[[float, int | None], None]


@dataclass(frozen=True, slots=True)
class SolveParams:
    time_limit_s: float = 30.0
    seed: int = 0
    #: "auto" lets solve() choose; otherwise an OR-Tools first-solution strategy name
    strategy: str = "auto"
    #: "ortools" (every rule) or "pyvrp" (where its model covers the problem) or "auto"
    engine: str = "ortools"
    #: weight of route duration in the objective (per second), small by default
    duration_weight: float = 0.0
    #: workload balance: GlobalSpan coefficient on route duration (0 = off)
    balance_weight: int = 0
    num_workers: int = 1
    #: above this many visits the day is cut into sub-problems (clusters)
    decompose_above: int = 1200
    #: with breaks, a compartment group of more visits than this is decomposed too
    #: (a generated 1,100-client day, group of 691, at 60 s: one model 5,419 km and 17
    #: left out; decomposed 4,928 km and 7)
    decompose_group_above: int = 600
    #: with breaks, a group of more visits than this is decomposed when its greedy
    #: start serves every visit (a fleet with room: small models improve faster;
    #: a generated 800-client day, group of 504, at 60 s: 3,011 -> 2,512 km). A tight
    #: group stays one model: the demo day's residual group (546 visits, greedy
    #: start 7 short) decomposed leaves points out at 110 s
    decompose_slack_group_above: int = 450
    #: target number of visits per sub-problem when decomposing; small models restore
    #: their start and improve faster. Measured on a generated 1,500-client day at
    #: 60 s: 500 -> 6,699 km, 250 -> 6,105, 150 -> 5,738 (another seed: 150 -> 6,013,
    #: 250 -> 6,855)
    chunk_size: int = 150
    #: share of a decomposed day's budget spent re-planning neighbouring routes
    #: across part borders (large.improve_neighbourhoods); 1,500 clients at 60 s:
    #: 0 -> 6,105 km (13 left out), 0.3 -> 6,058 (6), 0.5 -> 6,063 (0), 0.7 -> 6,159 (0)
    neighbourhood_share: float = 0.5
    #: share of the budget kept for route elimination across the whole day
    #: (``optimizer.eliminate``): a route is emptied into its neighbours when every job
    #: still fits and the day costs less
    eliminate_share: float = 0.25
    #: no route elimination above this many visits: on a 10,000-client day at 110 s
    #: on a loaded machine the parts needed all their time to serve the day
    eliminate_max_jobs: int = 3000
    #: when set, every OR-Tools search stops after this many solutions (PyVRP after
    #: this many iterations) and every loop of ours counts instead of reading the
    #: clock: the same problem, seed and limit give the same Solution on any machine.
    #: ``time_limit_s`` is then only an outer safety bound (set it large). Solutions
    #: cost more on large models: a 300-client day takes ~2 s at 20, ~25 s at 200
    #: on a 2-core machine
    solution_limit: int | None = None
    #: the planning cluster for days planned by regions (``optimizer.regions``):
    #: None or "local" = a local cluster, one worker per core; "local:N" = N local
    #: workers; "tcp://HOST:8786" = join a running Dask cluster (``optimizer.cluster``)
    cluster: str | None = None
    #: clients per region of a day without a full matrix (``optimizer.city``); each
    #: region is one task with a dense matrix of its own
    region_size: int = 1500
    #: a region's budget is its share of ``time_limit_s`` and at least this much per
    #: client, so a large day's solver time does not depend on the number of workers
    region_s_per_visit: float = 0.02
    #: engines of a day (``optimizer.portfolio``): "parallel" = PyVRP's search
    #: (``optimizer.hgs``) in a child process beside the OR-Tools path, the plan that
    #: serves more (then costs less) kept; it falls back to "ortools" in daemonic
    #: processes (Dask workers), on one core and with ``solution_limit``.
    #: "ortools" = the OR-Tools path alone; "hgs" = PyVRP's search alone, in-process
    engines: str = "parallel"

    @property
    def counted(self) -> bool:
        """Whether the search is bounded by counts (deterministic) rather than time."""
        return self.solution_limit is not None

    @classmethod
    def from_toml(cls, path: str | Path) -> SolveParams:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        data = data.get("solve", data)
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True, slots=True)
class Budget:
    """When work must stop.

    Timed: at ``deadline`` on the ``time.monotonic()`` clock. Counted (a
    ``SolveParams.solution_limit``): each search stops after its solution limit
    and each loop of ours after a count of its own; the deadline is then only an
    outer safety bound, so that the result does not depend on the machine's speed.
    """

    deadline: float
    counted: bool = False

    @classmethod
    def of(cls, params: SolveParams, t0: float) -> Budget:
        """The whole solve's budget, started at ``t0``."""
        return cls(t0 + params.time_limit_s, params.counted)

    def left_s(self) -> float:
        return self.deadline - time.monotonic()

    def allows(self, margin_s: float) -> bool:
        """Whether more work may start: over ``margin_s`` left (counted: any time left)."""
        left = self.left_s()
        return left > 0 if self.counted else left > margin_s

    def until(self, deadline: float) -> Budget:
        """A share of this budget ending at ``deadline`` (counted: the same safety bound)."""
        return self if self.counted else Budget(deadline)
