"""Re-planning the rest of a day after an event (issue 7; docs/operations.md).

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
  is re-optimised by the engine (``planning.solve_tail``) and the result is
  stitched after the fixed parts: a new plan version with a ``replan`` key
  (base plan, event, diff).

Nothing is written unless the new plan was made; the CLI commits it.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
import math
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from logistics.domain import BadInput, NotFound
from logistics.persistence import plan_repo
from logistics.persistence.models import Complaint, Depot, Point, Vehicle
from logistics.persistence.models import Facility as FacilityRow
from logistics.planning.plan import (
    TZ,
    Place,
    TailClient,
    TailVehicle,
    iso,
    model_from_description,
    resolve_distance_model,
    seconds,
    solve_tail,
)

log = logging.getLogger(__name__)


@dataclass
class ReplanResult:
    plan_id: str
    version: int
    base_plan_id: str
    document: dict[str, Any]
    diff: dict[str, Any] = field(default_factory=dict)


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


def _secs(date: dt.date, text: str) -> int:
    t = dt.datetime.fromisoformat(text)
    midnight = dt.datetime.combine(date, dt.time(0), tzinfo=TZ)
    return int(round((t - midnight).total_seconds()))


def _split_route(
    date: dt.date, r: dict[str, Any], at_s: int, down: bool, closed: set[str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(fixed stops, open stops) of one route."""
    stops = r["stops"]
    k = 0
    while k < len(stops) and _secs(date, stops[k]["departure"]) <= at_s:
        k += 1
    if down or k == 0 or k >= len(stops):
        return stops[:k], stops[k:]
    # departed and not home: commit the stop being driven to / served (and breaks before it)
    j = k
    while j < len(stops) and stops[j]["kind"] == "break":
        j += 1
    if j < len(stops) and not (stops[j]["kind"] == "unload" and stops[j]["id"] in closed):
        j += 1
    return stops[:j], stops[j:]


def _last_place(stops: list[dict[str, Any]]) -> dict[str, Any] | None:
    for s in reversed(stops):
        if s["kind"] != "break":
            return s
    return None


def _unloaded(stops: list[dict[str, Any]]) -> dict[str, float]:
    """kg delivered per facility by these stops (``unloaded_kg``, else from loads)."""
    out: dict[str, float] = {}
    prev: dict[str, Any] = {}
    for s in stops:
        if s["kind"] == "break":
            continue
        if s["kind"] == "unload":
            if "unloaded_kg" in s:
                kg = sum(float(q) for q in s["unloaded_kg"].values())
            else:
                kg = sum(max(0.0, float(prev.get(c, 0)) - float(q))
                         for c, q in (s.get("load_kg") or {}).items())
            out[s["id"]] = out.get(s["id"], 0.0) + kg
        prev = s.get("load_kg") or prev
    return out


class _Legs:
    """Leg metres / seconds between two places by the plan's distance model."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def __call__(self, a: tuple[float, float], b: tuple[float, float]) -> tuple[int, int]:
        dist, dur = self.model.matrices([a, b])
        return int(dist[0][1]), int(dur[0][1])


def _limp_home(
    date: dt.date, veh: Vehicle, here: dict[str, Any], ready_s: int, load: dict[str, int],
    break_due: bool, facilities: list[FacilityRow], room: dict[str, float | None],
    depot: Depot, legs: _Legs,
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Stops of a broken-down truck after ``here``: break, unloads, depot; stranded load."""
    stops: list[dict[str, Any]] = []
    t = ready_s
    pos = (float(here["lon"]), float(here["lat"]))
    load = {k: int(q) for k, q in load.items()}
    if break_due and (veh.break_min or 0) > 0:
        b = seconds(veh.break_min)
        lo = seconds(veh.break_earliest_min) if veh.break_earliest_min is not None else 0
        hi = (seconds(veh.break_latest_min) if veh.break_latest_min is not None
              else seconds(veh.shift_end_min))
        b0 = max(t, lo)
        if b0 > max(lo, hi - b):
            log.warning("vehicle %s: break window passed; no break", veh.vehicle_id)
        else:
            stops.append({"kind": "break", "arrival": iso(date, b0),
                          "departure": iso(date, b0 + b)})
            t = b0 + b
    while any(q > 0 for q in load.values()):
        best: tuple[tuple[int, int], FacilityRow, int, int, int] | None = None
        for f in facilities:
            cats = {k for k, q in load.items() if q > 0 and k in (f.accepts or ())}
            if not cats:
                continue
            kg = sum(load[k] for k in cats)
            left = room.get(f.facility_id)
            if left is not None and kg > left + 1e-9:
                continue
            m, s = legs(pos, (f.lon, f.lat))
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
        stops.append({"kind": "unload", "id": f.facility_id, "name": f.name,
                      "lon": f.lon, "lat": f.lat, "arrival": iso(date, t + s),
                      "start": iso(date, start), "departure": iso(date, done),
                      "unloaded_kg": unloaded, "load_kg": dict(load), "leg_m": m,
                      "travel_s": s})
        t, pos = done, (float(f.lon), float(f.lat))
    m, s = legs(pos, (depot.lon, depot.lat))
    stops.append({"kind": "depot", "id": depot.depot_id, "name": depot.name,
                  "lon": depot.lon, "lat": depot.lat, "arrival": iso(date, t + s),
                  "departure": iso(date, t + s), "load_kg": dict(load), "leg_m": m,
                  "travel_s": s})
    return stops, {k: q for k, q in load.items() if q > 0}


def _finish_route(date: dt.date, vid: str, depot_id: str,
                  stops: list[dict[str, Any]]) -> dict[str, Any]:
    places = [s for s in stops if s["kind"] != "break"]
    leg_m = sum(int(s.get("leg_m", 0)) for s in places)
    first = _secs(date, stops[0]["departure"])
    last = _secs(date, stops[-1]["arrival"])
    return {
        "vehicle_id": vid,
        "depot_id": depot_id,
        "distance_km": round(leg_m / 1000.0, 3),
        "duration_min": round((last - first) / 60.0, 1),
        "trips": sum(1 for s in stops if s["kind"] == "unload"),
        "kg_collected": int(sum(s.get("kg", 0) for s in stops if s["kind"] == "collect")),
        "stops": stops,
    }


def _served(tail: Any) -> dict[str, str]:
    return {s["id"]: vid for vid, stops in tail.stops.items() for s in stops
            if s["kind"] == "collect"}


def _keep_trucks(
    date: dt.date, free: Any, vehicles: list[TailVehicle], clients: list[TailClient],
    facilities: list[FacilityRow], room: dict[str, float | None], depots: dict[str, Depot],
    old_vehicle: dict[str, str], *, time_limit_s: float, model: Any, allowed_loss: int = 0,
) -> Any | None:
    """The rest of the day with every open stop on its truck, or None when that
    serves fewer points than the free re-plan ``free``.

    Pins (``solve_tail(pin=...)``): a stop of a truck that goes on stays on it; a
    stop of a downed truck, an unassigned or an added point goes to the truck the
    free re-plan gave it (points it could not serve stay out). Each truck is then
    sequenced on its own, so only the downed truck's stops change truck."""
    going = {tv.vehicle.vehicle_id for tv in vehicles}
    free_of = _served(free)
    pin: dict[str, str] = {}
    for c in clients:
        pid = c.point.point_id
        if old_vehicle.get(pid) in going:
            pin[pid] = old_vehicle[pid]
        elif pid in free_of:
            pin[pid] = free_of[pid]
    kept = solve_tail(date, vehicles, clients, facilities, room, depots,
                      time_limit_s=max(1.0, time_limit_s / 2), distance_model=model, pin=pin)
    served = _served(kept)
    log.info("keeping trucks serves %d point(s), the free re-plan %d", len(served),
             len(free_of))
    if len(served) < len(free_of) - allowed_loss or kept.rule_problems:
        return None
    pinned_out = {c.point.point_id for c in clients} - set(pin)
    by_id = {u["point_id"]: u for u in free.unassigned}
    kept.unassigned = sorted(
        [u for u in kept.unassigned if u["point_id"] not in pinned_out]
        + [by_id[p] for p in pinned_out if p in by_id], key=lambda u: u["point_id"])
    kept.wall_s += free.wall_s
    return kept


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
) -> ReplanResult:
    """Re-plan the rest of ``date`` from ``at_s`` (seconds after local midnight).

    ``keep_trucks``: prefer a plan that keeps every open stop on its truck (see
    :func:`_keep_trucks`) when it serves at least as many points as the free re-plan
    less ``keep_tolerance`` (a fraction of the open points); False lets the engine
    move stops freely."""
    base = plan_repo.current_plan(session, date)
    if base is None:
        raise NotFound(f"no plan for {date.isoformat()}: run `wasteroute plan` first / 当日无计划")
    doc = copy.deepcopy(base.document)
    if not (math.isfinite(time_limit_s) and time_limit_s > 0):
        raise BadInput(f"--time-limit must be a positive number of seconds (got {time_limit_s})")
    vehicles = {v.vehicle_id: v for v in session.scalars(
        select(Vehicle).options(selectinload(Vehicle.compartments)).order_by(Vehicle.vehicle_id))}
    facilities_all = {f.facility_id: f for f in session.scalars(
        select(FacilityRow).order_by(FacilityRow.facility_id))}
    depots = {d.depot_id: d for d in session.scalars(select(Depot))}
    down = set(vehicles_down)
    closed = set(facilities_closed)
    for v in down:
        if v not in vehicles:
            raise BadInput(f"--vehicle-down: unknown vehicle {v!r}")
    for f in closed:
        if f not in facilities_all:
            raise BadInput(f"--facility-closed: unknown facility {f!r}")
    added: dict[str, Point] = {}
    added_kg: dict[str, float] = {}
    for pid, kg in add_points:
        p = session.get(Point, pid)
        if p is None:
            raise BadInput(f"--add-point: unknown point {pid!r}")
        if kg is not None and not (math.isfinite(kg) and kg >= 0):
            raise BadInput(f"--kg must be a number of kg >= 0 (got {kg})")
        added[pid] = p
        added_kg[pid] = float(p.kg_per_visit if kg is None else kg)
    model = (resolve_distance_model(distance_model) if distance_model
             else model_from_description(doc.get("distance_model")))
    if model is None:
        raise BadInput("the plan's distance model cannot be rebuilt: give --distance")
    legs = _Legs(model)
    facilities = [f for fid, f in facilities_all.items() if fid not in closed]

    # 1. fixed and open parts of every route
    fixed: dict[str, list[dict[str, Any]]] = {}
    old_vehicle: dict[str, str] = {}  # point -> vehicle of its open stops in the base plan
    open_kg: dict[str, float] = {}
    served_before: set[str] = set()
    for r in doc["routes"]:
        vid = r["vehicle_id"]
        head, rest = _split_route(date, r, at_s, vid in down, closed)
        fixed[vid] = head
        served_before.update(s["id"] for s in head if s["kind"] == "collect")
        for s in rest:
            if s["kind"] == "collect":
                old_vehicle[s["id"]] = vid
                open_kg[s["id"]] = open_kg.get(s["id"], 0.0) + float(s["kg"])
    old_unassigned = {u["point_id"]: u for u in doc.get("unassigned", [])}
    for pid, u in old_unassigned.items():
        open_kg[pid] = open_kg.get(pid, 0.0) + float(u["kg"])
    for pid, kg in added_kg.items():
        open_kg[pid] = kg if pid in old_vehicle or pid in old_unassigned else kg

    # 2. facility room left after the fixed parts
    room: dict[str, float | None] = {
        fid: (None if f.daily_capacity_kg is None else float(f.daily_capacity_kg))
        for fid, f in facilities_all.items()}
    for head in fixed.values():
        for fid, kg in _unloaded(head).items():
            if room.get(fid) is not None:
                room[fid] = float(room[fid] or 0) - kg

    # 3. broken-down trucks limp home; the others go on
    tail_stops: dict[str, list[dict[str, Any]]] = {}
    stranded: dict[str, dict[str, int]] = {}
    tail_vehicles: list[TailVehicle] = []
    for vid, veh in vehicles.items():
        head = fixed.get(vid, [])
        if vid in down:
            if not head:
                continue
            last = _last_place(head)
            assert last is not None
            if last["kind"] == "depot" and len(head) > 1:
                continue  # already home
            load = {k: int(q) for k, q in (last.get("load_kg") or {}).items()}
            ready = max(at_s, _secs(date, head[-1]["departure"]))
            stops, left = _limp_home(
                date, veh, last, ready, load, not any(s["kind"] == "break" for s in head),
                facilities, room, depots[veh.depot_id], legs)
            tail_stops[vid] = stops
            if left:
                stranded[vid] = left
            continue
        if not any(c.capacity_kg >= 1 for c in veh.compartments):
            continue
        if head:
            last = _last_place(head)
            assert last is not None
            if last["kind"] == "depot" and len(head) > 1:
                continue  # the route is over
            place = Place(last["kind"], str(last["id"]), str(last.get("name", "")),
                          float(last["lon"]), float(last["lat"]))
            ready = max(at_s, _secs(date, head[-1]["departure"]))
            load = {k: int(q) for k, q in (last.get("load_kg") or {}).items()}
            break_due = not any(s["kind"] == "break" for s in head)
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
        tail_vehicles.append(TailVehicle(veh, place, ready, load, break_due))

    # 4. the open remainder, re-optimised
    points = {p.point_id: p for p in session.scalars(
        select(Point).where(Point.point_id.in_(sorted(open_kg))))}
    clients = [TailClient(points[pid], int(round(open_kg[pid]))) for pid in sorted(open_kg)]
    assignment = "none"
    if tail_vehicles:
        tail = solve_tail(date, tail_vehicles, clients, facilities, room, depots,
                          time_limit_s=time_limit_s, distance_model=model)
        assignment = "free"
        if keep_trucks:
            kept = _keep_trucks(date, tail, tail_vehicles, clients, facilities, room, depots,
                                old_vehicle, time_limit_s=time_limit_s, model=model,
                                allowed_loss=int(keep_tolerance * len(clients)))
            if kept is not None:
                tail, assignment = kept, "kept"
    else:
        from logistics.planning.plan import TailPlan

        tail = TailPlan({}, [{"point_id": c.point.point_id, "name": c.point.name,
                              "category": c.point.category, "kg": c.kg,
                              "reason": "not_enough_vehicles"} for c in clients],
                        "none", 0.0, 0, [])
    for tv in tail_vehicles:
        vid = tv.vehicle.vehicle_id
        got = tail.stops.get(vid)
        head = fixed.get(vid, [])
        if got:
            if head:
                got = got[1:]  # the start is the last fixed stop
            else:
                got[0]["kind"] = "depot"
            tail_stops[vid] = got
        elif head:  # nothing more to do: straight home (with the break if still due)
            stops, _ = _limp_home(date, tv.vehicle, _last_place(head) or head[-1], tv.ready_s,
                                  {}, tv.break_due, facilities, room,
                                  depots[tv.vehicle.depot_id], legs)
            tail_stops[vid] = stops

    # 5. the new document
    routes = []
    for vid in sorted(set(fixed) | set(tail_stops)):
        stops = fixed.get(vid, []) + tail_stops.get(vid, [])
        if not any(s["kind"] == "collect" for s in stops):
            continue
        routes.append(_finish_route(date, vid, vehicles[vid].depot_id, stops))
    unassigned = sorted(tail.unassigned, key=lambda u: u["point_id"])
    reason_of = {u["point_id"]: u["reason"] for u in unassigned}
    new_vehicle: dict[str, str] = {}
    for vid, stops in tail_stops.items():
        for s in stops:
            if s["kind"] == "collect":
                new_vehicle[s["id"]] = vid
    diff: dict[str, Any] = {
        "moved": [{"point_id": p, "from": old_vehicle[p], "to": new_vehicle[p]}
                  for p in sorted(old_vehicle) if p in new_vehicle
                  and new_vehicle[p] != old_vehicle[p]],
        "kept": sorted(p for p in old_vehicle if new_vehicle.get(p) == old_vehicle[p]),
        "dropped": [{"point_id": p, "from": old_vehicle[p], "reason": reason_of[p]}
                    for p in sorted(old_vehicle) if p in reason_of],
        "newly_served": [{"point_id": p, "to": new_vehicle[p],
                          "was": old_unassigned[p]["reason"]}
                         for p in sorted(old_unassigned) if p in new_vehicle],
        "still_unassigned": [{"point_id": p, "reason": reason_of[p]}
                             for p in sorted(old_unassigned) if p in reason_of],
        "added": [{"point_id": p, "kg": added_kg[p], "to": new_vehicle.get(p),
                   "reason": reason_of.get(p)} for p in sorted(added)],
        "served_before": len(served_before),
        "assignment": assignment,
        "stranded_kg": stranded,
        "rule_problems": tail.rule_problems[:20],
    }
    kg_planned = sum(r["kg_collected"] for r in routes)
    total_m = sum(int(round(r["distance_km"] * 1000)) for r in routes)
    base_summary = doc.get("summary", {})
    extra_due = sum(1 for p in added if p not in old_vehicle and p not in old_unassigned
                    and p not in served_before)
    doc.update({
        "plan_id": None,
        "distance_model": model.describe(),
        "solver": {"engine": tail.engine, "time_limit_s": time_limit_s,
                   "wall_s": round(tail.wall_s, 1), "objective": tail.objective},
        "summary": {
            "points_due": int(base_summary.get("points_due", 0)) + extra_due,
            "points_served": len({s["id"] for r in routes for s in r["stops"]
                                  if s["kind"] == "collect"} - set(reason_of)),
            "vehicles_used": len(routes),
            "distance_km": round(total_m / 1000.0, 1),
            "kg_planned": int(kg_planned),
            "kg_due": int(base_summary.get("kg_due", 0)) + int(sum(
                added_kg[p] for p in added if p not in old_vehicle
                and p not in old_unassigned and p not in served_before)),
            "unassigned": len(unassigned),
        },
        "routes": routes,
        "unassigned": unassigned,
        "replan": {
            "base_plan_id": base.plan_id,
            "at": iso(date, at_s),
            "event": {"vehicles_down": sorted(down), "facilities_closed": sorted(closed),
                      "add_points": [{"point_id": p, "kg": added_kg[p]} for p in sorted(added)]},
            "diff": diff,
        },
    })
    if store:
        plan = plan_repo.store_plan(session, date, doc)
        plan_id, version = plan.plan_id, plan.version
    else:
        plan_id, version = "", 0
    log.info("re-planned %s at %s: %d moved, %d dropped", date, at_s, len(diff["moved"]),
             len(diff["dropped"]))
    return ReplanResult(plan_id, version, base.plan_id, doc, diff)


__all__ = ["ReplanResult", "parse_at", "replan_day"]


# --------------------------------------------------------------------------- complaints


def open_complaints(session: Session, date: dt.date, at_s: int) -> list[Complaint]:
    """Overflow reports of ``date`` received from the city-management platform
    (``POST /events/complaints``) up to the event time and not handled yet."""
    day0 = dt.datetime.combine(date, dt.time(0))
    return list(session.scalars(
        select(Complaint)
        .where(Complaint.handled.is_(False), Complaint.time >= day0,
               Complaint.time <= day0 + dt.timedelta(seconds=at_s))
        .order_by(Complaint.time, Complaint.id)))


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
    for c in complaints:
        c.handled = True
    session.flush()
