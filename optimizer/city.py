"""A large day without a full matrix: :class:`CityProblem`.

A :class:`CityProblem` is a :class:`~optimizer.problem.Problem` whose two matrices
are :class:`~optimizer.distance.lazy.LazyMatrix` objects: the points and the
distance model, entries computed when read. Everything that reads a Problem by
legs (``Solution.check``, the independent checker, the plan document's legs) works
on it unchanged; the solve cuts it into regions, each with a dense matrix of its
own (:mod:`optimizer.regions`). Memory grows with the points, not their square.

A part of the day travels to a worker of the planning cluster as a
:class:`PartTask` (plain values and the part's points, never a matrix); the worker
builds the part's dense matrices and solves it (:func:`run_part`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, cast

import numpy as np

from optimizer.distance.base import DistanceModel, LonLat
from optimizer.distance.lazy import LazyMatrix, lazy_pair, part_matrices
from optimizer.params import SolveParams
from optimizer.problem import Client, Facility, Problem, ProblemError, Vehicle
from optimizer.solution import Reason, Route, Solution, Unassigned, Visit

#: solve(problem, params) -> Solution, run inside each task (``optimizer.solve.solve``)
SolveFn = Callable[[Problem, SolveParams], Solution]


@dataclass(frozen=True)
class CityProblem(Problem):
    """A Problem whose matrices are computed when read (see the module docstring)."""

    def __post_init__(self) -> None:
        if not isinstance(self.distance_m, LazyMatrix) or not isinstance(
                self.duration_s, LazyMatrix):
            raise ProblemError("a CityProblem takes LazyMatrix matrices (use city_problem)")
        object.__setattr__(self, "clients", tuple(self.clients))
        object.__setattr__(self, "vehicles", tuple(self.vehicles))
        object.__setattr__(self, "facilities", tuple(self.facilities))
        self._check_places()

    @property
    def points(self) -> np.ndarray:
        """(lon, lat) of every location, WGS-84 degrees."""
        return self.lazy_distance.points

    @property
    def model(self) -> DistanceModel:
        return self.lazy_distance.model

    @property
    def lazy_distance(self) -> LazyMatrix:
        return cast(LazyMatrix, self.distance_m)

    @property
    def lazy_duration(self) -> LazyMatrix:
        return cast(LazyMatrix, self.duration_s)


def city_problem(points: Sequence[LonLat] | np.ndarray, model: DistanceModel, *,
                 clients: Sequence[Client], vehicles: Sequence[Vehicle],
                 facilities: Sequence[Facility] = (), end_empty: bool = True, name: str = "",
                 extra: Mapping[str, object] | None = None) -> CityProblem:
    """A CityProblem over ``points`` (lon, lat) measured by ``model``."""
    dist, dur = lazy_pair(points, model)
    return CityProblem(distance_m=cast(np.ndarray, dist), duration_s=cast(np.ndarray, dur),
                       clients=tuple(clients), vehicles=tuple(vehicles),
                       facilities=tuple(facilities), end_empty=end_empty, name=name,
                       extra=dict(extra or {}))


# ------------------------------------------------------------------ parts as tasks
# Tasks travel to other processes: only plain values (the engine's nouns hold
# read-only mappings, which do not pickle).


def _plain(obj: Any) -> dict[str, Any]:
    return {f.name: dict(v) if isinstance(v, Mapping) else v
            for f in fields(obj) for v in [getattr(obj, f.name)]}


@dataclass
class PartTask:
    """One region (or repair group) to solve: plain values, local location numbers."""

    name: str
    points: np.ndarray
    model: DistanceModel
    clients: list[dict[str, Any]]
    vehicles: list[dict[str, Any]]
    facilities: list[dict[str, Any]]
    end_empty: bool
    params: SolveParams
    solve: SolveFn
    #: local -> global numbers
    locations: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    client_ids: list[int] = field(default_factory=list)
    vehicle_ids: list[int] = field(default_factory=list)
    facility_ids: list[int] = field(default_factory=list)


@dataclass
class PartResult:
    """A task's Solution as plain values (local numbers)."""

    routes: list[tuple[int, list[dict[str, Any]], int, int]]
    unassigned: list[tuple[int, dict[str, int], str]]
    wall_s: float
    objective: int
    stats: dict[str, Any]


def run_part(task: PartTask) -> PartResult:
    """Build the part's Problem (its own dense matrices) and solve it: the task body."""
    t0 = time.monotonic()
    dist, dur = part_matrices(task.model, task.points)
    problem = Problem(
        distance_m=dist, duration_s=dur,
        clients=tuple(Client(**c) for c in task.clients),
        vehicles=tuple(Vehicle(**v) for v in task.vehicles),
        facilities=tuple(Facility(**f) for f in task.facilities),
        end_empty=task.end_empty, name=task.name,
        extra={"coords": [tuple(p) for p in task.points.tolist()]})
    del dist, dur
    sol = task.solve(problem, task.params)
    routes = [(r.vehicle, [_plain(v) for v in r.visits], r.distance_m, r.duration_s)
              for r in sol.routes if r.client_visits]
    unassigned = [(u.client, dict(u.amount), str(u.reason)) for u in sol.unassigned]
    stats = {"wall_s": round(time.monotonic() - t0, 2), "clients": len(task.clients),
             "vehicles": len(task.vehicles), "locations": int(task.points.shape[0]),
             "served": len(task.clients) - len({u[0] for u in unassigned})}
    return PartResult(routes, unassigned, float(sol.wall_s), int(sol.objective), stats)



def make_task(problem: CityProblem, name: str, clients: Sequence[int],
              vehicles: Sequence[int], facilities: Sequence[int],
              capacity: Mapping[int, int | None], params: SolveParams, solve: SolveFn,
              demand: Mapping[int, Mapping[str, int]] | None = None) -> PartTask:
    """A task over these global clients, vehicles and facilities (``demand``: what is
    left to collect of a client, when not its whole demand)."""
    locs: list[int] = []
    local: dict[int, int] = {}

    def at(loc: int) -> int:
        if loc not in local:
            local[loc] = len(locs)
            locs.append(loc)
        return local[loc]

    vs = []
    for v in vehicles:
        d = _plain(problem.vehicles[v])
        d["start_location"], d["end_location"] = at(d["start_location"]), at(d["end_location"])
        vs.append(d)
    fs = []
    for fi in facilities:
        d = _plain(problem.facilities[fi])
        d["location"] = at(d["location"])
        d["daily_capacity"] = capacity.get(fi, d["daily_capacity"])
        fs.append(d)
    cs = []
    for c in clients:
        d = _plain(problem.clients[c])
        d["location"] = at(d["location"])
        if demand is not None and c in demand:
            d["demand"] = dict(demand[c])
        cs.append(d)
    arr = np.asarray(locs, dtype=np.int64)
    return PartTask(name=name, points=np.array(problem.points[arr]), model=problem.model,
                    clients=cs, vehicles=vs, facilities=fs, end_empty=problem.end_empty,
                    params=params, solve=solve, locations=arr, client_ids=list(clients),
                    vehicle_ids=list(vehicles), facility_ids=list(facilities))


def global_routes(task: PartTask, res: PartResult) -> list[Route]:
    """A task's routes in the day's numbers."""
    out = []
    for vl, visits, metres, secs in res.routes:
        vv = []
        for d in visits:
            d = dict(d)
            if d["index"] is not None:
                ids = task.client_ids if d["kind"] == "client" else task.facility_ids
                d["index"] = ids[d["index"]]
            if d["location"] is not None:
                d["location"] = int(task.locations[d["location"]])
            vv.append(Visit(**d))
        out.append(Route(task.vehicle_ids[vl], tuple(vv), metres, secs))
    return out


def global_unassigned(task: PartTask, res: PartResult) -> list[Unassigned]:
    return [Unassigned(task.client_ids[c], amount, Reason(reason))
            for c, amount, reason in res.unassigned]


__all__ = ["CityProblem", "PartResult", "PartTask", "SolveFn", "city_problem", "global_routes",
           "global_unassigned", "make_task", "run_part"]
