"""Master routes: on which weekdays to collect each point that is not
collected daily, so that every weekday carries about the same tonnage and work
per category (each category has its own trucks).

* a point keeps its number of visits per week and gets an evenly spread pattern
  (3 a week: Mon/Wed/Fri or Tue/Thu/Sat, ...); a visit collects the waste of the
  days since the previous one, so kg per visit = daily rate x gap;
* daily rate of a point = its ``kg_per_visit`` x visits per week / 7;
* work of a visit = ``service_min`` + ``travel_min_per_stop`` (a flat drive
  between stops, default 6 min) + unloading share (kg / ``unload_kg_per_min``);
* start from the current patterns; a point changes pattern only when that lowers
  the spread (sum of squared deviations from the weekday mean of kg and of work,
  both relative) - so most points keep their weekdays; a greedy pass then
  improvement moves until no move helps.

The result says, per category and weekday, kg and hours before and after, and
whether every weekday lies within ``tolerance`` (10 %) of the mean.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from logistics.demand.schedule import visit_gaps
from logistics.persistence import planning_repo
from logistics.persistence.db import Session
from logistics.persistence.models import ALL_DAYS_MASK
from logistics.planning.document import Plan

log = logging.getLogger(__name__)


def patterns(n: int) -> list[int]:
    """Evenly spread weekday masks with ``n`` visits a week (bit 0 = Monday)."""
    out: set[int] = set()
    for s in range(7):
        days = {(s + round(i * 7 / n)) % 7 for i in range(n)}
        if len(days) == n:
            out.add(sum(1 << d for d in days))
    return sorted(out)


def gaps(mask: int) -> list[int]:
    """Days of waste a visit collects per weekday (index 0 = Monday), as whole days."""
    return [int(g) for g in visit_gaps(mask)]


@dataclass
class _P:
    point_id: str
    category: str
    rate_kg: float  # per day
    stop_min: float
    mask: int
    options: list[int]


@dataclass
class MasterRoutes:
    changed: dict[str, tuple[int, int]] = field(default_factory=dict)  # point -> (old, new)
    by_category: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: point -> (usual truck, proposed truck) for the points with a usual truck
    trucks: dict[str, tuple[str, str]] = field(default_factory=dict)

    def truck_figures(self) -> dict[str, Any]:
        same = sum(1 for a, b in self.trucks.values() if a == b)
        return {"points_with_truck": len(self.trucks), "same_truck": same,
                "share_same_truck": round(same / len(self.trucks), 4) if self.trucks else None}


def usual_trucks(session: Session, *, plans: int = 28) -> dict[str, str]:
    """Per point the truck that collected it most often in the current plans of the
    latest ``plans`` dates (ties: the latest plan)."""
    docs = planning_repo.current_documents(session, plans)
    counts: dict[str, Counter[str]] = {}
    for doc in reversed(docs):
        if not doc:
            continue
        for r, st in Plan.from_json(doc).collects():
            counts.setdefault(str(st.id), Counter())[r.vehicle_id] += 1
    return {pid: c.most_common(1)[0][0] for pid, c in counts.items()}


def _assign_trucks(session: Session, ps: list[_P], old: dict[str, int], new: dict[str, int],
                   usual: dict[str, str], kg_per_min: float) -> dict[str, tuple[str, str]]:
    """Keep each point on its usual truck unless the truck's work on one of the
    point's new weekdays would exceed its shift; then the truck of the category with
    the least work on those days."""
    cat = ps[0].category if ps else ""
    vehicles = {v.vehicle_id: v for v in planning_repo.vehicles(session)
                if any(c.category == cat and c.capacity_kg >= 1 for c in v.compartments)}
    shift = {vid: float(v.shift_end_min - v.shift_start_min - (v.break_min or 0))
             for vid, v in vehicles.items()}
    work = {vid: [0.0] * 7 for vid in vehicles}
    known = [p for p in ps if usual.get(p.point_id) in vehicles]

    def add(p: _P, vid: str, mask: int, sign: float) -> None:
        for w, g in enumerate(gaps(mask)):
            if g:
                work[vid][w] += sign * (p.stop_min + p.rate_kg * g / kg_per_min)

    for p in known:  # the unchanged points first
        if old[p.point_id] == new[p.point_id]:
            add(p, usual[p.point_id], new[p.point_id], 1)
    out: dict[str, tuple[str, str]] = {}
    for p in sorted(known, key=lambda p: -p.rate_kg):
        u = usual[p.point_id]
        if old[p.point_id] != new[p.point_id]:
            days = [w for w, g in enumerate(gaps(new[p.point_id])) if g]
            add(p, u, new[p.point_id], 1)
            if any(work[u][w] > shift[u] for w in days):
                add(p, u, new[p.point_id], -1)
                best = min(vehicles, key=lambda vid: max(work[vid][w] / shift[vid]
                                                         for w in days))
                add(p, best, new[p.point_id], 1)
                u = best
        out[p.point_id] = (usual[p.point_id], u)
    return out


def _loads(ps: list[_P], masks: dict[str, int], kg_per_min: float) -> tuple[list[float],
                                                                             list[float]]:
    kg = [0.0] * 7
    work = [0.0] * 7
    for p in ps:
        for w, g in enumerate(gaps(masks[p.point_id])):
            if g:
                kg[w] += p.rate_kg * g
                work[w] += p.stop_min + p.rate_kg * g / kg_per_min
    return kg, work


def _dev(xs: list[float]) -> float:
    """Largest relative deviation of a weekday from the mean."""
    m = sum(xs) / 7 or 1.0
    return max(abs(x - m) / m for x in xs)


def _cost(kg: list[float], work: list[float]) -> float:
    out = 0.0
    for xs in (kg, work):
        m = sum(xs) / 7 or 1.0
        out += sum(((x - m) / m) ** 2 for x in xs)
    return out


def balance(
    session: Session,
    *,
    travel_min_per_stop: float = 6.0,
    unload_kg_per_min: float = 400.0,
    tolerance: float = 0.10,
    max_rounds: int = 20,
) -> MasterRoutes:
    """Weekday patterns for the points collected fewer than 7 days a week, and the
    truck of each point (its usual one from the recent plans where its shift allows)."""
    rows = planning_repo.points(session)
    usual = usual_trucks(session)
    by_cat: dict[str, list[_P]] = {}
    for r in rows:
        n = bin(int(r.days_mask) & ALL_DAYS_MASK).count("1")
        if n == 0:
            continue
        opts = [r.days_mask] if n == 7 else patterns(n)
        if r.days_mask not in opts:
            opts = [r.days_mask, *opts]
        by_cat.setdefault(r.category, []).append(_P(
            r.point_id, r.category, float(r.kg_per_visit) * n / 7.0,
            float(r.service_min) + travel_min_per_stop, int(r.days_mask), opts))
    result = MasterRoutes()
    for cat, ps in sorted(by_cat.items()):
        old = {p.point_id: p.mask for p in ps}
        masks = dict(old)
        kg0, work0 = _loads(ps, masks, unload_kg_per_min)
        movable = sorted((p for p in ps if len(p.options) > 1), key=lambda p: -p.rate_kg)
        for _ in range(max_rounds):
            improved = False
            for p in movable:
                kg, work = _loads(ps, masks, unload_kg_per_min)
                if _dev(kg) <= tolerance / 2 and _dev(work) <= tolerance / 2:
                    break  # balanced enough: leave the other points on their days
                best_mask, best = masks[p.point_id], _cost(kg, work)
                cur_g = gaps(masks[p.point_id])
                for m in p.options:
                    if m == masks[p.point_id]:
                        continue
                    g = gaps(m)
                    k2 = [kg[w] - p.rate_kg * cur_g[w] + p.rate_kg * g[w] for w in range(7)]
                    w2 = [work[w] - (p.stop_min + p.rate_kg * cur_g[w] / unload_kg_per_min
                                     if cur_g[w] else 0.0)
                          + (p.stop_min + p.rate_kg * g[w] / unload_kg_per_min if g[w] else 0.0)
                          for w in range(7)]
                    c = _cost(k2, w2)
                    if c < best - 1e-9:
                        best_mask, best = m, c
                if best_mask != masks[p.point_id]:
                    masks[p.point_id] = best_mask
                    improved = True
            if not improved:
                break
        kg1, work1 = _loads(ps, masks, unload_kg_per_min)
        dev = _dev

        for pid, m in masks.items():
            if m != old[pid]:
                result.changed[pid] = (old[pid], m)
        trucks = _assign_trucks(session, ps, old, masks, usual, unload_kg_per_min)
        result.trucks.update(trucks)
        same = sum(1 for a, b in trucks.values() if a == b)
        result.by_category[cat] = {
            "points": len(ps),
            "movable": len(movable),
            "changed": sum(1 for pid in masks if masks[pid] != old[pid]),
            "kg_before": [round(x) for x in kg0], "kg_after": [round(x) for x in kg1],
            "hours_before": [round(x / 60, 1) for x in work0],
            "hours_after": [round(x / 60, 1) for x in work1],
            "max_dev_kg_before": round(dev(kg0), 3), "max_dev_kg_after": round(dev(kg1), 3),
            "max_dev_hours_before": round(dev(work0), 3),
            "max_dev_hours_after": round(dev(work1), 3),
            "within_tolerance": dev(kg1) <= tolerance and dev(work1) <= tolerance,
            "points_with_truck": len(trucks), "same_truck": same,
        }
    log.info("master routes: %d point(s) change weekdays", len(result.changed))
    return result


def days_text(mask: int) -> str:
    """A days_mask as the import file writes it (``daily`` or ``1;3;5``)."""
    if mask & ALL_DAYS_MASK == ALL_DAYS_MASK:
        return "daily"
    return ";".join(str(w + 1) for w in range(7) if mask & (1 << w))


def apply(session: Session, result: MasterRoutes) -> int:
    """Write the proposed weekdays into ``points.days_mask`` (the caller commits: one
    transaction). Returns the number of points changed."""
    planning_repo.set_days_mask(session, {pid: new for pid, (_, new) in result.changed.items()})
    return len(result.changed)


__all__ = ["MasterRoutes", "apply", "balance", "days_text", "gaps", "patterns",
           "usual_trucks"]
