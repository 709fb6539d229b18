"""An independent checker of plan documents (``wasteroute.plan/1``, formats.md).

It reads the world straight from the database with plain SQL (no ORM models,
nothing of ``optimizer/`` or ``logistics.planning.plan``), recomputes straight-line
distances with its own haversine, and tests every rule of the plan section of
formats.md, plus the facts a plan must agree with (coordinates, summary figures,
load accounting, facility daily capacity).

    problems = check_plan(document, db_url)          # [] when the plan is sound
    assert_plan_ok(document, db_url)                 # AssertionError listing them

Which points are due and how many kg each: due = the weekday schedule
(``days_mask``), or in demand mode (``demand.mode == "demand"``) the document's
``demand.due_points`` (must-visit points and the optional ones it chose; the
optional points it left out are under ``skipped`` and not due - the checker
cannot recompute the fill model, it checks that the lists are consistent).
kg due per point = ``expected_kg`` when given (tests compute it independently
through ``logistics.demand.due`` / ``logistics.demand.forecast``), else the document's
``demand.expected_kg`` (checked against ``kg_per_visit`` for static points),
else ``kg_per_visit``.

Each problem carries a ``rule`` key so tests can ask which rule fired:

=================  ==============================================================
rule               what it checks
=================  ==============================================================
format             format / date / timezone / plan_id / distance_model / solver keys
times              ISO 8601 with an offset; the plan's offset (+08:00)
coords             lon/lat WGS-84 and equal to the stored place
vehicle            known vehicle, one route per vehicle, route depot = vehicle depot
depot              a route starts and ends with a depot stop at its depot
due                every due point exactly once (collect or unassigned), kg adds up,
                   split only when kg exceeds every compartment of its category,
                   nothing planned that is not due
demand             the document's ``demand`` section is consistent: its
                   expected kg cover the due points, static kg = kg_per_visit,
                   counts add up; skipped optional points are neither due nor planned
reason             unassigned reasons are machine-readable, known, and true where
                   checkable (no_vehicle_for_category)
category           a collect's category is the point's and one of the vehicle's
capacity           load_kg after each stop within every compartment's capacity
load               load_kg follows the stops (collect adds, unload empties, else same)
unload             an unload empties every compartment its facility accepts, inside
                   opening hours, taking at least the unloading time
facility_capacity  a facility's daily capacity is not exceeded
end_empty          a route ends at its depot empty
window             service starts inside the point's window; the visits of a point
                   last its service time in all
shift              the route stays inside the vehicle's shift
break              a vehicle with a break takes exactly one, inside its window (the
                   whole break), lasting break_min; a vehicle without one takes none
order              arrival <= start <= departure; stops in time order
travel             departure + travel (+ breaks between) <= next arrival
distance           route distance_km = sum of the legs (recomputed for haversine)
straight           no leg shorter than the straight line between its ends
summary            summary figures and route duration_min agree with the routes
=================  ==============================================================
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, create_engine, text
from sqlalchemy.orm import Session

EARTH_R_M = 6_371_008.8
ISO_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?([+-]\d{2}:\d{2}|Z)$")
REASON_RE = re.compile(r"^[a-z][a-z0-9_]*$")
KNOWN_REASONS = {
    "no_vehicle_for_category", "time_window_unreachable", "capacity", "facility_closed",
    "not_enough_vehicles",
}
OFFSETS = {"Asia/Shanghai": dt.timedelta(hours=8)}
ALL_RULES = (
    "format", "times", "coords", "vehicle", "depot", "due", "demand", "reason", "category",
    "capacity",
    "load", "unload", "facility_capacity", "end_empty", "window", "shift", "break", "order",
    "travel", "distance", "straight", "summary",
)


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_R_M * math.asin(math.sqrt(min(1.0, max(0.0, a))))


@dataclass(frozen=True)
class Violation:
    rule: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"[{self.rule}] {self.where}: {self.message}"


# --------------------------------------------------------------------------- the world


@dataclass
class World:
    points: dict[str, dict[str, Any]]
    depots: dict[str, dict[str, Any]]
    facilities: dict[str, dict[str, Any]]
    vehicles: dict[str, dict[str, Any]]


def _json(v: Any) -> Any:
    return json.loads(v) if isinstance(v, str | bytes) else v


def load_world(conn: Connection) -> World:
    rows = lambda sql: [dict(r._mapping) for r in conn.execute(text(sql))]  # noqa: E731
    points = {r["point_id"]: r for r in rows(
        "SELECT point_id, lon, lat, category, kg_per_visit, days_mask, tw_start_min, "
        "tw_end_min, service_min FROM points")}
    depots = {r["depot_id"]: r for r in rows("SELECT depot_id, lon, lat FROM depots")}
    facilities = {}
    for r in rows("SELECT facility_id, accepts, lon, lat, open_min, close_min, unload_min, "
                  "daily_capacity_kg FROM facilities"):
        r["accepts"] = set(_json(r["accepts"]) or [])
        facilities[r["facility_id"]] = r
    vehicles = {r["vehicle_id"]: r | {"compartments": {}} for r in rows(
        "SELECT vehicle_id, depot_id, shift_start_min, shift_end_min, break_min, "
        "break_earliest_min, break_latest_min FROM vehicles")}
    for r in rows("SELECT vehicle_id, category, capacity_kg FROM compartments"):
        vehicles[r["vehicle_id"]]["compartments"][r["category"]] = float(r["capacity_kg"])
    return World(points, depots, facilities, vehicles)


# --------------------------------------------------------------------------- checking


class _Checker:
    def __init__(self, doc: dict[str, Any], world: World,
                 expected_kg: dict[str, float] | None) -> None:
        self.doc = doc
        self.w = world
        self.expected = expected_kg
        self.out: list[Violation] = []
        self.date: dt.date | None = None
        self.offset = dt.timedelta(hours=8)

    def bad(self, rule: str, where: str, message: str) -> None:
        self.out.append(Violation(rule, where, message))

    # -- helpers

    def secs(self, value: Any, where: str) -> float | None:
        """ISO time -> seconds after local midnight of the plan date (None if unreadable)."""
        if not isinstance(value, str) or not ISO_RE.match(value):
            self.bad("times", where, f"not ISO 8601 with an offset: {value!r}")
            return None
        t = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        if t.utcoffset() != self.offset:
            self.bad("times", where, f"offset {t.utcoffset()} is not the plan's {self.offset}")
        assert self.date is not None
        midnight = dt.datetime.combine(self.date, dt.time(0), tzinfo=dt.timezone(self.offset))
        return (t - midnight).total_seconds()

    def model_leg(
        self, a: tuple[float, float], b: tuple[float, float]
    ) -> tuple[float, float] | None:
        """(metres, seconds) of a leg by the document's distance model, when recomputable."""
        dm = self.doc.get("distance_model") or {}
        if dm.get("kind") != "haversine":
            return None
        m = float(dm.get("detour_factor", 1.0)) * haversine_m(a[0], a[1], b[0], b[1])
        return m, m / (float(dm["speed_kmh"]) / 3.6)

    # -- top level

    def run(self) -> list[Violation]:
        d = self.doc
        if d.get("format") != "wasteroute.plan/1":
            self.bad("format", "format", f"expected wasteroute.plan/1, got {d.get('format')!r}")
        try:
            self.date = dt.date.fromisoformat(str(d.get("date")))
        except ValueError:
            self.bad("format", "date", f"not YYYY-MM-DD: {d.get('date')!r}")
            return self.out
        tz = d.get("timezone")
        if tz not in OFFSETS:
            self.bad("format", "timezone", f"unknown timezone {tz!r}")
        else:
            self.offset = OFFSETS[tz]
        if not re.fullmatch(re.escape(self.date.isoformat()) + r"-[1-9]\d*", str(d.get("plan_id"))):
            self.bad("format", "plan_id", f"not DATE-N: {d.get('plan_id')!r}")
        dm = d.get("distance_model")
        if not isinstance(dm, dict) or "kind" not in dm:
            self.bad("format", "distance_model", "missing or without kind")
        elif dm["kind"] == "haversine" and not (
            float(dm.get("detour_factor", 0)) >= 1 and float(dm.get("speed_kmh", 0)) > 0
        ):
            self.bad("format", "distance_model", f"bad haversine parameters {dm}")
        solver = d.get("solver")
        if not isinstance(solver, dict) or not {"engine", "time_limit_s", "wall_s"} <= set(solver):
            self.bad("format", "solver", "needs engine, time_limit_s, wall_s")
        for key in ("summary", "routes", "unassigned"):
            if key not in d:
                self.bad("format", key, "missing")
        routes = d.get("routes") or []
        seen_vehicles: set[str] = set()
        for ri, r in enumerate(routes):
            self.route(ri, r, seen_vehicles)
        self.coverage()
        self.demand()
        self.facility_capacity()
        self.summary()
        return self.out

    # -- one route

    def route(self, ri: int, r: dict[str, Any], seen: set[str]) -> None:
        vid = r.get("vehicle_id")
        where = f"route {ri} ({vid})"
        veh = self.w.vehicles.get(vid)  # type: ignore[arg-type]
        if veh is None:
            self.bad("vehicle", where, "unknown vehicle")
            return
        if vid in seen:
            self.bad("vehicle", where, "vehicle has more than one route")
        seen.add(str(vid))
        if r.get("depot_id") != veh["depot_id"]:
            self.bad("vehicle", where, f"depot {r.get('depot_id')} is not the vehicle's "
                                       f"{veh['depot_id']}")
        stops = r.get("stops") or []
        if len(stops) < 2:
            self.bad("depot", where, "a route needs depot stops at both ends")
            return
        comps: dict[str, float] = veh["compartments"]
        for end, s in (("first", stops[0]), ("last", stops[-1])):
            if s.get("kind") != "depot" or s.get("id") != veh["depot_id"]:
                self.bad("depot", where, f"{end} stop is not the depot {veh['depot_id']}: "
                                         f"{s.get('kind')} {s.get('id')}")
        load: dict[str, float] = {k: 0.0 for k in comps}
        prev_t: float | None = None
        last_loc: tuple[float, float] | None = None
        last_dep: float | None = None
        breaks_since: float = 0.0
        leg_sum_m = 0.0
        doc_leg_sum_m = 0.0
        have_doc_legs = True
        breaks: list[tuple[float, float]] = []
        first_dep = last_arr = None
        for si, s in enumerate(stops):
            sw = f"{where} stop {si} ({s.get('kind')} {s.get('id', '')})"
            kind = s.get("kind")
            arr = self.secs(s.get("arrival"), sw + " arrival")
            dep = self.secs(s.get("departure"), sw + " departure")
            start = self.secs(s["start"], sw + " start") if "start" in s else arr
            if arr is None or dep is None or start is None:
                continue
            if not arr <= start <= dep:
                self.bad("order", sw, f"arrival {arr} <= start {start} <= departure {dep} broken")
            if prev_t is not None and arr < prev_t:
                self.bad("order", sw, "arrives before the previous stop is left")
            prev_t = dep
            if si == 0:
                first_dep = dep
            last_arr = arr
            if kind == "break":
                if last_dep is not None and arr < last_dep:
                    self.bad("travel", sw, "break starts before the previous stop is left")
                breaks.append((arr, dep))
                breaks_since += dep - arr
                continue
            # a place
            place = self.place(s, sw, veh)
            if place is None:
                continue
            lon, lat = place
            if last_loc is not None and last_dep is not None:
                straight = haversine_m(last_loc[0], last_loc[1], lon, lat)
                model = self.model_leg(last_loc, place)
                doc_leg = s.get("leg_m")
                if doc_leg is None:
                    have_doc_legs = False
                else:
                    doc_leg_sum_m += float(doc_leg)
                    if float(doc_leg) < straight - 1.0:
                        self.bad("straight", sw, f"leg {doc_leg} m shorter than straight "
                                                 f"line {straight:.0f} m")
                    if model is not None and not (model[0] - 1.0 <= float(doc_leg)
                                                  <= model[0] + 1.0):
                        self.bad("distance", sw, f"leg {doc_leg} m, model says {model[0]:.1f} m")
                if model is not None:
                    leg_sum_m += model[0]
                    if model[0] < straight - 1.0:
                        self.bad("straight", sw, "model leg shorter than the straight line")
                    travel = model[1]
                else:
                    leg_sum_m += float(doc_leg or 0.0)
                    travel = float(s.get("travel_s", 0.0))
                if last_dep + travel + breaks_since > arr + 1e-6:
                    self.bad("travel", sw, f"left previous at {last_dep:.0f} s, travel "
                                           f"{travel:.1f} s + breaks {breaks_since:.0f} s, "
                                           f"arrives {arr:.0f} s")
            last_loc, last_dep, breaks_since = place, dep, 0.0
            # loads
            self.stop_load(s, sw, kind, load, comps, veh, arr, start, dep)
        # distance: the legs recomputed by the model (each rounded up to a metre at most)
        # and the legs the document lists must both add up to distance_km
        dkm = r.get("distance_km")
        n_legs = max(0, sum(1 for s in stops if s.get("kind") != "break") - 1)
        recomputable = self.model_leg((0.0, 0.0), (0.0, 0.0)) is not None
        if not isinstance(dkm, int | float):
            self.bad("distance", where, "distance_km missing")
        else:
            if recomputable and abs(float(dkm) * 1000 - leg_sum_m) > 0.5 + 1.0 * n_legs:
                self.bad("distance", where, f"distance_km {dkm} but legs add up to "
                                            f"{leg_sum_m / 1000:.3f} km")
            if have_doc_legs and abs(float(dkm) * 1000 - doc_leg_sum_m) > 0.5:
                self.bad("distance", where, f"distance_km {dkm} but leg_m add up to "
                                            f"{doc_leg_sum_m / 1000:.3f} km")
            if not recomputable and not have_doc_legs:
                self.bad("distance", where, "legs can be neither recomputed nor read (leg_m)")
        # end empty
        if any(q > 0 for q in load.values()):
            self.bad("end_empty", where, f"ends with load {load}")
        # shift
        if first_dep is not None and last_arr is not None:
            if first_dep < veh["shift_start_min"] * 60 - 1e-6:
                self.bad("shift", where, f"leaves at {first_dep:.0f} s before shift start")
            if last_arr > veh["shift_end_min"] * 60 + 1e-6:
                self.bad("shift", where, f"returns at {last_arr:.0f} s after shift end")
            dur = r.get("duration_min")
            if not isinstance(dur, int | float) or abs(
                    float(dur) - (last_arr - first_dep) / 60) > 0.051:
                self.bad("summary", where, f"duration_min {dur} but route spans "
                                           f"{(last_arr - first_dep) / 60:.1f} min")
        # breaks
        bmin = float(veh["break_min"] or 0)
        if bmin <= 0:
            if breaks:
                self.bad("break", where, "break stop for a vehicle without a break")
        else:
            lo = (veh["break_earliest_min"] if veh["break_earliest_min"] is not None
                  else veh["shift_start_min"]) * 60
            hi = (veh["break_latest_min"] if veh["break_latest_min"] is not None
                  else veh["shift_end_min"]) * 60
            latest_start = max(lo, hi - bmin * 60)
            for b0, b1 in breaks:
                if b1 - b0 < bmin * 60 - 1e-6:
                    self.bad("break", where, f"break of {(b1 - b0) / 60:.1f} min < {bmin} min")
                if b0 < lo - 1e-6 or b0 > latest_start + 1e-6:
                    self.bad("break", where, f"break at {b0:.0f} s outside window "
                                             f"[{lo}, {hi}] s")
            if not breaks:
                self.bad("break", where, f"no break though the vehicle has {bmin:g} min")
            if len(breaks) > 1:
                self.bad("break", where, f"{len(breaks)} breaks")

    def place(self, s: dict[str, Any], sw: str, veh: dict[str, Any]) -> tuple[float, float] | None:
        kind, pid = s.get("kind"), s.get("id")
        table = {"depot": self.w.depots, "collect": self.w.points,
                 "unload": self.w.facilities}.get(str(kind))
        if table is None:
            self.bad("format", sw, f"unknown stop kind {kind!r}")
            return None
        row = table.get(pid)  # type: ignore[arg-type]
        if row is None:
            self.bad("coords", sw, f"unknown {kind} id {pid!r}")
            return None
        lon, lat = s.get("lon"), s.get("lat")
        if not (isinstance(lon, int | float) and isinstance(lat, int | float)
                and -180 <= lon <= 180 and -90 <= lat <= 90):
            self.bad("coords", sw, f"lon/lat not WGS-84 degrees: {lon}, {lat}")
            return None
        if abs(lon - row["lon"]) > 1e-6 or abs(lat - row["lat"]) > 1e-6:
            self.bad("coords", sw, f"({lon}, {lat}) is not the stored ({row['lon']}, {row['lat']})")
        return float(row["lon"]), float(row["lat"])

    def stop_load(self, s: dict[str, Any], sw: str, kind: Any, load: dict[str, float],
                  comps: dict[str, float], veh: dict[str, Any], arr: float, start: float,
                  dep: float) -> None:
        before = dict(load)
        if kind == "collect":
            pt = self.w.points[s["id"]]
            cat, kg = s.get("category"), s.get("kg")
            if cat != pt["category"]:
                self.bad("category", sw, f"category {cat} is not the point's {pt['category']}")
            if cat not in comps:
                self.bad("category", sw, f"vehicle {veh['vehicle_id']} has no {cat} compartment")
            if not isinstance(kg, int | float) or kg < 0:
                self.bad("due", sw, f"bad kg {kg!r}")
                kg = 0
            if cat in load:
                load[cat] += float(kg)
            self._collected[s["id"]].append(float(kg))
            if start < pt["tw_start_min"] * 60 - 1e-6 or start > pt["tw_end_min"] * 60 + 1e-6:
                self.bad("window", sw, f"service starts at {start:.0f} s outside "
                                       f"[{pt['tw_start_min']}, {pt['tw_end_min']}] min")
            self._service[s["id"]] += dep - start
        elif kind == "unload":
            fac = self.w.facilities[s["id"]]
            carried = set(comps) & fac["accepts"]
            if not carried:
                self.bad("unload", sw, "facility accepts none of the vehicle's categories")
            if start < fac["open_min"] * 60 - 1e-6 or dep > fac["close_min"] * 60 + 1e-6:
                self.bad("unload", sw, f"unloads {start:.0f}-{dep:.0f} s outside "
                                       f"{fac['open_min']}-{fac['close_min']} min")
            if dep - start < float(fac["unload_min"]) * 60 - 1.0 - 1e-6:
                self.bad("unload", sw, f"unloading {dep - start:.0f} s shorter than "
                                       f"{fac['unload_min']} min")
            for k in carried:
                self._delivered[s["id"]] += load[k]
                load[k] = 0.0
        doc_load = s.get("load_kg")
        if kind == "break":
            return
        if not isinstance(doc_load, dict):
            self.bad("load", sw, "load_kg missing")
            return
        for k, q in doc_load.items():
            if k not in comps:
                self.bad("capacity", sw, f"load of {k}, which the vehicle has no compartment for")
                continue
            if not isinstance(q, int | float) or q < -1e-9 or q > comps[k] + 1e-9:
                self.bad("capacity", sw, f"load {k}={q} outside [0, {comps[k]}]")
        if kind == "unload":
            fac = self.w.facilities[s["id"]]
            for k in set(comps) & fac["accepts"]:
                if float(doc_load.get(k, 0) or 0) != 0:
                    self.bad("unload", sw, f"{k} compartment not emptied ({doc_load.get(k)})")
        for k in comps:
            want = load[k]
            got = doc_load.get(k)
            if got is None or abs(float(got) - want) > 0.5:
                self.bad("load", sw, f"load {k}={got}, stops give {want:g} (before {before[k]:g})")
                if isinstance(got, int | float):
                    load[k] = float(got)  # follow the document so one slip is reported once

    # -- whole plan

    _collected: defaultdict[str, list[float]]
    _service: defaultdict[str, float]
    _delivered: defaultdict[str, float]

    def demand_section(self) -> dict[str, Any]:
        dem = self.doc.get("demand")
        return dem if isinstance(dem, dict) else {}

    def due_points(self) -> dict[str, dict[str, Any]]:
        assert self.date is not None
        dem = self.demand_section()
        if dem.get("mode") == "demand":
            ids = dem.get("due_points") or []
            return {pid: self.w.points[pid] for pid in ids if pid in self.w.points}
        bit = 1 << (self.date.isoweekday() - 1)
        return {pid: p for pid, p in self.w.points.items() if int(p["days_mask"]) & bit}

    def demand(self) -> None:
        """The ``demand`` section agrees with itself, the points and the plan."""
        dem = self.demand_section()
        if not dem:
            return
        due = self.due_points()
        exp = dem.get("expected_kg")
        if dem.get("mode") == "demand":
            for pid in dem.get("due_points") or []:
                if pid not in self.w.points:
                    self.bad("demand", pid, "due point unknown")
            planned = set(self._collected) | {u.get("point_id")
                                              for u in self.doc.get("unassigned") or []}
            for si, sk in enumerate(self.doc.get("skipped") or []):
                pid = sk.get("point_id")
                where = f"skipped {si} ({pid})"
                if pid in due:
                    self.bad("demand", where, "skipped but listed as due")
                if pid in planned:
                    self.bad("demand", where, "skipped but planned or unassigned")
                if not isinstance(sk.get("reason"), str) or not REASON_RE.match(sk["reason"]):
                    self.bad("demand", where, f"reason not machine-readable: {sk.get('reason')!r}")
        if exp is None:
            return
        if not isinstance(exp, dict):
            self.bad("demand", "expected_kg", "not an object")
            return
        missing = sorted(set(due) - set(exp))
        if missing:
            self.bad("demand", "expected_kg", f"no kg for due point(s) {missing[:5]}")
        if dem.get("source") == "static":
            for pid, kg in exp.items():
                p = self.w.points.get(pid)
                if p is not None and abs(float(kg) - float(p["kg_per_visit"])) > 0.5 + 1e-9:
                    self.bad("demand", pid, f"static source but {kg} kg, kg_per_visit "
                                            f"{p['kg_per_visit']}")
        if dem.get("mode") != "demand" and dem.get("source") in ("forecast", "static"):
            n = int(dem.get("points_forecast") or 0) + int(dem.get("points_static") or 0)
            if n != len(due):
                self.bad("demand", "points", f"forecast + static = {n}, {len(due)} due")
        if self.expected:
            for pid in due:
                if pid in exp and abs(float(exp[pid]) - float(self.expected[pid])) > 0.5 + 1e-9:
                    self.bad("demand", pid, f"document expects {exp[pid]} kg, "
                                            f"{self.expected[pid]:g} kg given")

    def want_kg(self, pid: str, p: dict[str, Any]) -> float:
        if self.expected:
            return float(self.expected[pid])
        dem = self.demand_section()
        exp = dem.get("expected_kg")
        if dem.get("source") != "static" and isinstance(exp, dict) and pid in exp:
            return float(exp[pid])
        return float(p["kg_per_visit"])

    def coverage(self) -> None:
        due = self.due_points()
        unassigned: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
        carried = {k for v in self.w.vehicles.values() for k in v["compartments"]}
        for ui, u in enumerate(self.doc.get("unassigned") or []):
            pid = u.get("point_id")
            unassigned[pid].append(u)
            where = f"unassigned {ui} ({pid})"
            reason = u.get("reason")
            if not isinstance(reason, str) or not REASON_RE.match(reason):
                self.bad("reason", where, f"reason not machine-readable: {reason!r}")
            elif reason not in KNOWN_REASONS:
                self.bad("reason", where, f"unknown reason {reason!r}")
            pt = self.w.points.get(pid)
            if pt is not None:
                if u.get("category") != pt["category"]:
                    self.bad("due", where, f"category {u.get('category')} is not the point's")
                if reason == "no_vehicle_for_category" and pt["category"] in carried:
                    self.bad("reason", where, f"a vehicle does carry {pt['category']}")
            if not isinstance(u.get("kg"), int | float):
                self.bad("due", where, "kg missing")
        for pid in set(self._collected) | set(unassigned):
            if pid not in due:
                self.bad("due", pid, "planned or listed but not due that day")
        for pid, p in due.items():
            cols = self._collected.get(pid, [])
            uns = unassigned.get(pid, [])
            want = self.want_kg(pid, p)
            caps = [v["compartments"][p["category"]] for v in self.w.vehicles.values()
                    if p["category"] in v["compartments"]]
            oversized = not caps or want > max(caps)
            if not cols and not uns:
                self.bad("due", pid, "due but neither collected nor unassigned")
                continue
            if len(uns) > 1:
                self.bad("due", pid, f"unassigned {len(uns)} times")
            if len(cols) > 1 and not oversized:
                self.bad("due", pid, f"{len(cols)} collect stops though {want:g} kg fits a "
                                     f"compartment (max {max(caps):g})")
            if cols and uns and not oversized:
                self.bad("due", pid, "both collected and unassigned")
            if cols and not uns and self._service[pid] < (
                    float(p["service_min"]) * 60 - 1.0 * len(cols) - 1e-6):
                self.bad("window", pid, f"service {self._service[pid]:.0f} s in all, shorter "
                                        f"than {p['service_min']} min")
            total = sum(cols) + sum(float(u.get("kg") or 0) for u in uns)
            if abs(total - want) > 0.5 + 1e-9:
                self.bad("due", pid, f"collect + unassigned = {total:g} kg, due {want:g} kg")

    def facility_capacity(self) -> None:
        for fid, kg in self._delivered.items():
            cap = self.w.facilities[fid]["daily_capacity_kg"]
            if cap is not None and kg > float(cap) + 1e-6:
                self.bad("facility_capacity", fid, f"{kg:g} kg delivered, capacity {cap:g} kg")

    def summary(self) -> None:
        s = self.doc.get("summary") or {}
        routes = self.doc.get("routes") or []
        due = self.due_points()
        uns = {u.get("point_id") for u in self.doc.get("unassigned") or []}
        served = {pid for pid in self._collected if pid not in uns}
        collect_kg = sum(sum(v) for v in self._collected.values())
        used = sum(1 for r in routes if any(x.get("kind") == "collect" for x in r.get("stops", [])))
        want = {"points_due": len(due), "points_served": len(served), "vehicles_used": used,
                "kg_planned": collect_kg}
        for key, value in want.items():
            got = s.get(key)
            if not isinstance(got, int | float) or abs(got - value) > 0.5:
                self.bad("summary", key, f"{got!r}, routes give {value:g}")
        km = sum(float(r.get("distance_km") or 0) for r in routes)
        got = s.get("distance_km")
        if not isinstance(got, int | float) or abs(got - km) > 0.05 + 1e-9:
            self.bad("summary", "distance_km", f"{got!r}, routes add up to {km:.3f}")


def check_plan(
    document: dict[str, Any],
    db: str | Connection | Session,
    *,
    expected_kg: dict[str, float] | None = None,
) -> list[Violation]:
    """Every violation of the plan rules in ``document`` against the database ``db``.

    ``expected_kg`` overrides the kg due per point (default: the document's
    ``demand.expected_kg``, else ``kg_per_visit``).
    """
    if isinstance(db, str):
        engine = create_engine(db)
        try:
            with engine.connect() as conn:
                world = load_world(conn)
        finally:
            engine.dispose()
    elif isinstance(db, Session):
        world = load_world(db.connection())
    else:
        world = load_world(db)
    checker = _Checker(document, world, expected_kg)
    checker._collected = defaultdict(list)
    checker._service = defaultdict(float)
    checker._delivered = defaultdict(float)
    return checker.run()


def assert_plan_ok(document: dict[str, Any], db: str | Connection | Session, **kw: Any) -> None:
    problems = check_plan(document, db, **kw)
    assert not problems, "plan breaks the rules:\n" + "\n".join(map(str, problems[:40]))
