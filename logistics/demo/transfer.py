"""The transfer station's outbound loads: what it takes in during a day it sends on to
the plant the same evening, in container loads, on weighbridge tickets at the plant
that name the station as ``source_facility_id``.

:func:`outbound_loads` works on a frame of tickets (the demo's year); :func:`send_on_day`
does the same for one day in the database (the demo's planned day, after its tickets
were written).
"""

from __future__ import annotations

import datetime as dt
import logging
import math

import numpy as np
import pandas as pd

from logistics.domain import TRANSFER_KINDS
from logistics.persistence import planning_repo, reporting_repo
from logistics.persistence import repositories as repo
from logistics.persistence.db import Session
from logistics.persistence.models import Facility, Ticket

log = logging.getLogger(__name__)

#: a transfer container (hook-lift trailer)
CONTAINER_KG = 20_000.0
#: the first load leaves when the collection trucks have gone home, then one per step
FIRST_LOAD = dt.time(17, 30)
STEP_MIN = 20
TRAILER = "ZY-转运01"
TRAILER_TARE_KG = 15_000.0
#: ticket numbers of outbound loads: <this>-<station>-<YYYYMMDD>-<n>
TICKET_PREFIX = "ZY"

OUT_COLUMNS = ["ticket_no", "facility_id", "time", "category", "net_kg", "gross_kg", "tare_kg",
               "vehicle_id", "source_facility_id"]


def _loads(station: str, dest: str, day: dt.date, category: str, kg: float,
           start_k: int) -> list[dict[str, object]]:
    """Container loads of one day's intake of one category: full ones, then the rest."""
    n = max(1, math.ceil(kg / CONTAINER_KG - 1e-9))
    rows: list[dict[str, object]] = []
    left = round(kg, 1)
    t0 = dt.datetime.combine(day, FIRST_LOAD)
    for i in range(n):
        net = min(CONTAINER_KG, left) if i < n - 1 else left
        left = round(left - net, 1)
        k = start_k + i
        rows.append({
            "ticket_no": f"{TICKET_PREFIX}-{station}-{day:%Y%m%d}-{k + 1:02d}",
            "facility_id": dest,
            "time": t0 + dt.timedelta(minutes=STEP_MIN * k),
            "category": category,
            "net_kg": round(net, 1),
            "gross_kg": round(net + TRAILER_TARE_KG, 1),
            "tare_kg": TRAILER_TARE_KG,
            "vehicle_id": TRAILER,
            "source_facility_id": station,
        })
    return rows


def outbound_rows(tickets: pd.DataFrame, destinations: dict[tuple[str, str], str],
                  dest_by_day: dict[str, pd.Series] | None = None) -> list[dict[str, object]]:
    """Outbound tickets for every (station, day, category) of intake in ``tickets``
    (columns facility_id, time, category, net_kg).

    ``destinations`` maps (station, category) to the receiving plant; ``dest_by_day``
    optionally overrides it per category with a Series indexed by day (e.g. the
    landfill while the incinerator is down). All of a day's intake leaves that day.
    """
    stations = {s for s, _c in destinations}
    intake = tickets[tickets["facility_id"].isin(stations)]
    if intake.empty:
        return []
    by = (intake.assign(day=intake["time"].dt.date)
          .groupby(["facility_id", "day", "category"], sort=True)["net_kg"].sum())
    rows: list[dict[str, object]] = []
    count: dict[tuple[str, dt.date], int] = {}
    for key, kg in by.items():
        station, day, category = (str(key[0]), key[1], str(key[2]))  # type: ignore[index]
        if (station, category) not in destinations:
            continue
        dest = destinations[(station, category)]
        if dest_by_day is not None and category in dest_by_day:
            dest = str(dest_by_day[category].get(day, dest))
        k = count.get((station, day), 0)
        made = _loads(station, dest, day, category, float(kg), k)
        count[(station, day)] = k + len(made)
        rows.extend(made)
    return rows


def outbound_loads(tickets: pd.DataFrame, destinations: dict[tuple[str, str], str],
                   dest_by_day: dict[str, pd.Series] | None = None) -> pd.DataFrame:
    """:func:`outbound_rows` as a frame (columns :data:`OUT_COLUMNS`)."""
    out = pd.DataFrame(outbound_rows(tickets, destinations, dest_by_day), columns=OUT_COLUMNS)
    out["time"] = pd.to_datetime(out["time"])
    return out


def nearest_destinations(facilities: list[Facility]) -> dict[tuple[str, str], str]:
    """For each transfer station and category it accepts, the nearest harmless facility
    (not a transfer station) that accepts the category."""
    out: dict[tuple[str, str], str] = {}
    ends = [f for f in facilities if f.kind not in TRANSFER_KINDS and f.harmless]
    for s in facilities:
        if s.kind not in TRANSFER_KINDS:
            continue
        for c in s.accepts:
            cands = [f for f in ends if c in f.accepts]
            if cands:
                best = min(cands, key=lambda f: float(np.hypot(f.lon - s.lon, f.lat - s.lat)))
                out[(s.facility_id, c)] = best.facility_id
    return out


def send_on_day(session: Session, day: dt.date) -> int:
    """Write the outbound loads of ``day``'s intake at every transfer station (replacing
    those already written for the day). Flushes only; returns the number of loads."""
    dests = nearest_destinations(repo.all_facilities(session))
    reporting_repo.delete_tickets_like(session, day, f"{TICKET_PREFIX}-%")
    intake = reporting_repo.tickets_of_day(session, day, sorted({s for s, _ in dests}))
    rows = outbound_rows(intake, dests)
    planning_repo.add_all(session, [Ticket(**r) for r in rows])
    log.info("demo: %d outbound load(s) from transfer stations on %s", len(rows), day)
    return len(rows)
