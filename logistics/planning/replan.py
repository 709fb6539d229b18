"""Re-planning the rest of a day after an event (docs/operations.md).

Given the current plan of a date and a moment ``at`` (local time):

* a stop whose ``departure`` is not later than ``at`` has been served and stays
  exactly as it is (times, loads, legs);
* a truck that has left its depot is committed to the stop it is driving to (or
  serving) at ``at``: that stop stays as planned too, and the truck goes on from
  there at its departure with the load it then carries (an unload at a facility
  that has just closed is not committed: the truck turns round);
* a truck still at its depot starts again from its depot at ``max(at, shift start)``;
  trucks that were not used yet join the same way; trucks back home are done;
* a truck that breaks down (``vehicle_down``) collects nothing more. Its crew takes
  the break if it is still due (while waiting), then the truck is driven to the
  nearest open facility(ies) accepting what it carries and back to its depot
  ("limps home"); its later stops go to the others. When no facility can take
  its load any more the load is *stranded*: reported in the diff, and the route
  ends loaded (the plan checker will flag it) rather than pretending;
* an added point (``add_points``) must be served with its kg (default
  ``kg_per_visit``); a closed facility takes nothing for the rest of the day;
  facilities keep what is left of their daily capacity after the fixed part;
* everything open (remaining stops, points that were unassigned, added points)
  is re-optimised by the engine (:func:`translate.to_problem` with trucks that go
  on) and the result is stitched after the fixed parts: a new plan version with a
  ``replan`` section (base plan, event, diff).

Nothing is written unless the new plan was made; the CLI commits it.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from dataclasses import dataclass, field, replace
from typing import Any

from logistics.domain import BadInput, NotFound
from logistics.persistence import plan_repo, planning_repo
from logistics.persistence.db import Session
from logistics.persistence.models import Complaint, Depot, Facility, Point, Vehicle
from logistics.planning import translate
from logistics.planning.document import Plan, Replan, Solver, Stop, Summary, Unassigned, deliveries
from logistics.planning.translate import (
    Collection,
    DistanceModel,
    GoingOn,
    Place,
    SolveParams,
    Tail,
    Truck,
    iso,
    model_from_description,
    resolve_distance_model,
    seconds,
    seconds_of,
)

log = logging.getLogger(__name__)


@dataclass
class ReplanResult:
    plan_id: str
    version: int
    base_plan_id: str
    #: the new plan (with its plan_id once stored)
    plan: Plan
    diff: dict[str, Any] = field(default_factory=dict)

    @property
    def document(self) -> dict[str, Any]:
        """The new plan as JSON (``wasteroute.plan/1``), as written to plan.json."""
        return self.plan.to_json()


def parse_at(text: str) -> int:
    """``HH:MM`` -> seconds after midnight, or BadInput."""
    value = str(text).strip()
    try:
        hh, mm = value.split(":")
        h, m = int(hh), int(mm)
        if not (0 <= h <= 24 and 0 <= m < 60 and h * 60 + m <= 1440):
            raise ValueError(value)
    except ValueError:
        raise BadInput(f"--at must be a time HH:MM (got {text!r})") from None
    return (h * 60 + m) * 60


def _split_route(
    date: dt.date, stops: tuple[Stop, ...], at_s: int, down: bool, closed: set[str]
) -> tuple[list[Stop], list[Stop]]:
    """(fixed stops, open stops) of one route."""
    k = 0
    while k < len(stops) and seconds_of(date, stops[k].departure) <= at_s:
        k += 1
    if down or k == 0 or k >= len(stops):
        return list(stops[:k]), list(stops[k:])
    # departed and not home: commit the stop being driven to / served (and breaks before it)
    j = k
    while j < len(stops) and stops[j].kind == "break":
        j += 1
    if j < len(stops) and not (stops[j].kind == "unload" and stops[j].id in closed):
        j += 1
    return list(stops[:j]), list(stops[j:])


def _last_place(stops: list[Stop]) -> Stop | None:
    for s in reversed(stops):
        if s.kind != "break":
            return s
    return None


def _unloaded(stops: list[Stop]) -> dict[str, float]:
    """kg delivered per facility by these stops."""
    out: dict[str, float] = {}
    for s, kg in deliveries(stops):
        out[str(s.id)] = out.get(str(s.id), 0.0) + sum(float(q) for q in kg.values())
    return out


def _limp_home(
    date: dt.date, veh: Vehicle, here: Stop, ready_s: int, load: dict[str, int],
    break_due: bool, facilities: list[Facility], room: dict[str, float | None],
    depot: Depot, model: DistanceModel,
) -> tuple[list[Stop], dict[str, int]]:
    """Stops of a broken-down truck after ``here``: break, unloads, depot; stranded load."""
    stops: list[Stop] = []
    t = ready_s
    pos = (float(here.lon or 0.0), float(here.lat or 0.0))
    load = {k: int(q) for k, q in load.items()}
    if break_due and (veh.break_min or 0) > 0:
        b = seconds(veh.break_min)
        lo, latest = translate.break_starts_s(veh, b, 0)
        b0 = max(t, lo)
        if b0 > latest:
            log.warning("vehicle %s: break window passed; no break", veh.vehicle_id)
        else:
            stops.append(Stop(kind="break", arrival=iso(date, b0), departure=iso(date, b0 + b)))
            t = b0 + b
    while any(q > 0 for q in load.values()):
        best: tuple[tuple[int, int], Facility, int, int, int] | None = None
        for f in facilities:
            cats = {k for k, q in load.items() if q > 0 and k in (f.accepts or ())}
            if not cats:
                continue
            kg = sum(load[k] for k in cats)
            left = room.get(f.facility_id)
            if left is not None and kg > left + 1e-9:
                continue
            m, s = translate.leg(model, pos, (f.lon, f.lat))
            start = max(t + s, seconds(f.open_min))
            done = start + seconds(f.unload_min)
            if done > seconds(f.close_min):
                continue
            key = (-len(cats), done)
            if best is None or key < best[0]:
                best = (key, f, start, m, s)
        if best is None:
            break
        _, f, start, m, s = best
        unloaded = {k: q for k, q in load.items() if k in (f.accepts or ())}
        for k in unloaded:
            load[k] = 0
        if room.get(f.facility_id) is not None:
            room[f.facility_id] = float(room[f.facility_id] or 0) - sum(unloaded.values())
        done = start + seconds(f.unload_min)
        stops.append(Stop(kind="unload", id=f.facility_id, name=f.name, lon=f.lon, lat=f.lat,
                          arrival=iso(date, t + s), start=iso(date, start),
                          departure=iso(date, done), unloaded_kg=unloaded,
                          load_kg=dict(load), leg_m=m, travel_s=s))
        t, pos = done, (float(f.lon), float(f.lat))
    m, s = translate.leg(model, pos, (depot.lon, depot.lat))
    stops.append(Stop(kind="depot", id=depot.depot_id, name=depot.name, lon=depot.lon,
                      lat=depot.lat, arrival=iso(date, t + s), departure=iso(date, t + s),
                      load_kg=dict(load), leg_m=m, travel_s=s))
    return stops, {k: q for k, q in load.items() if q > 0}


def _served(tail: Tail) -> dict[str, str]:
    return {str(s.id): vid for vid, stops in tail.stops.items() for s in stops
            if s.kind == "collect"}


@dataclass
class _Rest:
    """The open remainder of the day, as the engine is to plan it."""

    date: dt.date
    trucks: list[Truck]
    collections: list[Collection]
    facilities: list[Facility]
    room: dict[str, float | None]
    depots: dict[str, Depot]
    model: DistanceModel
    #: seed and solution limit of the caller; the time limit is set per solve
    params: SolveParams

    def solve(self, time_limit_s: float, pin: dict[str, str] | None = None) -> Tail:
        tr = translate.to_problem(self.date, self.trucks, self.collections, self.facilities,
                                  self.depots, self.model, name="rest of", room_kg=self.room,
                                  pin=pin)
        solution = translate.solve(tr, replace(self.params, time_limit_s=float(time_limit_s)))
        return translate.to_tail(tr, solution)


def _keep_trucks(rest: _Rest, free: Tail, old_vehicle: dict[str, str], *,
                 time_limit_s: float, allowed_loss: int = 0) -> Tail | None:
    """The rest of the day with every open stop on its truck, or None when that
    serves fewer points than the free re-plan ``free``.

    Pins (``to_problem(pin=...)``): a stop of a truck that goes on stays on it; a
    stop of a downed truck, an unassigned or an added point goes to the truck the
    free re-plan gave it (points it could not serve stay out). Each truck is then
    sequenced on its own, so only the downed truck's stops change truck."""
    going = {t.vehicle.vehicle_id for t in rest.trucks}
    free_of = _served(free)
    pin: dict[str, str] = {}
    for c in rest.collections:
        pid = c.point.point_id
        if old_vehicle.get(pid) in going:
            pin[pid] = old_vehicle[pid]
        elif pid in free_of:
            pin[pid] = free_of[pid]
    kept = rest.solve(max(1.0, time_limit_s / 2), pin)
    served = _served(kept)
    log.info("keeping trucks serves %d point(s), the free re-plan %d", len(served),
             len(free_of))
    if len(served) < len(free_of) - allowed_loss or kept.rule_problems:
        return None
    pinned_out = {c.point.point_id for c in rest.collections} - set(pin)
    by_id = {u.point_id: u for u in free.unassigned}
    kept.unassigned = sorted(
        [u for u in kept.unassigned if u.point_id not in pinned_out]
        + [by_id[p] for p in pinned_out if p in by_id], key=lambda u: u.point_id)
    kept.wall_s += free.wall_s
    return kept


@dataclass
class _Event:
    """The event, checked against the data: trucks down, facilities closed, points added."""

    down: set[str]
    closed: set[str]
    added: dict[str, Point]
    added_kg: dict[str, float]


def _event(session: Session, vehicles: dict[str, Vehicle], facilities: dict[str, Facility],
           vehicles_down: Any, facilities_closed: Any, add_points: Any) -> _Event:
    ev = _Event(set(vehicles_down), set(facilities_closed), {}, {})
    for v in ev.down:
        if v not in vehicles:
            raise BadInput(f"--vehicle-down: unknown vehicle {v!r}")
    for f in ev.closed:
        if f not in facilities:
            raise BadInput(f"--facility-closed: unknown facility {f!r}")
    for pid, kg in add_points:
        p = planning_repo.point(session, pid)
        if p is None:
            raise BadInput(f"--add-point: unknown point {pid!r}")
        if kg is not None and not (math.isfinite(kg) and kg >= 0):
            raise BadInput(f"--kg must be a number of kg >= 0 (got {kg})")
        ev.added[pid] = p
        ev.added_kg[pid] = float(p.kg_per_visit if kg is None else kg)
    return ev


def _diff(old_vehicle: dict[str, str], new_vehicle: dict[str, str],
          old_unassigned: dict[str, Unassigned], reason_of: dict[str, str], ev: _Event,
          served_before: set[str], assignment: str, stranded: dict[str, dict[str, int]],
          rule_problems: list[str]) -> dict[str, Any]:
    return {
        "moved": [{"point_id": p, "from": old_vehicle[p], "to": new_vehicle[p]}
                  for p in sorted(old_vehicle) if p in new_vehicle
                  and new_vehicle[p] != old_vehicle[p]],
        "kept": sorted(p for p in old_vehicle if new_vehicle.get(p) == old_vehicle[p]),
        "dropped": [{"point_id": p, "from": old_vehicle[p], "reason": reason_of[p]}
                    for p in sorted(old_vehicle) if p in reason_of],
        "newly_served": [{"point_id": p, "to": new_vehicle[p],
                          "was": old_unassigned[p].reason}
                         for p in sorted(old_unassigned) if p in new_vehicle],
        "still_unassigned": [{"point_id": p, "reason": reason_of[p]}
                             for p in sorted(old_unassigned) if p in reason_of],
        "added": [{"point_id": p, "kg": ev.added_kg[p], "to": new_vehicle.get(p),
                   "reason": reason_of.get(p)} for p in sorted(ev.added)],
        "served_before": len(served_before),
        "assignment": assignment,
        "stranded_kg": stranded,
        "rule_problems": rule_problems[:20],
    }


def replan_day(
    session: Session,
    date: dt.date,
    at_s: int,
    *,
    vehicles_down: list[str] | tuple[str, ...] = (),
    add_points: list[tuple[str, float | None]] | tuple[tuple[str, float | None], ...] = (),
    facilities_closed: list[str] | tuple[str, ...] = (),
    time_limit_s: float = 10.0,
    distance_model: str | None = None,
    store: bool = True,
    keep_trucks: bool = True,
    keep_tolerance: float = 0.0,
    params: SolveParams | None = None,
) -> ReplanResult:
    """Re-plan the rest of ``date`` from ``at_s`` (seconds after local midnight).

    ``keep_trucks``: prefer a plan that keeps every open stop on its truck (see
    :func:`_keep_trucks`) when it serves at least as many points as the free re-plan
    less ``keep_tolerance`` (a fraction of the open points); False lets the engine
    move stops freely. ``params`` gives the seed and solution limit (the time limit is
    ``time_limit_s``)."""
    base_row = plan_repo.current_plan(session, date)
    if base_row is None:
        raise NotFound(f"no plan for {date.isoformat()}: run `wasteroute plan` first / 当日无计划")
    base = plan_repo.load_plan(base_row)
    if not (math.isfinite(time_limit_s) and time_limit_s > 0):
        raise BadInput(f"--time-limit must be a positive number of seconds (got {time_limit_s})")
    vehicles = {v.vehicle_id: v for v in planning_repo.vehicles(session)}
    facilities_all = {f.facility_id: f for f in planning_repo.facilities(session)}
    depots = planning_repo.depots(session)
    ev = _event(session, vehicles, facilities_all, vehicles_down, facilities_closed, add_points)
    model = (resolve_distance_model(distance_model) if distance_model
             else model_from_description(base.distance_model))
    if model is None:
        raise BadInput("the plan's distance model cannot be rebuilt: give --distance")
    facilities = [f for fid, f in facilities_all.items() if fid not in ev.closed]

    # 1. fixed and open parts of every route
    fixed: dict[str, list[Stop]] = {}
    old_vehicle: dict[str, str] = {}  # point -> vehicle of its open stops in the base plan
    open_kg: dict[str, float] = {}
    served_before: set[str] = set()
    for r in base.routes:
        vid = r.vehicle_id
        head, open_part = _split_route(date, r.stops, at_s, vid in ev.down, ev.closed)
        fixed[vid] = head
        served_before.update(str(s.id) for s in head if s.kind == "collect")
        for s in open_part:
            if s.kind == "collect":
                old_vehicle[str(s.id)] = vid
                open_kg[str(s.id)] = open_kg.get(str(s.id), 0.0) + float(s.kg or 0)
    old_unassigned = {u.point_id: u for u in base.unassigned}
    for pid, u in old_unassigned.items():
        open_kg[pid] = open_kg.get(pid, 0.0) + float(u.kg)
    open_kg.update(ev.added_kg)

    # 2. facility room left after the fixed parts
    room: dict[str, float | None] = {
        fid: (None if f.daily_capacity_kg is None else float(f.daily_capacity_kg))
        for fid, f in facilities_all.items()}
    for head in fixed.values():
        for fid, kg in _unloaded(head).items():
            if room.get(fid) is not None:
                room[fid] = float(room[fid] or 0) - kg

    # 3. broken-down trucks limp home; the others go on
    tail_stops: dict[str, list[Stop]] = {}
    stranded: dict[str, dict[str, int]] = {}
    trucks: list[Truck] = []
    for vid, veh in vehicles.items():
        head = fixed.get(vid, [])
        last = _last_place(head)
        if head and last is not None and last.kind == "depot" and len(head) > 1:
            continue  # already home: the route is over
        if vid in ev.down:
            if not head or last is None:
                continue
            load = {k: int(q) for k, q in (last.load_kg or {}).items()}
            ready = max(at_s, seconds_of(date, head[-1].departure))
            stops, left = _limp_home(
                date, veh, last, ready, load, not any(s.kind == "break" for s in head),
                facilities, room, depots[veh.depot_id], model)
            tail_stops[vid] = stops
            if left:
                stranded[vid] = left
            continue
        if not any(c.capacity_kg >= 1 for c in veh.compartments):
            continue
        if head:
            assert last is not None
            place = Place(last.kind, str(last.id), str(last.name or ""),
                          float(last.lon or 0.0), float(last.lat or 0.0))
            ready = max(at_s, seconds_of(date, head[-1].departure))
            load = {k: int(q) for k, q in (last.load_kg or {}).items()}
            break_due = not any(s.kind == "break" for s in head)
        else:
            d = depots[veh.depot_id]
            place = Place("depot", d.depot_id, d.name, float(d.lon), float(d.lat))
            ready = max(at_s, seconds(veh.shift_start_min))
            load, break_due = {}, True
        if ready >= seconds(veh.shift_end_min):
            if head:
                log.warning("vehicle %s: shift over at %s with its route open", vid, ready)
            else:
                continue
        trucks.append(Truck(veh, GoingOn(place, ready, load, break_due)))

    # 4. the open remainder, re-optimised
    points = {p.point_id: p for p in planning_repo.points_by_id(session, open_kg)}
    collections = [Collection(points[pid], int(round(open_kg[pid]))) for pid in sorted(open_kg)]
    assignment = "none"
    if trucks:
        rest = _Rest(date, trucks, collections, facilities, room, depots, model,
                     params or SolveParams())
        tail = rest.solve(time_limit_s)
        assignment = "free"
        if keep_trucks:
            kept = _keep_trucks(rest, tail, old_vehicle, time_limit_s=time_limit_s,
                                allowed_loss=int(keep_tolerance * len(collections)))
            if kept is not None:
                tail, assignment = kept, "kept"
    else:
        tail = Tail({}, [Unassigned(point_id=c.point.point_id, name=c.point.name,
                                    category=c.point.category, kg=int(c.kg),
                                    reason="not_enough_vehicles") for c in collections],
                    "none", 0.0, 0, [])
    for truck in trucks:
        vid = truck.vehicle.vehicle_id
        got = tail.stops.get(vid)
        head = fixed.get(vid, [])
        assert truck.going_on is not None
        if got:
            tail_stops[vid] = got[1:] if head else got  # the start is the last fixed stop
        elif head:  # nothing more to do: straight home (with the break if still due)
            tail_stops[vid], _ = _limp_home(
                date, truck.vehicle, _last_place(head) or head[-1], truck.going_on.ready_s,
                {}, truck.going_on.break_due, facilities, room,
                depots[truck.vehicle.depot_id], model)

    # 5. the new plan
    routes = []
    for vid in sorted(set(fixed) | set(tail_stops)):
        stops = fixed.get(vid, []) + tail_stops.get(vid, [])
        if any(s.kind == "collect" for s in stops):
            routes.append(translate.route_of(vehicles[vid], stops))
    unassigned = sorted(tail.unassigned, key=lambda u: u.point_id)
    reason_of = {u.point_id: u.reason for u in unassigned}
    new_vehicle = {str(s.id): vid for vid, stops in tail_stops.items() for s in stops
                   if s.kind == "collect"}
    diff = _diff(old_vehicle, new_vehicle, old_unassigned, reason_of, ev, served_before,
                 assignment, stranded, tail.rule_problems)
    extra = [p for p in ev.added if p not in old_vehicle and p not in old_unassigned
             and p not in served_before]
    was = base.summary
    served = {str(s.id) for r in routes for s in r.collects}
    cost, cost_fixed, cost_distance = translate.day_cost([(vehicles[r.vehicle_id], r)
                                                          for r in routes])
    plan = replace(
        base,
        plan_id=None,
        distance_model=model.describe(),
        solver=Solver(engine=tail.engine, time_limit_s=time_limit_s,
                      wall_s=round(tail.wall_s, 1), objective=tail.objective),
        summary=Summary(
            points_due=int(was.points_due if was else 0) + len(extra),
            points_served=len(served - set(reason_of)),
            vehicles_used=len(routes),
            distance_km=round(sum(int(round(r.distance_km * 1000)) for r in routes) / 1000.0, 1),
            kg_planned=int(sum(r.kg_collected or 0 for r in routes)),
            kg_due=int((was.kg_due or 0) if was else 0)
            + int(sum(ev.added_kg[p] for p in extra)),
            unassigned=len(unassigned),
            cost=cost, cost_fixed=cost_fixed, cost_distance=cost_distance,
        ),
        routes=tuple(routes),
        unassigned=tuple(unassigned),
        replan=Replan(
            base_plan_id=base_row.plan_id,
            at=iso(date, at_s),
            event={"vehicles_down": sorted(ev.down), "facilities_closed": sorted(ev.closed),
                   "add_points": [{"point_id": p, "kg": ev.added_kg[p]}
                                  for p in sorted(ev.added)]},
            diff=diff,
        ),
    )
    if store:
        row = plan_repo.store_plan(session, date, plan)
        plan_id, version = row.plan_id, row.version
        plan = plan.with_id(plan_id)
    else:
        plan_id, version = "", 0
    log.info("re-planned %s at %s: %d moved, %d dropped", date, at_s, len(diff["moved"]),
             len(diff["dropped"]))
    return ReplanResult(plan_id, version, base_row.plan_id, plan, diff)


# ---------------------------------------------------------------- complaints


def open_complaints(session: Session, date: dt.date, at_s: int) -> list[Complaint]:
    """Overflow reports of ``date`` received from the city-management platform
    (``POST /events/complaints``) up to the event time and not handled yet."""
    until = dt.datetime.combine(date, dt.time(0)) + dt.timedelta(seconds=at_s)
    return planning_repo.open_complaints(session, date, until)


def complaint_points(complaints: list[Complaint]) -> list[tuple[str, float | None]]:
    """One urgent point per reported point; the largest kg estimate wins (None = the
    point's expected kg)."""
    kg: dict[str, float | None] = {}
    for c in complaints:
        old = kg.get(c.point_id)
        new = c.kg_estimate
        kg[c.point_id] = new if old is None else (old if new is None else max(old, new))
    return list(kg.items())


def mark_handled(session: Session, complaints: list[Complaint]) -> None:
    planning_repo.mark_handled(session, complaints)


__all__ = ["ReplanResult", "complaint_points", "mark_handled", "open_complaints", "parse_at",
           "replan_day"]
