"""A second engine: PyVRP (0.14) on the part of a Problem its model can express.

What maps exactly:

* compartments -> PyVRP load dimensions (client demand is a *pickup*);
* client time windows and service times, vehicle shifts, fixed costs, distance cost;
* facilities -> reload depots (unloading must start at ``open_s`` or later and end
  by ``close_s``: depot window [open, close - unload]; the unload time is the depot
  service duration, which PyVRP applies when leaving a reload depot);
* ``end_empty``: a vehicle that must come home empty ends its PyVRP route at a
  copy of a facility; the last leg (facility -> home) is added as a fixed cost and
  its travel time is taken off the latest arrival;
* clients with a ``penalty`` become optional clients with that prize.

What PyVRP cannot express (see :func:`unsupported_rules`), and what this engine
does instead:

* breaks: the shift is shortened by the break and the break is inserted afterwards
  into the first gap where the schedule still fits (it may not fit: then the
  returned Solution breaks a rule, which ``Solution.check`` or the benchmark
  checker reports);
* a daily cap on what a vehicle collects (``max_collected``): the number of trips is
  limited so that full trips cannot exceed it (a restriction, never a violation);
* ``max_stops``, facility ``daily_capacity``, facilities that accept only part of a
  vehicle's compartments (PyVRP empties every dimension at a reload: such
  facilities are not offered to that vehicle), splitting oversized demands.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from optimizer.params import SolveParams
from optimizer.problem import Problem, Vehicle
from optimizer.solution import Reason, Route, Solution, Unassigned, Visit

log = logging.getLogger(__name__)

#: PyVRP costs are integers: distance cost per unit = round(cost_per_km * COST_SCALE).
#: Kept at 1 (cost_per_km = 1 -> 1 per metre): PyVRP's penalty weights are capped, so
#: inflating the objective would make infeasible solutions look cheap.
COST_SCALE = 1
_BIG = 2**62


def unsupported_rules(problem: Problem) -> list[str]:
    """Rules of ``problem`` that PyVRP's model cannot express exactly."""
    out: list[str] = []
    if any(v.has_break for v in problem.vehicles):
        out.append("breaks (PyVRP has no breaks; inserted afterwards into the schedule)")
    if any(v.max_collected is not None for v in problem.vehicles):
        out.append("daily cap per vehicle (approximated by a limit on the number of trips)")
    if any(v.max_stops is not None for v in problem.vehicles):
        out.append("max stops per vehicle (not enforced)")
    if any(f.daily_capacity is not None for f in problem.facilities):
        out.append("facility daily capacity (not enforced)")
    for v in problem.vehicles:
        comps = {c for c, cap in v.capacities.items() if cap > 0}
        if any(f.accepts & comps and not comps <= f.accepts for f in problem.facilities):
            out.append("facilities accepting only part of a vehicle's compartments (not used)")
            break
    for c in problem.clients:
        if any(
            all(amt > v.capacities.get(cat, 0) for v in problem.vehicles)
            for cat, amt in c.demand.items()
            if amt > 0
        ):
            out.append("demands larger than every compartment (PyVRP cannot split them)")
            break
    return out


def supports(problem: Problem) -> bool:
    """True when PyVRP's model expresses every rule of ``problem`` exactly."""
    return not unsupported_rules(problem)


# --------------------------------------------------------------------------- model


@dataclass
class _Group:
    """Identical vehicles, solved as one or more PyVRP vehicle types."""

    vehicle: Vehicle
    members: list[int]
    #: PyVRP vehicle type indices, with the facility index the type ends at (or None)
    types: list[tuple[int, int | None]] = field(default_factory=list)


@dataclass
class _Mapping:
    dims: list[str]
    client_ids: list[int]  # PyVRP client idx -> our client index
    depot_kind: list[tuple[str, int]]  # PyVRP depot idx -> ("home", loc) | ("fac"|"end", f)
    type_group: list[tuple[int, int | None]]  # PyVRP type -> (group, end facility)
    groups: list[_Group]
    unassigned: list[Unassigned]
    relaxed_break: bool
    notes: list[str]


def vehicle_key(v: Vehicle) -> tuple[object, ...]:
    return (
        v.start_location,
        v.end_location,
        tuple(sorted(v.capacities.items())),
        v.shift_start_s,
        v.shift_end_s,
        v.break_s,
        v.break_earliest_s,
        v.break_latest_s,
        v.fixed_cost,
        v.cost_per_km,
        v.max_collected,
        v.max_stops,
    )


def _accepting(problem: Problem, v: Vehicle) -> list[int]:
    comps = {c for c, cap in v.capacities.items() if cap > 0}
    if not comps:
        return []
    return [k for k, f in enumerate(problem.facilities) if comps <= f.accepts]


def build_data(problem: Problem, num_end_facilities: int | None = None) -> tuple[object, _Mapping]:
    """Translate ``problem`` into a ``pyvrp.ProblemData`` and the index mapping back.

    ``num_end_facilities`` limits, for vehicles that must come home empty, the
    facilities they may end at to the nearest ones to home. Each one is a separate
    vehicle type with the group's full count, so more than one keeps the fleet
    exact only when it is not binding: the default is 1, or every facility when
    ``problem.extra["fleet_unbounded"]`` is true (benchmarks with free fleet size).
    """
    if num_end_facilities is None and not problem.extra.get("fleet_unbounded"):
        num_end_facilities = 1
    import pyvrp

    dist = problem.distance_m
    dur = problem.duration_s
    dims = sorted(problem.categories)
    dim_of = {c: i for i, c in enumerate(dims)}
    coords = problem.extra.get("coords") if isinstance(problem.extra, dict) else None
    n = problem.num_locations
    if isinstance(coords, list) and len(coords) == n:
        locations = [pyvrp.Location(x=float(c[0]), y=float(c[1])) for c in coords]
    else:
        locations = [pyvrp.Location(x=0.0, y=0.0) for _ in range(n)]

    # vehicle groups
    groups: dict[tuple[object, ...], _Group] = {}
    for k, v in enumerate(problem.vehicles):
        groups.setdefault(vehicle_key(v), _Group(v, [])).members.append(k)
    group_list = list(groups.values())
    notes = unsupported_rules(problem)

    # PyVRP's penalty weights are bounded (max_penalty): a prize far above any route's
    # cost makes an infeasible solution look cheaper than leaving a client out. A
    # client worth more than a whole extra vehicle over the longest round trip (x4)
    # is worth "anything feasible", so the prize is capped there.
    max_unit = max(max(1, round(v.cost_per_km * COST_SCALE)) for v in problem.vehicles)
    max_fixed = max(int(v.fixed_cost) for v in problem.vehicles) * COST_SCALE
    prize_cap = 4 * (max_fixed + max_unit * 3 * int(dist.max(initial=0)) + 1)

    # clients: drop the ones no vehicle can carry
    unassigned: list[Unassigned] = []
    clients = []
    client_ids: list[int] = []
    for ci, c in enumerate(problem.clients):
        need = {cat for cat, amt in c.demand.items() if amt > 0}
        carriers = [g for g in group_list if need <= set(g.vehicle.capacities)]
        if not carriers:
            unassigned.append(Unassigned(ci, c.demand, Reason.NO_VEHICLE_FOR_CATEGORY))
            continue
        if not any(
            all(c.demand[cat] <= g.vehicle.capacities.get(cat, 0) for cat in need) for g in carriers
        ):
            unassigned.append(Unassigned(ci, c.demand, Reason.CAPACITY))
            continue
        pickup = [0] * len(dims)
        for cat, amt in c.demand.items():
            pickup[dim_of[cat]] = int(amt)
        optional = c.penalty is not None
        clients.append(
            pyvrp.Client(
                location=c.location,
                pickup=pickup,
                delivery=[0] * len(dims),
                service_duration=int(c.service_s),
                tw_early=int(c.tw_start_s),
                tw_late=int(c.tw_end_s),
                prize=min(int(c.penalty or 0) * COST_SCALE, prize_cap) if optional else 0,
                required=not optional,
            )
        )
        client_ids.append(ci)

    # depots: homes, then one reload copy per facility, then end copies per group
    depots: list[pyvrp.Depot] = []
    depot_kind: list[tuple[str, int]] = []
    home_idx: dict[int, int] = {}
    for v in problem.vehicles:
        for loc in (v.start_location, v.end_location):
            if loc not in home_idx:
                home_idx[loc] = len(depots)
                depots.append(pyvrp.Depot(location=loc))
                depot_kind.append(("home", loc))
    fac_idx: dict[int, int] = {}
    for f_i, f in enumerate(problem.facilities):
        fac_idx[f_i] = len(depots)
        depots.append(
            pyvrp.Depot(
                location=f.location,
                tw_early=int(f.open_s),
                tw_late=max(int(f.open_s), int(f.close_s) - int(f.unload_s)),
                service_duration=int(f.unload_s),
            )
        )
        depot_kind.append(("fac", f_i))

    vtypes: list[pyvrp.VehicleType] = []
    type_group: list[tuple[int, int | None]] = []
    relaxed_break = any(v.has_break for v in problem.vehicles)
    for g_i, g in enumerate(group_list):
        v = g.vehicle
        caps = [int(v.capacities.get(c, 0)) for c in dims]
        reloads = [fac_idx[f] for f in _accepting(problem, v)]
        max_reloads: int | None = None
        if v.max_collected is not None:
            total_cap = sum(caps)
            trips = v.max_collected // total_cap if total_cap else 1
            if trips < 1:
                scale = v.max_collected / total_cap
                caps = [int(math.floor(c * scale)) for c in caps]
                trips = 1
            max_reloads = trips - 1
        shift_end = int(v.shift_end_s) - (int(v.break_s) if v.has_break else 0)
        unit = max(1, round(v.cost_per_km * COST_SCALE))
        base: dict[str, Any] = {
            "num_available": len(g.members),
            "capacity": caps,
            "start_depot": home_idx[v.start_location],
            "tw_early": int(v.shift_start_s),
            "unit_distance_cost": unit,
            "reload_depots": reloads,
        }
        if max_reloads is not None:
            base["max_reloads"] = max_reloads
        ends: list[int | None]
        if problem.end_empty and reloads:
            order = sorted(
                _accepting(problem, v),
                key=lambda f: int(dist[problem.facilities[f].location, v.end_location]),
            )
            ends = list(order[:num_end_facilities] if num_end_facilities else order)
        else:
            ends = [None]
        for f_end in ends:
            if f_end is None:
                end_depot = home_idx[v.end_location]
                tw_late = shift_end
                fixed = int(v.fixed_cost) * COST_SCALE
            else:
                f = problem.facilities[f_end]
                back = int(dur[f.location, v.end_location])
                tw_late = shift_end - int(f.unload_s) - back
                end_depot = len(depots)
                depots.append(
                    pyvrp.Depot(
                        location=f.location,
                        tw_early=int(f.open_s),
                        tw_late=int(min(f.close_s - f.unload_s, max(tw_late, f.open_s))),
                    )
                )
                depot_kind.append(("end", f_end))
                fixed = int(v.fixed_cost) * COST_SCALE + unit * int(
                    dist[f.location, v.end_location]
                )
            if tw_late < v.shift_start_s:
                continue
            type_group.append((g_i, f_end))
            g.types.append((len(vtypes), f_end))
            vtypes.append(
                pyvrp.VehicleType(
                    end_depot=end_depot, tw_late=int(tw_late), fixed_cost=fixed, **base
                )
            )
    if not vtypes:
        raise ValueError("no vehicle can work inside its shift")
    data = pyvrp.ProblemData(
        locations,
        clients,
        depots,
        vtypes,
        [np.asarray(dist, dtype=np.int64)],  # type: ignore[list-item]
        [np.asarray(dur, dtype=np.int64)],  # type: ignore[list-item]
    )
    return data, _Mapping(
        dims, client_ids, depot_kind, type_group, group_list, unassigned, relaxed_break, notes
    )


# --------------------------------------------------------------------------- solve


def solve_pyvrp(problem: Problem, params: SolveParams | None = None) -> Solution:
    """Solve ``problem`` with PyVRP's iterated local search within the time limit."""
    import pyvrp
    from pyvrp.stop import MaxIterations, MaxRuntime, MultipleCriteria

    params = params or SolveParams(engine="pyvrp")
    t0 = time.perf_counter()
    if not problem.clients:
        return Solution((), (), engine="pyvrp", wall_s=0.0, objective=0)
    data, m = build_data(problem)
    budget = max(0.1, params.time_limit_s - (time.perf_counter() - t0))
    stop: Any = MaxRuntime(budget)
    if params.solution_limit is not None:
        # counted: the same iterations on any machine; the time limit is a safety bound
        stop = MultipleCriteria([MaxIterations(params.solution_limit), stop])
    res = pyvrp.solve(data, stop, seed=params.seed, display=False)  # type: ignore[arg-type]
    best = res.best
    routes: list[Route] = []
    used: dict[int, list[int]] = {g: list(grp.members) for g, grp in enumerate(m.groups)}
    served: set[int] = set()
    for r in best.routes():
        g_i, f_end = m.type_group[r.vehicle_type()]
        pool = used[g_i]
        if not pool:  # more routes than vehicles (several end facilities)
            log.warning("pyvrp used more vehicles than the group has; reusing an index")
            vehicle = m.groups[g_i].members[-1]
        else:
            vehicle = pool.pop(0)
        stops: list[tuple[str, int]] = []  # ("client", our idx) | ("facility", f)
        acts = list(r.schedule())
        for a in acts[1:-1]:
            if a.is_client():
                ci = m.client_ids[a.idx]
                stops.append(("client", ci))
                served.add(ci)
            elif a.is_depot():
                kind, f = m.depot_kind[a.idx]
                if kind in ("fac", "end"):
                    stops.append(("facility", f))
        if f_end is not None:
            stops.append(("facility", f_end))
        routes.append(_make_route(problem, vehicle, stops, int(r.start_time())))
    unassigned = list(m.unassigned)
    taken = {u.client for u in unassigned}
    for ci, c in enumerate(problem.clients):
        if ci not in served and ci not in taken:
            unassigned.append(Unassigned(ci, c.demand, Reason.NOT_ENOUGH_VEHICLES))
    wall = time.perf_counter() - t0
    return Solution(
        routes=tuple(routes),
        unassigned=tuple(sorted(unassigned, key=lambda u: u.client)),
        engine="pyvrp",
        wall_s=round(wall, 3),
        objective=int(round(res.cost() / COST_SCALE)) if res.is_feasible() else 0,
        stats={
            "pyvrp_feasible": bool(res.is_feasible()),
            "pyvrp_cost": float(res.cost()),
            "iterations": int(res.num_iterations) if hasattr(res, "num_iterations") else None,
            "dropped_rules": m.notes,
        },
    )


def _make_route(
    problem: Problem, vehicle: int, stops: Sequence[tuple[str, int]], start_s: int
) -> Route:
    """Build a Route with an earliest-start schedule; insert the break if there is one."""
    v = problem.vehicles[vehicle]
    locs = [v.start_location]
    for kind, i in stops:
        locs.append(
            problem.clients[i].location if kind == "client" else problem.facilities[i].location
        )
    locs.append(v.end_location)
    best: tuple[int, int, int | None] | None = None  # (violations, start, gap)
    # PyVRP's own (late) start first; from the shift start if the break does not fit
    for start in dict.fromkeys((max(int(start_s), int(v.shift_start_s)), int(v.shift_start_s))):
        violations, gap = _best_break_gap(problem, v, locs, stops, start)
        if best is None or violations < best[0]:
            best = (violations, start, gap)
        if violations == 0:
            break
    assert best is not None
    _, visits = _schedule(problem, v, locs, stops, best[1], best[2])
    distance = int(sum(int(problem.distance_m[a, b]) for a, b in zip(locs, locs[1:], strict=False)))
    return Route(
        vehicle=vehicle,
        visits=tuple(visits),
        distance_m=distance,
        duration_s=visits[-1].arrival_s - visits[0].departure_s,
    )


def _best_break_gap(
    problem: Problem,
    v: Vehicle,
    locs: list[int],
    stops: Sequence[tuple[str, int]],
    start: int,
) -> tuple[int, int | None]:
    """The gap to put the break in (None without a break) and its violation count.

    Linear in practice: the schedule without a break is computed once; a break in
    gap ``g`` only delays what follows until waiting absorbs the delay, after which
    the no-break schedule (and its violations) applies unchanged.
    """
    dur = problem.duration_s
    m = len(locs)
    lo = [0] * m
    hi = [0] * m
    serv = [0] * m
    for k, (kind, i) in enumerate(stops, start=1):
        if kind == "client":
            c = problem.clients[i]
            lo[k], hi[k], serv[k] = int(c.tw_start_s), int(c.tw_end_s), int(c.service_s)
        else:
            f = problem.facilities[i]
            lo[k], hi[k], serv[k] = int(f.open_s), int(f.close_s - f.unload_s), int(f.unload_s)
    lo[m - 1], hi[m - 1] = 0, int(v.shift_end_s)
    travel = [int(dur[locs[k], locs[k + 1]]) for k in range(m - 1)]
    # schedule without a break: service start s0[k], departure d0[k]
    s0 = [start] * m
    d0 = [start] * m
    bad0 = [0] * m
    for k in range(1, m):
        s0[k] = max(d0[k - 1] + travel[k - 1], lo[k])
        bad0[k] = int(s0[k] > hi[k])
        d0[k] = s0[k] + serv[k]
    suffix = [0] * (m + 1)
    for k in range(m - 1, -1, -1):
        suffix[k] = suffix[k + 1] + bad0[k]
    if not v.has_break:
        return suffix[0], None
    assert v.break_earliest_s is not None and v.break_latest_s is not None
    e, late, b = int(v.break_earliest_s), int(v.break_latest_s), int(v.break_s)
    prefix = 0
    best: tuple[int, int | None] = (m + 1, 0)
    for g in range(m - 1):
        if g > 0:
            prefix += bad0[g]
        bs = max(d0[g], e)
        bad = prefix + int(bs > late)
        t = max(d0[g] + travel[g], bs) + b
        for k in range(g + 1, m):
            s = max(t, lo[k])
            if s == s0[k]:
                bad += suffix[k]
                break
            bad += int(s > hi[k])
            t = s + serv[k]
            if k + 1 < m:
                t += travel[k]
        if bad < best[0]:
            best = (bad, g)
        if bad == 0 or bs > late:
            break
    return best


def _schedule(
    problem: Problem,
    v: Vehicle,
    locs: list[int],
    stops: Sequence[tuple[str, int]],
    start: int,
    break_gap: int | None,
) -> tuple[int, list[Visit]]:
    """Visits with earliest times; the break (if any) in gap ``break_gap``.

    Returns the number of violated time limits and the visits.
    """
    dur = problem.duration_s
    dims = sorted(v.capacities)
    load = dict.fromkeys(dims, 0)
    visits = [Visit("start", None, locs[0], start, start, start, {}, dict(load))]
    t = start
    bad = 0
    for g in range(len(locs) - 1):
        a, b = locs[g], locs[g + 1]
        travel = int(dur[a, b])
        if g == break_gap:
            assert v.break_earliest_s is not None and v.break_latest_s is not None
            bs = max(t, int(v.break_earliest_s))
            if bs > v.break_latest_s:
                bad += 1
            visits.append(Visit("break", None, None, bs, bs, bs + int(v.break_s)))
            t = max(t + travel, bs) + int(v.break_s)
        else:
            t += travel
        if g + 1 == len(locs) - 1:
            if t > v.shift_end_s:
                bad += 1
            visits.append(Visit("end", None, b, t, t, t, {}, dict(load)))
            break
        kind, i = stops[g]
        if kind == "client":
            c = problem.clients[i]
            s = max(t, int(c.tw_start_s))
            if s > c.tw_end_s:
                bad += 1
            for cat, amt in c.demand.items():
                load[cat] = load.get(cat, 0) + int(amt)
            visits.append(
                Visit("client", i, b, t, s, s + int(c.service_s), dict(c.demand), dict(load))
            )
            t = s + int(c.service_s)
        else:
            f = problem.facilities[i]
            s = max(t, int(f.open_s))
            if s > f.close_s:
                bad += 1
            for cat in load:
                if cat in f.accepts:
                    load[cat] = 0
            visits.append(Visit("facility", i, b, t, s, s + int(f.unload_s), {}, dict(load)))
            t = s + int(f.unload_s)
    return bad, visits
