"""Read models of the metrics: the SQL aggregates of one scope, as small frames.

The database does the summing; callers (``logistics.reporting.metrics``) only combine
the aggregated rows. Each function takes a :class:`Scoped` (period, optional town and
category filters, per-town grouping). Frames come back without a group column when the
scope is not per town.

A city's year is ten million records, too many to scan for every request: the record
figures read the rollups (``record_rollups`` per point and month, ``truck_day_rollups``
per vehicle and day, kept exact by triggers, migration 0008) for whole months and the
records themselves only for the days of a month the period cuts. A scope with
``rollups`` false reads the records alone (the tests compare the two).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import (
    Date,
    Integer,
    and_,
    case,
    cast,
    delete,
    func,
    literal,
    or_,
    select,
    text,
    union_all,
)
from sqlalchemy.dialects.postgresql import BIT
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from logistics.persistence.models import (
    CollectionRecord,
    Community,
    Facility,
    Plan,
    PlanRoute,
    PlanStop,
    Point,
    RecordRollup,
    Ticket,
    Town,
    TruckDayRollup,
)
from logistics.persistence.plan_repo import CURRENT

if TYPE_CHECKING:
    import pandas as pd

#: group of points that belong to no community (so to no town)
NO_TOWN = "(no town / 未归属乡镇)"


class Scoped(Protocol):
    """What to aggregate: the period (both days included), filters and grouping."""

    @property
    def start(self) -> dt.date: ...

    @property
    def end(self) -> dt.date: ...

    @property
    def category(self) -> str | None: ...

    @property
    def town(self) -> str | None: ...

    @property
    def by_town(self) -> bool: ...

    @property
    def rollups(self) -> bool: ...


# --------------------------------------------------------------------------- SQL helpers


def day_of(session: Session, col: Any) -> ColumnElement[Any]:
    """The calendar day of a DATETIME column (ISO text on SQLite, a date on PostgreSQL)."""
    if session.get_bind().dialect.name == "sqlite":
        return func.date(col)
    return cast(col, Date)


def month_of(session: Session, col: Any) -> ColumnElement[Any]:
    """'YYYY-MM' of a DATE/DATETIME column."""
    if session.get_bind().dialect.name == "sqlite":
        return func.strftime("%Y-%m", col)
    return func.to_char(col, "YYYY-MM")


def weekday_bit_of(session: Session, col: Any) -> ColumnElement[Any]:
    """The ``days_mask`` bit (Monday = 1 .. Sunday = 64) of a DATE column."""
    if session.get_bind().dialect.name == "sqlite":
        dow: Any = cast(func.strftime("%w", col), Integer)
    else:
        dow = cast(func.extract("dow", col), Integer)
    return case({0: 64, 1: 1, 2: 2, 3: 4, 4: 8, 5: 16, 6: 32}, value=dow, else_=0)


def town_of_point() -> ColumnElement[Any]:
    """A point's town through its community; :data:`NO_TOWN` for points without one."""
    return func.coalesce(Community.town, literal(NO_TOWN))


def rows(session: Session, stmt: Any) -> list[tuple[Any, ...]]:
    """The rows of ``stmt`` as tuples."""
    session.flush()
    # Core rows (no ORM result processing: a city has 50,000 points)
    return [tuple(r) for r in session.connection().execute(stmt).fetchall()]


def frame(session: Session, stmt: Any, columns: list[str]) -> pd.DataFrame:
    """The rows of ``stmt`` as a frame with these column names (for the dashboards;
    the metrics document takes plain rows and does not start pandas)."""
    import pandas as pd

    return pd.DataFrame(rows(session, stmt), columns=columns)


def day_range(start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[start 00:00, day after end 00:00): the half-open range of a DATETIME column."""
    return (
        dt.datetime.combine(start, dt.time()),
        dt.datetime.combine(end + dt.timedelta(days=1), dt.time()),
    )


def _filtered(stmt: Any, scope: Scoped, *, town: bool = True,
              category: Any = Point.category) -> Any:
    if scope.category is not None:
        stmt = stmt.where(category == scope.category)
    if town and scope.town is not None:
        stmt = stmt.where(Community.town == scope.town)
    return stmt


def _grouped(session: Session, scope: Scoped,
             stmt_fn: Callable[[list[Any]], Any]) -> list[tuple[Any, ...]]:
    """The rows of ``stmt_fn(group_cols)``: a leading town when per town."""
    return rows(session, stmt_fn([town_of_point().label("group")] if scope.by_town else []))


# --------------------------------------------------------------------------- names


def town_names(session: Session) -> list[str]:
    """Every town, by name."""
    return [str(t) for t in session.scalars(select(Town.name).order_by(Town.name))]


def point_categories(session: Session) -> list[str]:
    """The categories that have points (database order)."""
    return [str(c) for c in session.scalars(select(Point.category).distinct())]


# --------------------------------------------------------------------------- records


def month_after(month: dt.date) -> dt.date:
    """The first day of the month after ``month``'s."""
    return dt.date(month.year + month.month // 12, month.month % 12 + 1, 1)


def month_spans(start: dt.date, end: dt.date) -> list[tuple[dt.date, dt.date, dt.date]]:
    """Each month ``start..end`` touches: (its first day, first day counted, last day
    counted)."""
    out = []
    m = start.replace(day=1)
    while m <= end:
        nxt = month_after(m)
        out.append((m, max(m, start), min(nxt - dt.timedelta(days=1), end)))
        m = nxt
    return out


def _months(scope: Scoped) -> list[tuple[dt.date, dt.date, dt.date]]:
    return month_spans(scope.start, scope.end)


def whole_month(m: dt.date, lo: dt.date, hi: dt.date) -> bool:
    """Whether a span of :func:`month_spans` counts its whole month."""
    return lo == m and hi == month_after(m) - dt.timedelta(days=1)


def _per_point(scope: Scoped) -> Any:
    """Subquery point_id, kg, n: records summed per point over the days the rollups do
    not give: the whole period without rollups, else the days of the months it cuts
    (consecutive months: only the first and the last); None when it cuts none."""
    spans = ([(scope.start, scope.end)] if not scope.rollups else
             [(lo, hi) for m, lo, hi in _months(scope) if not whole_month(m, lo, hi)])
    pieces = [select(CollectionRecord.point_id.label("point_id"),
                     func.sum(CollectionRecord.kg).label("kg"), func.count().label("n"))
              .where(CollectionRecord.date >= lo, CollectionRecord.date <= hi)
              .group_by(CollectionRecord.point_id) for lo, hi in spans]
    if not pieces:
        return None
    query: Any = pieces[0] if len(pieces) == 1 else union_all(*pieces)
    return query.subquery()


def record_totals(session: Session, scope: Scoped) -> list[tuple[Any, ...]]:
    """Rows ([group,] category, kg, records): collection records summed (per point in
    the database first, then per category and town over the points); with rollups,
    only those of the days of months the period cuts (:func:`rollup_totals` gives the
    whole months)."""
    per_point = _per_point(scope)
    if per_point is None:
        return []

    def stmt(g: list[Any]) -> Any:
        q = (
            select(*g, Point.category, func.sum(per_point.c.kg), func.sum(per_point.c.n))
            .select_from(per_point)
            .join(Point, Point.point_id == per_point.c.point_id)
            .outerjoin(Community, Community.community_id == Point.community_id)
            .group_by(*g, Point.category)
        )
        return _filtered(q, scope)

    return _grouped(session, scope, stmt)


def truck_day_totals(session: Session, scope: Scoped) -> tuple[float, int]:
    """kg collected by identified trucks, and distinct (truck, day) pairs."""
    if scope.rollups and scope.category is None and scope.town is None:
        kg, n = session.execute(
            select(func.sum(TruckDayRollup.kg), func.count())
            .where(TruckDayRollup.date >= scope.start, TruckDayRollup.date <= scope.end,
                   TruckDayRollup.vehicle_id != "")).one()
        return float(kg or 0.0), int(n or 0)
    inner = (
        select(CollectionRecord.vehicle_id, CollectionRecord.date,
               func.sum(CollectionRecord.kg).label("kg"))
        .where(CollectionRecord.date >= scope.start, CollectionRecord.date <= scope.end,
               CollectionRecord.vehicle_id != "")
        .group_by(CollectionRecord.vehicle_id, CollectionRecord.date)
    )
    if scope.category is not None or scope.town is not None:
        inner = _filtered(
            inner.join(Point, Point.point_id == CollectionRecord.point_id)
            .outerjoin(Community, Community.community_id == Point.community_id), scope)
    sub = inner.subquery()
    kg, n = session.execute(select(func.sum(sub.c.kg), func.count()).select_from(sub)).one()
    return float(kg or 0.0), int(n or 0)


def _record_kg_by_truck_day_town(scope: Scoped) -> Any:
    """Statement (vehicle_id, day, category, group, kg): records of identified trucks."""
    g = town_of_point().label("group")
    q = (
        select(
            CollectionRecord.vehicle_id.label("vehicle_id"), CollectionRecord.date.label("day"),
            Point.category.label("category"), g, func.sum(CollectionRecord.kg).label("kg"),
        )
        .join(Point, Point.point_id == CollectionRecord.point_id)
        .outerjoin(Community, Community.community_id == Point.community_id)
        .where(
            CollectionRecord.date >= scope.start, CollectionRecord.date <= scope.end,
            CollectionRecord.vehicle_id != "",
        )
        .group_by(CollectionRecord.vehicle_id, CollectionRecord.date, Point.category, g)
    )
    return _filtered(q, scope, town=False)


# --------------------------------------------------------------------------- tickets

TICKET_COLUMNS = ["category", "kind", "harmless", "kg", "tickets"]


def last_record_day(session: Session) -> dt.date | None:
    """The newest day with collection records (None without any): the end of the data
    (index ``uq_collection_records_key`` leads with the date)."""
    d = session.scalar(select(func.max(CollectionRecord.date)))
    if d is None:
        return None
    return d if isinstance(d, dt.date) else dt.date.fromisoformat(str(d)[:10])


def first_record_day(session: Session) -> dt.date | None:
    """The oldest day with collection records (None without any)."""
    d = session.scalar(select(func.min(CollectionRecord.date)))
    if d is None:
        return None
    return d if isinstance(d, dt.date) else dt.date.fromisoformat(str(d)[:10])


def ticket_totals(session: Session, scope: Scoped) -> list[tuple[Any, ...]]:
    """Rows (category, kind, harmless, kg, tickets): weighbridge tickets summed by
    ticket category and the receiving facility's kind and harmless flag."""
    lo, hi = day_range(scope.start, scope.end)
    q = (
        select(
            Ticket.category, Facility.kind, Facility.harmless,
            func.sum(Ticket.net_kg), func.count(),
        )
        .join(Facility, Facility.facility_id == Ticket.facility_id)
        .where(Ticket.time >= lo, Ticket.time < hi)
        .group_by(Ticket.category, Facility.kind, Facility.harmless)
    )
    q = _filtered(q, scope, town=False, category=Ticket.category)
    return rows(session, q)


def sent_on_totals(session: Session, scope: Scoped) -> list[tuple[Any, ...]]:
    """Rows (category, kind, harmless, kg, tickets): loads sent on (tickets with a
    source facility) summed by the *sending* facility's kind and harmless flag."""
    lo, hi = day_range(scope.start, scope.end)
    q = (
        select(
            Ticket.category, Facility.kind, Facility.harmless,
            func.sum(Ticket.net_kg), func.count(),
        )
        .join(Facility, Facility.facility_id == Ticket.source_facility_id)
        .where(Ticket.time >= lo, Ticket.time < hi)
        .group_by(Ticket.category, Facility.kind, Facility.harmless)
    )
    q = _filtered(q, scope, town=False, category=Ticket.category)
    return rows(session, q)


def transfer_rows(session: Session, scope: Scoped, kinds: Sequence[str]
                  ) -> list[tuple[str, str, float, float, float]]:
    """Rows (facility_id, name, opening_kg, intake_kg, sent_kg) by facility_id: per
    facility of ``kinds`` (transfer stations), what it held before the period (intake
    minus loads sent on, all earlier tickets), took in and sent on during the period."""
    lo, hi = day_range(scope.start, scope.end)
    sums: dict[str, list[float]] = {}  # facility -> [before in, before out, intake, sent]
    for col, at in ((Ticket.facility_id, 0), (Ticket.source_facility_id, 1)):
        q = (
            select(
                Facility.facility_id,
                func.sum(case((Ticket.time < lo, Ticket.net_kg), else_=0.0)),
                func.sum(case((Ticket.time >= lo, Ticket.net_kg), else_=0.0)),
            )
            .join(Ticket, col == Facility.facility_id)
            .where(Facility.kind.in_(list(kinds)), Ticket.time < hi)
            .group_by(Facility.facility_id)
        )
        for fid, before, kg in rows(session, _filtered(q, scope, town=False,
                                                       category=Ticket.category)):
            s = sums.setdefault(fid, [0.0] * 4)
            s[at], s[2 + at] = float(before or 0.0), float(kg or 0.0)
    names = rows(session, select(Facility.facility_id, Facility.name)
                 .where(Facility.kind.in_(list(kinds))).order_by(Facility.facility_id))
    out = []
    for fid, name in names:
        before_in, before_out, intake, sent = sums.get(fid, [0.0] * 4)
        out.append((fid, name, before_in - before_out, intake, sent))
    return out


def transfer_stock(session: Session, scope: Scoped, kinds: Sequence[str]) -> pd.DataFrame:
    """:func:`transfer_rows` as a frame [facility_id, name, opening_kg, intake_kg,
    sent_kg]."""
    import pandas as pd

    return pd.DataFrame(transfer_rows(session, scope, kinds),
                        columns=["facility_id", "name", "opening_kg", "intake_kg", "sent_kg"])


def _direct_tickets_by_truck_day(session: Session, scope: Scoped) -> Any:
    """Statement (vehicle_id, day, facility_id, category, kind, harmless, kg), per truck
    and day: loads straight from collection (no source facility)."""
    lo, hi = day_range(scope.start, scope.end)
    day = day_of(session, Ticket.time).label("day")
    q = (
        select(
            Ticket.vehicle_id.label("vehicle_id"), day, Ticket.facility_id.label("facility_id"),
            Ticket.category.label("category"), Facility.kind.label("kind"),
            Facility.harmless.label("harmless"), func.sum(Ticket.net_kg).label("kg"),
        )
        .join(Facility, Facility.facility_id == Ticket.facility_id)
        .where(Ticket.time >= lo, Ticket.time < hi, Ticket.source_facility_id.is_(None))
        .group_by(Ticket.vehicle_id, day, Ticket.facility_id, Ticket.category,
                  Facility.kind, Facility.harmless)
    )
    return _filtered(q, scope, town=False, category=Ticket.category)


def tickets_by_town(session: Session, scope: Scoped) -> tuple[list[tuple[Any, ...]], float]:
    """Rows (group, facility_id, category, kind, harmless, kg): each ticket straight
    from collection (per truck, day, category) split over towns in proportion to the
    same truck's records of that day and category (tickets carry no place); and the kg
    of tickets with no such records (unattributed). The split is done here: a city's
    year is ~300,000 truck-day-town sums against ~150,000 truck-day tickets."""
    rec = _record_kg_by_truck_day_town(scope).cte("rec")
    total = (select(rec.c.vehicle_id, rec.c.day, rec.c.category,
                    func.sum(rec.c.kg).label("total"))
             .group_by(rec.c.vehicle_id, rec.c.day, rec.c.category).cte("total"))
    tk = _direct_tickets_by_truck_day(session, scope).cte("tk")

    def same(a: Any, b: Any) -> Any:
        return and_(a.c.vehicle_id == b.c.vehicle_id, a.c.day == b.c.day,
                    a.c.category == b.c.category)

    keys = [rec.c.group, tk.c.facility_id, tk.c.category, tk.c.kind, tk.c.harmless]
    # a truck-day of 0 kg shares nothing out (NULL: its rows stay, with 0 kg)
    share = rec.c.kg / func.nullif(total.c.total, 0)
    # one pass over the records: a ticket without them comes out with group NULL
    split = (select(*keys, func.sum(tk.c.kg * share), func.sum(tk.c.kg))
             .select_from(tk.outerjoin(rec, same(tk, rec)).outerjoin(total, same(tk, total)))
             .group_by(*keys))
    if session.get_bind().dialect.name == "postgresql":
        # ten million records group into ~300,000 sums; the planner cannot tell and its
        # 4 MB hash spilled 0.5 GB to disk (21 s; 15 s in memory, at load 3)
        session.execute(text("SET LOCAL work_mem = '128MB'"))
    out = rows(session, split)
    lost = [float(r[6]) for r in out if r[0] is None]
    return [r[:6] for r in out if r[0] is not None], math.fsum(lost)


def sent_on_by_source(session: Session, scope: Scoped) -> list[tuple[Any, ...]]:
    """Rows (source_facility_id, source_kind, source_harmless and those of
    :func:`ticket_totals` (by the receiving facility): loads sent on in the period."""
    lo, hi = day_range(scope.start, scope.end)
    src = aliased(Facility)
    q = (
        select(
            Ticket.source_facility_id, src.kind, src.harmless, Ticket.category,
            Facility.kind, Facility.harmless, func.sum(Ticket.net_kg), func.count(),
        )
        .join(Facility, Facility.facility_id == Ticket.facility_id)
        .join(src, src.facility_id == Ticket.source_facility_id)
        .where(Ticket.time >= lo, Ticket.time < hi)
        .group_by(Ticket.source_facility_id, src.kind, src.harmless, Ticket.category,
                  Facility.kind, Facility.harmless)
    )
    return rows(session, _filtered(q, scope, town=False, category=Ticket.category))


def tickets_of_day(session: Session, day: dt.date, facility_ids: Sequence[str]) -> pd.DataFrame:
    """Columns facility_id, time, category, net_kg: the day's tickets at these facilities."""
    lo, hi = day_range(day, day)
    q = (select(Ticket.facility_id, Ticket.time, Ticket.category, Ticket.net_kg)
         .where(Ticket.time >= lo, Ticket.time < hi, Ticket.facility_id.in_(list(facility_ids)))
         .order_by(Ticket.time))
    import pandas as pd

    f = frame(session, q, ["facility_id", "time", "category", "net_kg"])
    f["time"] = pd.to_datetime(f["time"])
    return f


def delete_tickets_like(session: Session, day: dt.date, ticket_no_like: str) -> None:
    """Remove the day's tickets whose number matches a LIKE pattern."""
    lo, hi = day_range(day, day)
    session.execute(delete(Ticket).where(Ticket.time >= lo, Ticket.time < hi,
                                         Ticket.ticket_no.like(ticket_no_like)))


# --------------------------------------------------------------------------- communities


def community_totals(session: Session, scope: Scoped) -> list[tuple[Any, ...]]:
    """Rows ([group,] households, covered_hh, n, covered_n): communities and those
    separating at source on the last day of the scope (grouped by their town)."""
    covered = and_(Community.sorting_since.is_not(None), Community.sorting_since <= scope.end)

    def stmt(g: list[Any]) -> Any:
        q = select(
            *g,
            func.sum(Community.households),
            func.sum(case((covered, Community.households), else_=0)),
            func.count(),
            func.sum(case((covered, 1), else_=0)),
        ).group_by(*g)
        if scope.town is not None:
            q = q.where(Community.town == scope.town)
        return q

    return rows(session, stmt([Community.town.label("group")] if scope.by_town else []))


# --------------------------------------------------------------------------- visits


def point_schedules(session: Session, scope: Scoped) -> pd.DataFrame:
    """Columns [group,] point_id, category, mask, community_id, since: every point with
    its weekday mask and the day its community started separating."""
    g_cols = [town_of_point().label("group")] if scope.by_town else []
    q = (
        select(*g_cols, Point.point_id, Point.category, Point.days_mask,
               Point.community_id, Community.sorting_since)
        .outerjoin(Community, Community.community_id == Point.community_id)
    )
    names = ["point_id", "category", "mask", "community_id", "since"]
    return frame(session, _filtered(q, scope), ["group", *names] if scope.by_town else names)


def point_schedule_counts(session: Session, scope: Scoped,
                          separated: Sequence[str]) -> list[tuple[Any, ...]]:
    """Rows ([group,] days_mask, gated, since, points): points counted per schedule.
    ``gated`` (1/0): a ``separated`` category of a community, due only from ``since``,
    the day its community started separating (None otherwise). A city's 50,000
    points have a few hundred schedules."""
    gated = case((and_(Point.category.in_(list(separated)), Point.community_id.is_not(None)),
                  1), else_=0)
    since = case((gated == 1, Community.sorting_since), else_=None)
    g_cols = [town_of_point().label("group")] if scope.by_town else []
    q = (
        select(*g_cols, Point.days_mask, gated, since, func.count())
        .select_from(Point)
        .outerjoin(Community, Community.community_id == Point.community_id)
        .group_by(*g_cols, Point.days_mask, gated, since)
    )
    return rows(session, _filtered(q, scope))


def served_visits(session: Session, scope: Scoped,
                  separated: Sequence[str]) -> list[tuple[Any, ...]] | int:
    """Distinct (point, day) records on a day the point is due: its weekday is in the
    point's mask and, for a ``separated`` category of a community, the community
    separates by then. Per town rows (group, served); else the count. From the records
    (with rollups, :func:`rollup_totals` counts them)."""
    pairs = (
        select(CollectionRecord.date.label("date"), CollectionRecord.point_id.label("point_id"))
        .where(CollectionRecord.date >= scope.start, CollectionRecord.date <= scope.end)
        .distinct()
        .subquery()
    )
    bit = weekday_bit_of(session, pairs.c.date)
    gate = or_(
        Point.category.not_in(list(separated)),
        Point.community_id.is_(None),
        and_(Community.sorting_since.is_not(None), Community.sorting_since <= pairs.c.date),
    )
    g_cols = [town_of_point().label("group")] if scope.by_town else []
    q = (
        select(*g_cols, func.count())
        .select_from(pairs)
        .join(Point, Point.point_id == pairs.c.point_id)
        .outerjoin(Community, Community.community_id == Point.community_id)
        .where(Point.days_mask.op("&")(bit) != 0, gate)
    )
    q = _filtered(q, scope)
    if scope.by_town:
        return rows(session, q.group_by(*g_cols))
    return int(session.scalar(q) or 0)


def _weekday_bits(month: dt.date, lo: dt.date, hi: dt.date) -> list[int]:
    """Per weekday (Monday first), the ``day_bits`` of the month's days in [lo, hi]."""
    bits = [0] * 7
    d = lo
    while d <= hi:
        bits[d.weekday()] |= 1 << (d.day - 1)
        d += dt.timedelta(days=1)
    return bits


def _rollup_rows(session: Session, scope: Scoped, separated: Sequence[str]) -> Any:
    """Subquery [group,] category, kg, records, bits over the ``record_rollups`` rows of
    every month the period touches: kg and records of the whole months (0 for a cut
    one, whose days the records give), and the served days of each as bits: per point
    and month, the days with a record (``day_bits``) and the days it is due (its
    weekdays among the period's days of that month, from the day its community
    separates where that gates it) are bit sets; served visits are the bits both hold."""
    pieces = [
        select(literal(m, Date).label("month"), literal(month_after(m), Date).label("next"),
               literal(1 if whole_month(m, lo, hi) else 0, Integer).label("whole"),
               *[literal(b, Integer).label(f"w{k}") for k, b in
                 enumerate(_weekday_bits(m, lo, hi))])
        for m, lo, hi in _months(scope)
    ]
    both: Any = pieces[0] if len(pieces) == 1 else union_all(*pieces)
    pat = both.subquery()
    due: Any = sum(
        (case((Point.days_mask.op("&")(1 << k) != 0, pat.c[f"w{k}"]), else_=0)
         for k in range(7)), literal(0))
    since = Community.sorting_since
    if session.get_bind().dialect.name == "sqlite":
        since_day: Any = cast(func.strftime("%d", since), Integer)
    else:
        since_day = cast(func.date_part("day", since), Integer)
    gate = case(
        (or_(Point.category.not_in(list(separated)), Point.community_id.is_(None)), -1),
        (since.is_(None), 0),
        (since <= pat.c.month, -1),
        (since >= pat.c.next, 0),
        else_=literal(-1).op("<<")(since_day - 1),
    )
    g_cols = [town_of_point().label("group")] if scope.by_town else []
    inner = (
        select(*g_cols, Point.category.label("category"),
               (RecordRollup.kg * pat.c.whole).label("kg"),
               (RecordRollup.records * pat.c.whole).label("records"),
               RecordRollup.day_bits.op("&")(due).op("&")(gate).label("bits"))
        .select_from(RecordRollup)
        .join(pat, pat.c.month == RecordRollup.month)
        .join(Point, Point.point_id == RecordRollup.point_id)
        .outerjoin(Community, Community.community_id == Point.community_id)
    )
    return _filtered(inner, scope).subquery()


def _bit_count(session: Session, bits: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return func.bit_count(cast(bits, BIT(31)))
    return sum((bits.op(">>")(i).op("&")(1) for i in range(31)), literal(0))


def rollup_totals(session: Session, scope: Scoped,
                  separated: Sequence[str]) -> list[tuple[Any, ...]]:
    """Rows ([group,] category, kg, records, served) in one pass over the rollups of
    the period's months (a city's year is some 500,000 point-months): kg and records
    of its whole months (:func:`cut_record_totals` adds the days of the others) and
    served visits (:func:`served_visits`)."""
    sub = _rollup_rows(session, scope, separated)
    sub_g = [sub.c.group] if scope.by_town else []
    q = (select(*sub_g, sub.c.category, func.sum(sub.c.kg), func.sum(sub.c.records),
                func.sum(_bit_count(session, sub.c.bits)))
         .group_by(*sub_g, sub.c.category))
    return rows(session, q)


def served_visits_by_day(session: Session, scope: Scoped,
                         separated: Sequence[str]) -> pd.DataFrame:
    """Columns day, served: :func:`served_visits` of the county, per day."""
    bit = weekday_bit_of(session, CollectionRecord.date)
    gate = or_(
        Point.category.not_in(list(separated)),
        Point.community_id.is_(None),
        and_(Community.sorting_since.is_not(None),
             Community.sorting_since <= CollectionRecord.date),
    )
    q = (
        select(CollectionRecord.date, func.count(func.distinct(CollectionRecord.point_id)))
        .join(Point, Point.point_id == CollectionRecord.point_id)
        .outerjoin(Community, Community.community_id == Point.community_id)
        .where(CollectionRecord.date >= scope.start, CollectionRecord.date <= scope.end,
               Point.days_mask.op("&")(bit) != 0, gate)
        .group_by(CollectionRecord.date)
    )
    return frame(session, _filtered(q, scope), ["day", "served"])


# --------------------------------------------------------------------------- plans


def plan_totals(session: Session, scope: Scoped) -> dict[str, float]:
    """Planned km, kg, trips (unloads) and routes over the current plans of the period;
    with a category, only routes that collect it (and only its kg)."""
    routes = (
        select(PlanRoute.id, PlanRoute.distance_km)
        .join(Plan, Plan.plan_id == PlanRoute.plan_id)
        .where(Plan.status == CURRENT, Plan.date >= scope.start, Plan.date <= scope.end)
    )
    if scope.category is not None:
        routes = routes.where(
            PlanRoute.id.in_(
                select(PlanStop.route_id).where(
                    PlanStop.kind == "collect", PlanStop.category == scope.category
                )
            )
        )
    r = routes.subquery()
    km, n_routes = session.execute(
        select(func.sum(r.c.distance_km), func.count()).select_from(r)
    ).one()
    kg_q = select(func.sum(PlanStop.kg)).where(
        PlanStop.route_id.in_(select(r.c.id)), PlanStop.kind == "collect"
    )
    if scope.category is not None:
        kg_q = kg_q.where(PlanStop.category == scope.category)
    kg = session.scalar(kg_q)
    trips = session.scalar(
        select(func.count()).where(PlanStop.route_id.in_(select(r.c.id)), PlanStop.kind == "unload")
    )
    n_plans = session.scalar(
        select(func.count()).where(
            Plan.status == CURRENT, Plan.date >= scope.start, Plan.date <= scope.end
        )
    )
    return {
        "plans": int(n_plans or 0),
        "routes": int(n_routes or 0),
        "distance_km": float(km or 0.0),
        "kg": float(kg or 0.0),
        "trips": int(trips or 0),
    }
