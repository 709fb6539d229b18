"""Plan versus actual (docs/operations.md): the current plan of a date against
the weighbridge tickets and collection records of that date.

Matching:

* each planned unload becomes one *planned delivery* per category it empties
  (vehicle, trip = n-th unload of the route, facility, category, kg, time);
* a ticket (local time on the date) is matched to the unmatched planned delivery
  of the same vehicle, facility and category nearest in time, within
  ``window_min`` (default 180 min); a ticket without a vehicle id is then matched
  the same way over all vehicles;
* collection records are matched to planned collect stops by point (any vehicle).

Findings (kinds): ``ticket_unplanned`` (a ticket no planned unload explains),
``unload_missing`` (a planned delivery without a ticket), ``weight_deviation``
(matched, net weight off the planned kg by more than ``threshold_pct``),
``point_not_recorded`` (planned collect, no record), ``record_unplanned`` (a
record for a point the plan did not collect). A run replaces the stored findings
of its date.

:func:`make_reconcile_day` writes records and tickets that follow a plan, with a
few deliberate discrepancies (for the demo and the tests).
"""

from __future__ import annotations

import datetime as dt
import logging
import random
from dataclasses import asdict, dataclass
from typing import Any

from logistics.domain import NotFound
from logistics.persistence import plan_repo, planning_repo
from logistics.persistence.db import Session
from logistics.persistence.models import CollectionRecord, ReconcileFinding, Ticket
from logistics.planning.document import Plan, deliveries

log = logging.getLogger(__name__)

FORMAT = "wasteroute.reconcile/1"
KINDS = ("ticket_unplanned", "unload_missing", "weight_deviation", "point_not_recorded",
         "record_unplanned")


@dataclass
class Finding:
    kind: str
    vehicle_id: str = ""
    trip: int | None = None
    facility_id: str | None = None
    ticket_no: str | None = None
    point_id: str | None = None
    category: str | None = None
    planned_kg: float | None = None
    actual_kg: float | None = None
    deviation_pct: float | None = None
    time: str | None = None


@dataclass
class Delivery:
    vehicle_id: str
    trip: int
    facility_id: str
    category: str
    kg: float
    time: dt.datetime  # local, naive
    ticket: Ticket | None = None


def _local(text: str) -> dt.datetime:
    """ISO time with offset -> naive local time (tickets are stored that way)."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=None)


def planned_deliveries(plan: Plan) -> list[Delivery]:
    """One delivery per unload stop and category it empties, trips counted per route."""
    out: list[Delivery] = []
    for r in plan.routes:
        for trip, (s, unloaded) in enumerate(deliveries(r.stops), 1):
            for cat, kg in sorted(unloaded.items()):
                out.append(Delivery(r.vehicle_id, trip, str(s.id), cat, float(kg),
                                    _local(s.start or s.arrival)))
    return out


def reconcile_day(
    session: Session,
    date: dt.date,
    *,
    threshold_pct: float = 20.0,
    window_min: float = 180.0,
    store: bool = True,
) -> dict[str, Any]:
    """Findings of ``date`` as a document (``wasteroute.reconcile/1``); stored unless
    ``store`` is False."""
    plan = plan_repo.current_plan(session, date)
    if plan is None:
        raise NotFound(f"no plan for {date.isoformat()}: nothing to reconcile / 当日无计划")
    doc = plan_repo.load_plan(plan)
    delivered = planned_deliveries(doc)
    tickets = planning_repo.tickets_of(session, date)
    window = dt.timedelta(minutes=window_min)

    unmatched: list[Ticket] = []
    for with_vehicle in (True, False):
        pending = [t for t in tickets if bool(t.vehicle_id) == with_vehicle]
        # pairs by time distance, nearest first (greedy, deterministic)
        pairs = []
        for ti, t in enumerate(pending):
            for di, d in enumerate(delivered):
                if d.facility_id != t.facility_id or d.category != t.category:
                    continue
                if with_vehicle and d.vehicle_id != t.vehicle_id:
                    continue
                gap = abs(t.time - d.time)
                if gap <= window:
                    pairs.append((gap, ti, di))
        pairs.sort()
        taken: set[int] = set()
        for _, ti, di in pairs:
            if ti in taken or delivered[di].ticket is not None:
                continue
            delivered[di].ticket = pending[ti]
            taken.add(ti)
        unmatched += [t for ti, t in enumerate(pending) if ti not in taken]

    findings: list[Finding] = []
    for t in unmatched:
        findings.append(Finding("ticket_unplanned", t.vehicle_id, None, t.facility_id,
                                t.ticket_no, None, t.category, None, float(t.net_kg), None,
                                t.time.isoformat(timespec="minutes")))
    for d in delivered:
        if d.ticket is None:
            findings.append(Finding("unload_missing", d.vehicle_id, d.trip, d.facility_id, None,
                                    None, d.category, d.kg, None, None,
                                    d.time.isoformat(timespec="minutes")))
            continue
        net = float(d.ticket.net_kg)
        dev = 100.0 * (net - d.kg) / d.kg if d.kg > 0 else None
        if dev is not None and abs(dev) > threshold_pct:
            findings.append(Finding("weight_deviation", d.vehicle_id, d.trip, d.facility_id,
                                    d.ticket.ticket_no, None, d.category, d.kg, net,
                                    round(dev, 1), d.ticket.time.isoformat(timespec="minutes")))

    planned_points: dict[str, tuple[str, str, float]] = {}
    for r, s in doc.collects():
        pid = str(s.id)
        vid, cat, kg = planned_points.get(pid, (r.vehicle_id, str(s.category), 0.0))
        planned_points[pid] = (vid, cat, kg + float(s.kg or 0))
    recorded: dict[str, tuple[str, float]] = {}
    for rec in planning_repo.records_of(session, date):
        vid, kg = recorded.get(rec.point_id, (rec.vehicle_id, 0.0))
        recorded[rec.point_id] = (vid, kg + float(rec.kg))
    for pid in sorted(set(planned_points) - set(recorded)):
        vid, cat, kg = planned_points[pid]
        findings.append(Finding("point_not_recorded", vid, None, None, None, pid, cat, kg))
    for pid in sorted(set(recorded) - set(planned_points)):
        vid, kg = recorded[pid]
        findings.append(Finding("record_unplanned", vid, None, None, None, pid, None, None, kg))

    findings.sort(key=lambda f: (KINDS.index(f.kind), f.vehicle_id, f.trip or 0,
                                 f.facility_id or "", f.point_id or "", f.ticket_no or ""))
    counts = {k: sum(1 for f in findings if f.kind == k) for k in KINDS}
    result = {
        "format": FORMAT,
        "date": date.isoformat(),
        "plan_id": plan.plan_id,
        "threshold_pct": threshold_pct,
        "window_min": window_min,
        "planned": {"deliveries": len(delivered), "points": len(planned_points)},
        "actual": {"tickets": len(tickets), "records": len(recorded)},
        "matched": {"deliveries": sum(1 for d in delivered if d.ticket is not None),
                    "points": len(set(planned_points) & set(recorded))},
        "counts": counts,
        "findings": [{k: v for k, v in asdict(f).items() if v is not None or k == "kind"}
                     for f in findings],
    }
    if store:
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        rows = []
        for f in findings:
            row = asdict(f)
            row.pop("time")
            rows.append(ReconcileFinding(date=date, plan_id=plan.plan_id, created_at=now, **row))
        planning_repo.replace_findings(session, date, rows)
    log.info("reconciled %s against %s: %s", date, plan.plan_id, counts)
    return result


def stored_findings(session: Session, date: dt.date) -> list[ReconcileFinding]:
    return planning_repo.findings_of(session, date)


# --------------------------------------------------------------------------- a day to reconcile


def make_reconcile_day(
    session: Session,
    date: dt.date,
    *,
    seed: int = 7,
    noise_pct: float = 3.0,
    discrepancies: bool = True,
) -> list[dict[str, Any]]:
    """Write collection records and weighbridge tickets that follow the current plan of
    ``date`` (kg within ``noise_pct``), and, with ``discrepancies``, one of each:
    a ticket nobody planned, a planned unload without ticket, a ticket 40 % heavier
    than planned, a planned point without a record. Returns the deliberate
    discrepancies as ``{"kind": ..., ...}`` (what reconcile must find).

    Records or tickets already there for the same keys are replaced. Flushes only.
    """
    plan = plan_repo.current_plan(session, date)
    if plan is None:
        raise NotFound(f"no plan for {date.isoformat()} / 当日无计划")
    rng = random.Random(seed)
    typed = plan_repo.load_plan(plan)
    delivered = planned_deliveries(typed)
    collects = [(r.vehicle_id, str(s.id), float(s.kg or 0)) for r, s in typed.collects()]
    made: list[dict[str, Any]] = []
    skip_point = skip_delivery = heavy_delivery = None
    if discrepancies and collects and len(delivered) >= 3:
        skip_point = collects[rng.randrange(len(collects))][1]
        idx = rng.sample(range(len(delivered)), 2)
        skip_delivery, heavy_delivery = idx[0], idx[1]

    def noisy(kg: float) -> float:
        return round(kg * (1 + rng.uniform(-noise_pct, noise_pct) / 100.0), 1)

    day0 = dt.datetime.combine(date, dt.time(0))
    planning_repo.clear_reconcile_day(session, date, "RC")
    kg_by: dict[tuple[str, str], float] = {}
    for vid, pid, kg in collects:
        if pid == skip_point:
            continue
        kg_by[(pid, vid)] = kg_by.get((pid, vid), 0.0) + kg
    rows: list[CollectionRecord | Ticket] = [
        CollectionRecord(date=date, point_id=pid, vehicle_id=vid, kg=noisy(kg))
        for (pid, vid), kg in sorted(kg_by.items())]
    if skip_point is not None:
        made.append({"kind": "point_not_recorded", "point_id": skip_point})
    n = 0
    for di, d in enumerate(delivered):
        if di == skip_delivery:
            made.append({"kind": "unload_missing", "vehicle_id": d.vehicle_id, "trip": d.trip,
                         "facility_id": d.facility_id, "category": d.category})
            continue
        n += 1
        net = noisy(d.kg)
        if di == heavy_delivery:
            net = round(d.kg * 1.4, 1)
            made.append({"kind": "weight_deviation", "vehicle_id": d.vehicle_id, "trip": d.trip,
                         "facility_id": d.facility_id, "ticket_no": f"RC{date:%Y%m%d}-{n:04d}"})
        rows.append(Ticket(facility_id=d.facility_id, ticket_no=f"RC{date:%Y%m%d}-{n:04d}",
                           time=d.time + dt.timedelta(minutes=rng.randint(0, 8)),
                           category=d.category, net_kg=net, vehicle_id=d.vehicle_id))
    if discrepancies and delivered:
        d = delivered[0]
        no = f"RC{date:%Y%m%d}-X001"
        # a truck that is not in the plan (a contractor's) delivers at noon
        rows.append(Ticket(facility_id=d.facility_id, ticket_no=no,
                           time=day0 + dt.timedelta(hours=12), category=d.category,
                           net_kg=1234.0, vehicle_id="X-外来车"))
        made.append({"kind": "ticket_unplanned", "ticket_no": no, "facility_id": d.facility_id})
    planning_repo.add_all(session, rows)
    log.info("wrote records and tickets of %s following %s (%d deliberate discrepancies)",
             date, plan.plan_id, len(made))
    return made


__all__ = ["FORMAT", "KINDS", "Finding", "make_reconcile_day", "planned_deliveries",
           "reconcile_day", "stored_findings"]
