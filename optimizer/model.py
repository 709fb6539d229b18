"""Jobs + vehicles -> OR-Tools pywrapcp routing model (the only module that touches OR-Tools).

Nodes: one per distinct depot location, one per job, and optional copies of
each facility (reload nodes). Dimensions:

* ``time``: transit = service at the origin + travel; cumul = service START.
  Client windows bound the start; a facility visit must START in
  ``[open_s, close_s - unload_s]`` (the unload is over before closing);
  vehicles start and end inside their shift. Breaks are interval variables
  (``SetBreakIntervalsOfVehicle``) whose START lies in the break window and
  which lie between the vehicle's start and end.
* ``load:<compartment>`` per compartment: +amount at clients; at a facility
  copy accepting the compartment the transit is ``-BIG`` and the node's slack
  (``[0, BIG]``) brings the load back into ``[0, load]`` (classic reload
  pattern); the reported schedule empties it completely. The slack is 0
  everywhere else. End cumul 0 when the problem says vehicles end empty.
* ``collected`` (``Vehicle.max_collected``) and ``stops`` (``max_stops``).
* facility daily capacity: ``sum over copies of load-on-arrival <= capacity``
  (a CP constraint, added only when the facility could be overfilled).

Costs are integers in "milli" units: arc cost = distance_m * cost_per_km
(so 1000 units = 1 km at cost_per_km 1), fixed cost x 1000, duration weight
x 1000 per second.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from ortools.constraint_solver import pywrapcp, routing_enums_pb2

from optimizer.jobs import Job, facility_copies, facility_users
from optimizer.params import Progress, SolveParams
from optimizer.problem import Problem
from optimizer.routes import RawResult, RawRoute, RawVisit, Stop

log = logging.getLogger(__name__)

#: OR-Tools' search parameters (a protobuf message; the package has no types mypy reads)
SearchParameters = Any
NodeKind = Literal["depot", "client", "facility"]

#: time limit of the model's own restore searches (reading routes back)
CLOSE_LIMIT_S = 600

COST_SCALE = 1000
#: models of at most this many jobs search for at most TINY_SEARCH_S (guided local
#: search never stops by itself, and a counted search may never reach its count)
TINY_JOBS = 12
TINY_SEARCH_S = 2.0
FSS = routing_enums_pb2.FirstSolutionStrategy
LSM = routing_enums_pb2.LocalSearchMetaheuristic

#: RoutingModel.status() values (routing_enums.proto)
STATUS_NAMES = {0: "NOT_SOLVED", 1: "SUCCESS", 2: "PARTIAL_SUCCESS", 3: "FAIL",
                4: "FAIL_TIMEOUT", 5: "INVALID", 6: "INFEASIBLE", 7: "OPTIMAL"}

STRATEGIES = {
    name: FSS.Value.Value(name) for name in FSS.Value.keys()  # noqa: SIM118
}


#: share of a search's time for trying first-solution strategies when no start is given;
#: the rest goes to guided local search. Nine Solomon instances at 10 s (C101, C201,
#: R101, R105, R201, R205, RC101, RC105, RC201), same loaded machine: 0.3 -> mean gap
#: 5.81 %, 0.1 -> 4.63 % (no instance worse); four Homberger 200 instances at 30 s
#: (C1_2_1, R1_2_5, R2_2_5, RC2_2_5), loaded: 0.3 -> 8.14 %, 0.1 -> 8.74 %
FIRST_PHASE = 0.1

#: lns_time_limit of our searches; it also bounds restoring a start (see ``tuned``)
LNS_LIMIT_S = 3.0


class RoutingModel:
    """One OR-Tools model over a subset of jobs and vehicles."""

    def __init__(
        self,
        problem: Problem,
        jobs: Sequence[Job],
        vehicles: Sequence[int],
        params: SolveParams,
        *,
        facility_capacity_left: Sequence[int | None] | None = None,
        initial: Sequence[Sequence[Stop]] | None = None,
    ) -> None:
        self.problem = problem
        self.jobs = list(jobs)
        self.vehicles = list(vehicles)
        self.params = params
        p = problem
        vs = [p.vehicles[v] for v in self.vehicles]

        # ---- nodes
        depot_locs = sorted({v.start_location for v in vs} | {v.end_location for v in vs})
        depot_node = {loc: i for i, loc in enumerate(depot_locs)}
        node_loc: list[int] = list(depot_locs)
        node_service: list[int] = [0] * len(depot_locs)
        self.node_kind: list[NodeKind] = ["depot"] * len(depot_locs)
        self.node_ref: list[int] = [-1] * len(depot_locs)
        self.job_node0 = len(node_loc)
        for ji, j in enumerate(self.jobs):
            node_loc.append(j.location)
            node_service.append(j.service_s)
            self.node_kind.append("client")
            self.node_ref.append(ji)
        copies = facility_copies(p, self.jobs, self.vehicles)
        if initial is not None:
            used = [0] * len(p.facilities)
            for seq in initial:
                for kind, ref in seq:
                    if kind == "facility":
                        used[ref] += 1
            # room for every unload of the given first solution plus one more trip
            # per vehicle (without spare copies the search cannot add a trip, and
            # clients the start left out stay out)
            copies = [max(c, u + 2 + facility_users(p, f, self.vehicles)) if u else c
                      for c, u, f in zip(copies, used, p.facilities, strict=True)]
        self.fac_nodes: list[list[int]] = []
        for fi, f in enumerate(p.facilities):
            nodes = []
            for _ in range(copies[fi]):
                nodes.append(len(node_loc))
                node_loc.append(f.location)
                node_service.append(f.unload_s)
                self.node_kind.append("facility")
                self.node_ref.append(fi)
            self.fac_nodes.append(nodes)
        n = len(node_loc)
        self.num_nodes = n

        starts = [depot_node[v.start_location] for v in vs]
        ends = [depot_node[v.end_location] for v in vs]
        self.manager = pywrapcp.RoutingIndexManager(n, len(vs), starts, ends)
        self.routing = pywrapcp.RoutingModel(self.manager)
        self._closed = False
        m, r = self.manager, self.routing
        solver = r.solver()

        locs = np.asarray(node_loc, dtype=np.int64)
        ulocs, inv = np.unique(locs, return_inverse=True)
        dist_u = np.asarray(p.distance_m[np.ix_(ulocs, ulocs)], dtype=np.int64)
        dur_u = np.asarray(p.duration_s[np.ix_(ulocs, ulocs)], dtype=np.int64)
        dist = dist_u[np.ix_(inv, inv)]
        dur = dur_u[np.ix_(inv, inv)]
        svc = np.asarray(node_service, dtype=np.int64)

        # ---- arc costs per cost_per_km class
        cost_cb: dict[float, int] = {}
        max_arc = 1
        for li, v in enumerate(vs):
            cpk = float(v.cost_per_km)
            if cpk not in cost_cb:
                mat = np.rint(dist * cpk).astype(np.int64)
                max_arc = max(max_arc, int(mat.max()) if mat.size else 1)
                cost_cb[cpk] = r.RegisterTransitMatrix(mat.tolist())
            r.SetArcCostEvaluatorOfVehicle(cost_cb[cpk], li)
            if v.fixed_cost:
                r.SetFixedCostOfVehicle(int(round(v.fixed_cost * COST_SCALE)), li)

        max_dur = int(dur.max()) if dur.size else 0
        dw = int(round(params.duration_weight * COST_SCALE)) if params.duration_weight > 0 else 0
        fixed_max = max([v.fixed_cost for v in vs] + [0]) * COST_SCALE
        self.big_penalty = int(min(1e15 / max(1, len(self.jobs)),
                                   100 * (fixed_max + 2 * max_arc + 1) + 10**7))
        detour = 2 * max_arc + dw * (2 * max_dur + int(svc.max(initial=0))) + 1
        self.penalties = [self.big_penalty if j.penalty is None else int(j.penalty) * COST_SCALE
                          for j in self.jobs]
        #: cost per unit still on board at the end of a route (end-empty rule): above
        #: any detour, and above the penalty of every job per unit, so that ending
        #: loaded is always worse than leaving the job out
        per_unit = max([(pen + 1) // max(1, j.total) + 1
                        for pen, j in zip(self.penalties, self.jobs, strict=True)] + [0])
        self.end_load_coef = int(min(max(detour, per_unit), 10**12))

        # ---- time
        horizon = max([v.shift_end_s for v in vs] + [j.tw_end_s for j in self.jobs] + [1])
        tmat = dur + svc[:, None]
        time_cb = r.RegisterTransitMatrix(tmat.tolist())
        r.AddDimension(time_cb, horizon, horizon, False, "time")
        td = r.GetDimensionOrDie("time")
        self.time = td
        for ji, j in enumerate(self.jobs):
            idx = m.NodeToIndex(self.job_node0 + ji)
            td.CumulVar(idx).SetRange(j.tw_start_s, j.tw_end_s)
        for fi, f in enumerate(p.facilities):
            for node in self.fac_nodes[fi]:
                td.CumulVar(m.NodeToIndex(node)).SetRange(f.open_s, f.close_s - f.unload_s)
        for li, v in enumerate(vs):
            td.CumulVar(r.Start(li)).SetRange(v.shift_start_s, v.shift_end_s)
            td.CumulVar(r.End(li)).SetRange(v.shift_start_s, v.shift_end_s)
        if params.duration_weight > 0:
            td.SetSpanCostCoefficientForAllVehicles(
                max(1, int(round(params.duration_weight * COST_SCALE))))
        if params.balance_weight > 0:
            td.SetGlobalSpanCostCoefficient(int(params.balance_weight))

        # breaks
        self.breaks: dict[int, pywrapcp.IntervalVar] = {}
        if any(v.has_break for v in vs):
            visit = [0] * r.Size()
            for idx in range(r.Size()):
                visit[idx] = int(svc[m.IndexToNode(idx)])
            for li, v in enumerate(vs):
                if not v.has_break:
                    continue
                assert v.break_earliest_s is not None and v.break_latest_s is not None
                iv = solver.FixedDurationIntervalVar(
                    v.break_earliest_s, v.break_latest_s, v.break_s, False, f"break{li}")
                td.SetBreakIntervalsOfVehicle([iv], li, visit)
                # keep the break inside the route with plain cumul bounds (the local
                # search filters understand those; CP constraints on the interval they
                # do not): start no later than the window opens, end after it closes
                st = td.CumulVar(r.Start(li))
                st.SetMax(max(v.shift_start_s, min(st.Max(), v.break_earliest_s)))
                en = td.CumulVar(r.End(li))
                en.SetMin(min(v.shift_end_s, max(en.Min(), v.break_latest_s + v.break_s)))
                # not added to the assignment: restoring a first solution with a fixed
                # break makes the search fail on larger days; the break is placed
                # again from the service times when the route is read back
                self.breaks[li] = iv

        for li in range(len(vs)):
            r.AddVariableMaximizedByFinalizer(td.CumulVar(r.Start(li)))
            r.AddVariableMinimizedByFinalizer(td.CumulVar(r.End(li)))

        # ---- loads per compartment
        cats = sorted({k for v in vs for k in v.capacities} | {k for j in self.jobs for k in j.amount})
        self.load_dims: dict[str, pywrapcp.RoutingDimension] = {}
        self.categories = cats
        for k in cats:
            big = max([v.capacities.get(k, 0) for v in vs] + [0])
            need = sum(j.amount.get(k, 0) for j in self.jobs)
            if need == 0:
                continue
            vec = [0] * n
            for ji, j in enumerate(self.jobs):
                vec[self.job_node0 + ji] = int(j.amount.get(k, 0))
            reload_nodes: list[int] = []
            for fi, f in enumerate(p.facilities):
                if k in f.accepts:
                    for node in self.fac_nodes[fi]:
                        vec[node] = -big
                        reload_nodes.append(node)
            cb = r.RegisterUnaryTransitVector(vec)
            slack = big if reload_nodes else 0
            caps = [int(v.capacities.get(k, 0)) for v in vs]
            r.AddDimensionWithVehicleCapacity(cb, slack, caps, True, f"load:{k}")
            d = r.GetDimensionOrDie(f"load:{k}")
            self.load_dims[k] = d
            if reload_nodes:
                rset = set(reload_nodes)
                for idx in range(r.Size()):
                    if r.IsEnd(idx):
                        continue
                    if m.IndexToNode(idx) not in rset:
                        d.SlackVar(idx).SetValue(0)
            if p.end_empty:
                # soft: insertion heuristics add one node at a time and could never
                # open a route (client + unload) under a hard end-empty rule; the
                # cost of ending loaded beats any detour to a facility, and
                # _extract / the caller repair what is left.
                for li in range(len(vs)):
                    d.SetCumulVarSoftUpperBound(r.End(li), 0, self.end_load_coef)

        if any(v.max_collected is not None for v in vs):
            total = sum(j.total for j in self.jobs) + 1
            vec = [0] * n
            for ji, j in enumerate(self.jobs):
                vec[self.job_node0 + ji] = int(j.total)
            cb = r.RegisterUnaryTransitVector(vec)
            caps = [int(v.max_collected) if v.max_collected is not None else total for v in vs]
            r.AddDimensionWithVehicleCapacity(cb, 0, caps, True, "collected")
        if any(v.max_stops is not None for v in vs):
            vec = [0] * n
            for ji in range(len(self.jobs)):
                vec[self.job_node0 + ji] = 1
            cb = r.RegisterUnaryTransitVector(vec)
            caps = [int(v.max_stops) if v.max_stops is not None else len(self.jobs) + 1
                    for v in vs]
            r.AddDimensionWithVehicleCapacity(cb, 0, caps, True, "stops")

        # ---- facility daily capacity
        left = list(facility_capacity_left) if facility_capacity_left is not None else [
            f.daily_capacity for f in p.facilities]
        for fi, f in enumerate(p.facilities):
            cap = left[fi]
            if cap is None or not self.fac_nodes[fi]:
                continue
            inflow = sum(j.amount.get(k, 0) for j in self.jobs for k in f.accepts)
            if inflow <= cap:
                continue
            terms = [self.load_dims[k].CumulVar(m.NodeToIndex(node))
                     for k in f.accepts if k in self.load_dims for node in self.fac_nodes[fi]]
            if terms:
                solver.Add(solver.Sum(terms) <= int(max(cap, 0)))

        # ---- allowed vehicles, disjunctions
        local = {g: li for li, g in enumerate(self.vehicles)}
        for ji, j in enumerate(self.jobs):
            idx = m.NodeToIndex(self.job_node0 + ji)
            allowed = [local[g] for g in j.vehicles if g in local]
            if len(allowed) < len(vs):
                # SetAllowedVehiclesForIndex's Span<int> binding is broken in 9.15
                r.VehicleVar(idx).SetValues([-1, *allowed])
            pen = self.penalties[ji]
            r.AddDisjunction([idx], pen)
        for fi, f in enumerate(p.facilities):
            users = [li for li, v in enumerate(vs) if any(v.capacities.get(k, 0) > 0
                                                          for k in f.accepts)]
            for node in self.fac_nodes[fi]:
                idx = m.NodeToIndex(node)
                if len(users) < len(vs):
                    r.VehicleVar(idx).SetValues([-1, *users])
                r.AddDisjunction([idx], 0)

    # ------------------------------------------------------------------ search

    def search_parameters(self, time_limit_s: float, strategy: str,
                          metaheuristic: str = "GUIDED_LOCAL_SEARCH") -> SearchParameters:
        sp = pywrapcp.DefaultRoutingSearchParameters()
        sp.first_solution_strategy = STRATEGIES[strategy]
        sp.local_search_metaheuristic = LSM.Value.Value(metaheuristic)
        sp.time_limit.FromMilliseconds(max(1, int(time_limit_s * 1000)))
        if self.params.solution_limit is not None:
            sp.solution_limit = self.params.solution_limit
        sp.log_search = False
        return sp

    def tuned(self, sp: SearchParameters) -> SearchParameters:
        """Our settings for the improvement phase (never used in plain mode).

        Measured on Solomon at 10 s on a loaded 2-core machine: neighbour-limited
        operators (ls_operator_neighbors_ratio 0.3) and other GLS lambdas
        (0.2-0.5) gave no clear gain over the defaults, so the defaults stay.

        One exception: ``lns_time_limit`` (default 0.1 s) also bounds restoring the
        start assignment, which with breaks takes 0.14 s at 700 nodes on a quiet
        machine: at the default the search ends at once with ROUTING_FAIL and the
        plan is the greedy start ("restore_failed" in the stats). The LNS operators
        it bounds otherwise (CP path/TSP/inactive LNS) are off by default.
        """
        lns_s = LNS_LIMIT_S
        if self.params.counted:
            # restoring a start must not depend on the machine's speed
            lns_s = max(lns_s, sp.time_limit.ToMilliseconds() / 1000)
        sp.lns_time_limit.FromMilliseconds(int(lns_s * 1000))
        return sp

    def solve(
        self,
        time_limit_s: float,
        strategy: str = "PATH_CHEAPEST_ARC",
        *,
        plain: bool = False,
        progress: Progress | None = None,
        initial: list[list[int]] | None = None,
    ) -> RawResult:
        """Run one search. In plain mode: PATH_CHEAPEST_ARC + GLS and nothing else."""
        r = self.routing
        t0 = time.monotonic()
        if progress is not None:
            last = [0.0]

            def cb() -> None:
                now = time.monotonic()
                if now - last[0] > 0.2:
                    last[0] = now
                    progress(min(1.0, (now - t0) / max(time_limit_s, 1e-9)), int(r.CostVar().Max()))

            r.AddAtSolutionCallback(cb)
        if plain:
            sp = self.search_parameters(time_limit_s, "PATH_CHEAPEST_ARC")
            sol = r.SolveWithParameters(sp)
            return self._extract(sol, {"strategy": "plain"})
        return self._solve_auto(time_limit_s, strategy, initial)

    def skeleton_solution(self, time_limit_s: float) -> pywrapcp.Assignment | None:
        """Routes holding only one unload each, then local search inserts the clients.

        Insertion heuristics add one node at a time and so cannot open a route
        that must both collect and unload; starting from unload-only routes they can.
        """
        p = self.problem
        seqs: list[list[Stop]] = []
        for g in self.vehicles:
            v = p.vehicles[g]
            cats = {k for k, c in v.capacities.items() if c > 0}
            seq: list[Stop] = []
            while cats:
                best = None
                for fi, f in enumerate(p.facilities):
                    got = cats & f.accepts
                    if not got or not self.fac_nodes[fi]:
                        continue
                    d = int(p.distance_m[f.location, v.end_location])
                    key = (-len(got), -min(f.close_s, v.shift_end_s), d)
                    if best is None or key < best[0]:
                        best = (key, fi, got)
                if best is None:
                    break
                seq.append(("facility", best[1]))
                cats -= best[2]
            seqs.append(seq)
        r = self.routing
        sp = self.search_parameters(time_limit_s, "PARALLEL_CHEAPEST_INSERTION")
        self.close(sp)
        init = r.ReadAssignmentFromRoutes(self.routes_as_indices(seqs), True)
        if init is None:
            return None
        return r.SolveFromAssignmentWithParameters(init, sp)

    def first_solution(self, strategy: str, time_limit_s: float) -> pywrapcp.Assignment | None:
        sp = self.search_parameters(time_limit_s, strategy)
        sp.solution_limit = 1
        return self.routing.SolveWithParameters(sp)

    def _solve_auto(self, time_limit_s: float, strategy: str,
                    initial: list[list[int]] | None) -> RawResult:
        r = self.routing
        t0 = time.monotonic()
        stats: dict[str, object] = {}
        best: pywrapcp.Assignment | None = None
        best_name = ""
        firsts: dict[str, int] = {}
        if initial is not None:
            self.close(self.search_parameters(time_limit_s, "PATH_CHEAPEST_ARC"))
            best = r.ReadAssignmentFromRoutes(initial, True)
            if best is not None:
                # the model owns the returned assignment and reuses it in later
                # searches: keep a copy
                best = r.solver().Assignment(best)
                best_name = "greedy"
                firsts["greedy"] = int(best.ObjectiveValue())
        if strategy == "auto":
            cands = ["LOCAL_CHEAPEST_INSERTION", "SAVINGS", "PARALLEL_CHEAPEST_INSERTION",
                     "PATH_CHEAPEST_ARC"]
            if best is not None:
                cands = cands[:1]
        else:
            cands = [strategy]
        if strategy == "SKELETON":
            cands = ["SKELETON"]
        # first solutions one after another: the first may use up to half the
        # budget (a timed-out construction leaves everything unperformed); the
        # others run only while the construction phase stays under its share
        phase = (0.1 if best is not None else FIRST_PHASE) * time_limit_s
        counted = self.params.counted
        for name in cands:
            elapsed = time.monotonic() - t0
            left = time_limit_s - elapsed
            if counted:
                # every candidate, each bounded only by the outer time limit
                if left <= 0:
                    break
                tl = left
            elif left <= 0.05 or (best is not None and elapsed >= phase):
                break
            else:
                tl = 0.5 * left if best is None else max(0.05, phase - elapsed)
            if name == "SKELETON":
                sol = self.skeleton_solution(tl)
            else:
                sol = self.first_solution(name, tl if len(cands) > 1 else left)
            if sol is None:
                continue
            obj = int(sol.ObjectiveValue())
            firsts[name] = obj
            if best is None or obj < int(best.ObjectiveValue()):
                best, best_name = r.solver().Assignment(sol), name
        stats["first_solutions"] = firsts
        stats["first"] = best_name
        stats["greedy_ok"] = initial is None or "greedy" in firsts
        left = time_limit_s - (time.monotonic() - t0)
        if best is None:
            # nothing found quickly: one long run of the default insertion
            sp = self.search_parameters(max(left, 0.1), "PARALLEL_CHEAPEST_INSERTION")
            sol = r.SolveWithParameters(sp)
            stats["strategy"] = "fallback"
            return self._extract(sol, stats)
        if len(self.jobs) <= TINY_JOBS:
            # a handful of visits: every move has been tried long before the limit
            left = min(left, TINY_SEARCH_S)
        if left > (0 if counted else 0.05):
            sp = self.tuned(self.search_parameters(left, "PARALLEL_CHEAPEST_INSERTION"))
            sol = r.SolveFromAssignmentWithParameters(best, sp)
            stats["improve_status"] = STATUS_NAMES.get(int(r.status()), str(r.status()))
            if sol is not None and sol.ObjectiveValue() <= best.ObjectiveValue():
                best = sol
            left = time_limit_s - (time.monotonic() - t0)
            if sol is None and best_name == "greedy":
                stats["restore_failed"] = True
            if sol is None and left > (0 if counted else 1.0):
                # restoring the start failed (seen with breaks on large models): search
                # without it for the rest of the budget rather than stop here
                sp = self.search_parameters(left, "LOCAL_CHEAPEST_INSERTION")
                sol = r.SolveWithParameters(sp)
                stats["fallback_status"] = STATUS_NAMES.get(int(r.status()), str(r.status()))
                if sol is not None and sol.ObjectiveValue() < best.ObjectiveValue():
                    best, best_name = r.solver().Assignment(sol), "LOCAL_CHEAPEST_INSERTION"
        stats["strategy"] = f"{best_name}+GLS"
        return self._extract(best, stats)

    # ------------------------------------------------------------------ extraction

    def _extract(self, sol: pywrapcp.Assignment | None, stats: dict[str, object]) -> RawResult:
        r, m = self.routing, self.manager
        if sol is None:
            return RawResult(routes=[], dropped=list(range(len(self.jobs))), objective=0,
                             found=False, stats=stats)
        td = self.time
        routes: list[RawRoute] = []
        served: set[int] = set()
        for li, g in enumerate(self.vehicles):
            idx = r.Start(li)
            start_s = int(sol.Min(td.CumulVar(idx)))
            visits: list[RawVisit] = []
            idx = sol.Value(r.NextVar(idx))
            while not r.IsEnd(idx):
                node = m.IndexToNode(idx)
                kind = self.node_kind[node]
                ref = self.node_ref[node]
                start = int(sol.Min(td.CumulVar(idx)))
                if kind == "client":
                    visits.append(RawVisit("client", ref, start))
                    served.add(ref)
                else:
                    visits.append(RawVisit("facility", ref, start))
                idx = sol.Value(r.NextVar(idx))
            end_s = int(sol.Min(td.CumulVar(idx)))
            routes.append(RawRoute(g, visits, start_s, end_s, None))
        dropped = [ji for ji in range(len(self.jobs)) if ji not in served]
        return RawResult(routes, dropped, int(sol.ObjectiveValue()), True, stats)

    def close(self, sp: SearchParameters) -> None:
        """Close the model once (OR-Tools warns on every later close).

        The time limit given here also bounds every later ``ReadAssignmentFromRoutes``
        (a small search): closed with 1 s, reading a 900-visit start took 0.9 s on a
        loaded machine and failed beyond, so a start was lost to CPU load alone.
        Searches set their own limits, so the model is closed with a long one."""
        if not self._closed:
            sp = type(sp).FromString(sp.SerializeToString())
            sp.time_limit.FromSeconds(CLOSE_LIMIT_S)
            self.routing.CloseModelWithParameters(sp)
            self._closed = True

    def read_result(self, routes: list[list[int]], stats: dict[str, object]) -> RawResult | None:
        """The RawResult of these routes (from routes_as_indices), None when infeasible."""
        r = self.routing
        self.close(self.search_parameters(1.0, "PATH_CHEAPEST_ARC"))
        a = r.ReadAssignmentFromRoutes(routes, True)
        if a is None:
            return None
        return self._extract(r.solver().Assignment(a), stats)

    def readable(self, routes: list[list[int]]) -> bool:
        """Whether these routes (from routes_as_indices) are a feasible assignment."""
        r = self.routing
        self.close(self.search_parameters(1.0, "PATH_CHEAPEST_ARC"))
        return r.ReadAssignmentFromRoutes(routes, True) is not None

    def routes_as_indices(self, raw: Sequence[Sequence[Stop]]) -> list[list[int]]:
        """Turn per-vehicle (kind, ref) sequences into node lists for ReadAssignmentFromRoutes."""
        used: dict[int, int] = {}
        out: list[list[int]] = []
        for seq in raw:
            nodes: list[int] = []
            for kind, ref in seq:
                if kind == "client":
                    nodes.append(self.m_index(self.job_node0 + ref))
                else:
                    k = used.get(ref, 0)
                    if k >= len(self.fac_nodes[ref]):
                        continue
                    used[ref] = k + 1
                    nodes.append(self.m_index(self.fac_nodes[ref][k]))
            out.append(nodes)
        return out

    def m_index(self, node: int) -> int:
        return int(self.manager.NodeToIndex(node))
