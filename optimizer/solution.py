"""The result of a solve: routes of visits, unassigned clients with reasons."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from optimizer.problem import Problem

VisitKind = Literal["start", "client", "facility", "break", "end"]


class Reason(StrEnum):
    """Why a client was not served. Values are part of the plan document."""

    NO_VEHICLE_FOR_CATEGORY = "no_vehicle_for_category"
    TIME_WINDOW_UNREACHABLE = "time_window_unreachable"
    CAPACITY = "capacity"
    FACILITY_CLOSED = "facility_closed"
    NOT_ENOUGH_VEHICLES = "not_enough_vehicles"


def _fm(m: Mapping[str, int]) -> Mapping[str, int]:
    return MappingProxyType(dict(m))


@dataclass(frozen=True, slots=True)
class Visit:
    kind: VisitKind
    #: client index (kind "client") or facility index (kind "facility"), else None
    index: int | None
    #: location index into the matrices; None for a break
    location: int | None
    arrival_s: int
    start_s: int
    departure_s: int
    #: units collected at this visit (clients; a split client has several visits)
    amount: Mapping[str, int] = field(default_factory=dict)
    #: load per compartment after the visit
    load_after: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "amount", _fm(self.amount))
        object.__setattr__(self, "load_after", _fm(self.load_after))


@dataclass(frozen=True, slots=True)
class Route:
    vehicle: int
    visits: tuple[Visit, ...]
    distance_m: int
    duration_s: int

    @property
    def client_visits(self) -> list[Visit]:
        return [v for v in self.visits if v.kind == "client"]


@dataclass(frozen=True, slots=True)
class Unassigned:
    client: int
    amount: Mapping[str, int]
    reason: Reason

    def __post_init__(self) -> None:
        object.__setattr__(self, "amount", _fm(self.amount))


@dataclass(frozen=True)
class Solution:
    routes: tuple[Route, ...]
    unassigned: tuple[Unassigned, ...]
    engine: str = "ortools"
    wall_s: float = 0.0
    objective: int = 0
    #: free-form solver statistics (strategy used, phases, ...)
    stats: Mapping[str, object] = field(default_factory=dict)

    @property
    def distance_m(self) -> int:
        return sum(r.distance_m for r in self.routes)

    @property
    def vehicles_used(self) -> int:
        return sum(1 for r in self.routes if r.client_visits)

    # ------------------------------------------------------------------ checks

    def check(self, problem: Problem) -> list[str]:
        """Every broken rule, one line each; an empty list means the plan is feasible."""
        return check_solution(self, problem)

    def summary(self) -> dict[str, object]:
        """Plain figures for logs, the CLI and the plan document."""
        reasons: dict[str, int] = {}
        for u in self.unassigned:
            reasons[str(u.reason)] = reasons.get(str(u.reason), 0) + 1
        routes = []
        for r in self.routes:
            if not r.client_visits:
                continue
            collected: dict[str, int] = {}
            for v in r.client_visits:
                for k, q in v.amount.items():
                    collected[k] = collected.get(k, 0) + q
            routes.append({
                "vehicle": r.vehicle,
                "stops": len(r.client_visits),
                "unloads": sum(1 for v in r.visits if v.kind == "facility"),
                "distance_m": r.distance_m,
                "duration_s": r.duration_s,
                "start_s": r.visits[0].departure_s if r.visits else None,
                "end_s": r.visits[-1].arrival_s if r.visits else None,
                "collected": collected,
            })
        served = {v.index for r in self.routes for v in r.client_visits}
        return {
            "engine": self.engine,
            "wall_s": round(self.wall_s, 3),
            "objective": self.objective,
            "vehicles_used": self.vehicles_used,
            "distance_m": self.distance_m,
            "duration_s": sum(r.duration_s for r in self.routes if r.client_visits),
            "clients_served": len(served),
            "client_visits": sum(len(r.client_visits) for r in self.routes),
            "clients_unassigned": len({u.client for u in self.unassigned}),
            "unassigned_reasons": reasons,
            "routes": routes,
        }


def load_client(load: dict[str, int], capacities: Mapping[str, int], amount: Mapping[str, int],
                got: dict[str, int]) -> tuple[int, list[str]]:
    """Put a client visit's ``amount`` on board: ``load`` and ``got`` (what the client
    has had so far) grow. Returns the units collected and the rules broken (a
    compartment the vehicle lacks, a load above a compartment's capacity)."""
    units = 0
    broken: list[str] = []
    for k, q in amount.items():
        if q <= 0:
            continue
        if k not in capacities:
            broken.append(f"vehicle has no compartment {k!r}")
            continue
        load[k] += q
        units += q
        got[k] = got.get(k, 0) + q
        if load[k] > capacities[k]:
            broken.append(f"load {load[k]} above capacity {capacities[k]} of {k!r}")
    return units, broken


def check_solution(sol: Solution, problem: Problem) -> list[str]:
    """Independent feasibility check of a Solution against its Problem."""
    errs: list[str] = []
    dist, dur = problem.distance_m, problem.duration_s
    nc = len(problem.clients)
    served: dict[int, dict[str, int]] = {}
    seen_vehicles: set[int] = set()
    fac_in: dict[int, int] = {}
    for r in sol.routes:
        where = f"route of vehicle {r.vehicle}"
        if not 0 <= r.vehicle < len(problem.vehicles):
            errs.append(f"{where}: no such vehicle")
            continue
        if r.vehicle in seen_vehicles:
            errs.append(f"{where}: vehicle has two routes")
        seen_vehicles.add(r.vehicle)
        veh = problem.vehicles[r.vehicle]
        vs = r.visits
        if len(vs) < 2 or vs[0].kind != "start" or vs[-1].kind != "end":
            errs.append(f"{where}: must begin with start and finish with end")
            continue
        if vs[0].location != veh.start_location or vs[-1].location != veh.end_location:
            errs.append(f"{where}: wrong depot")
        if vs[0].departure_s < veh.shift_start_s or vs[-1].arrival_s > veh.shift_end_s:
            errs.append(f"{where}: outside shift [{veh.shift_start_s}, {veh.shift_end_s}]"
                        f" ({vs[0].departure_s}..{vs[-1].arrival_s})")
        load = {k: 0 for k in veh.capacities}
        collected = 0
        stops = 0
        breaks = 0
        total_m = 0
        prev = vs[0]
        pending_break: Visit | None = None
        for pos, v in enumerate(vs[1:], start=1):
            at = f"{where}, visit {pos} ({v.kind} {v.index})"
            if v.kind == "break":
                breaks += 1
                if pending_break is not None:
                    errs.append(f"{at}: two breaks in one leg")
                pending_break = v
                if veh.break_earliest_s is not None and veh.break_latest_s is not None and not (
                        veh.break_earliest_s <= v.start_s <= veh.break_latest_s):
                    errs.append(f"{at}: break starts at {v.start_s} outside its window")
                if v.departure_s - v.start_s < veh.break_s:
                    errs.append(f"{at}: break shorter than {veh.break_s} s")
                if v.start_s < prev.departure_s:
                    errs.append(f"{at}: break starts before the previous departure")
                continue
            if v.location is None or prev.location is None:
                errs.append(f"{at}: no location")
                continue
            leg_t = int(dur[prev.location, v.location])
            total_m += int(dist[prev.location, v.location])
            need = prev.departure_s + leg_t
            if pending_break is not None:
                need += veh.break_s
                if pending_break.departure_s > v.arrival_s:
                    errs.append(f"{at}: arrives before the break ends")
                pending_break = None
            if v.arrival_s < need:
                errs.append(f"{at}: arrival {v.arrival_s} earlier than possible ({need})")
            if v.start_s < v.arrival_s or v.departure_s < v.start_s:
                errs.append(f"{at}: times out of order")
            if v.kind == "client":
                if v.index is None or not 0 <= v.index < nc:
                    errs.append(f"{at}: no such client")
                    continue
                c = problem.clients[v.index]
                if v.location != c.location:
                    errs.append(f"{at}: wrong location")
                if not c.tw_start_s <= v.start_s <= c.tw_end_s:
                    errs.append(f"{at}: starts {v.start_s} outside [{c.tw_start_s}, {c.tw_end_s}]")
                stops += 1
                units, broken = load_client(load, veh.capacities, v.amount,
                                            served.setdefault(v.index, {}))
                collected += units
                errs.extend(f"{at}: {e}" for e in broken)
            elif v.kind == "facility":
                if v.index is None or not 0 <= v.index < len(problem.facilities):
                    errs.append(f"{at}: no such facility")
                    continue
                f = problem.facilities[v.index]
                if v.location != f.location:
                    errs.append(f"{at}: wrong location")
                if v.start_s < f.open_s or v.start_s + f.unload_s > f.close_s:
                    errs.append(f"{at}: unload {v.start_s}+{f.unload_s} outside hours"
                                f" [{f.open_s}, {f.close_s}]")
                if v.departure_s - v.start_s < f.unload_s:
                    errs.append(f"{at}: unload shorter than {f.unload_s} s")
                for k in list(load):
                    if k in f.accepts:
                        fac_in[v.index] = fac_in.get(v.index, 0) + load[k]
                        load[k] = 0
            elif v.kind == "end":
                if pos != len(vs) - 1:
                    errs.append(f"{at}: end before the last visit")
            else:
                errs.append(f"{at}: unexpected kind")
            for k, q in v.load_after.items():
                if load.get(k, 0) != q:
                    errs.append(f"{at}: reported load {q} of {k!r}, actual {load.get(k, 0)}")
            prev = v
        if pending_break is not None:
            errs.append(f"{where}: break after the end")
        if problem.end_empty and any(q > 0 for q in load.values()):
            errs.append(f"{where}: returns loaded {dict(load)}")
        if veh.has_break and breaks != 1 and any(v.kind == "client" for v in vs):
            errs.append(f"{where}: {breaks} breaks, expected 1")
        if veh.max_collected is not None and collected > veh.max_collected:
            errs.append(f"{where}: collected {collected} above {veh.max_collected}")
        if veh.max_stops is not None and stops > veh.max_stops:
            errs.append(f"{where}: {stops} stops above {veh.max_stops}")
        if total_m != r.distance_m:
            errs.append(f"{where}: distance {r.distance_m} != sum of legs {total_m}")
    for fi, q in fac_in.items():
        cap = problem.facilities[fi].daily_capacity
        if cap is not None and q > cap:
            errs.append(f"facility {fi}: receives {q} above its daily capacity {cap}")
    missing: dict[int, dict[str, int]] = {}
    for u in sol.unassigned:
        if not 0 <= u.client < nc:
            errs.append(f"unassigned: no such client {u.client}")
            continue
        m = missing.setdefault(u.client, {})
        for k, q in u.amount.items():
            m[k] = m.get(k, 0) + q
    for ci, c in enumerate(problem.clients):
        got = served.get(ci, {})
        miss = missing.get(ci, {})
        if ci not in served and ci not in missing:
            errs.append(f"client {ci}: neither served nor unassigned")
            continue
        for k, q in c.demand.items():
            if q <= 0:
                continue
            if got.get(k, 0) + miss.get(k, 0) != q:
                errs.append(f"client {ci}: {k!r} served {got.get(k, 0)} + unassigned "
                            f"{miss.get(k, 0)} != demand {q}")
    return errs
