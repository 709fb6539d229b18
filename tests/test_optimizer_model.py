"""The OR-Tools model on tiny hand-made days whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from optimizer import Client, Facility, Problem, Reason, SolveParams, Vehicle
from optimizer.solve import solve

#: searches bounded by solutions, not time: the same plan on any machine; the time
#: limit is only a safety bound
FAST = SolveParams(time_limit_s=60.0, solution_limit=50)


def line_problem(xs: list[int], clients: list[Client], vehicles: list[Vehicle],
                 facilities: list[Facility] = (), *, end_empty: bool = True,
                 speed: int = 10) -> Problem:
    """Locations on a line at xs (metres); travel time = distance / speed."""
    d = np.array([[abs(a - b) for b in xs] for a in xs], dtype=np.int64)
    return Problem(d, d // speed, tuple(clients), tuple(vehicles), tuple(facilities),
                   end_empty=end_empty)


def solved(p: Problem, params: SolveParams = FAST):
    s = solve(p, params)
    assert s.check(p) == []
    return s


def test_compartments_route_each_category_to_its_vehicle() -> None:
    # 0 depot; 1,2 kitchen points; 3,4 recyclable points
    p = line_problem(
        [0, 100, 200, 300, 400],
        [Client(1, {"kitchen": 5}), Client(2, {"kitchen": 5}),
         Client(3, {"recyclable": 5}), Client(4, {"recyclable": 5})],
        [Vehicle(0, 0, {"kitchen": 100}), Vehicle(0, 0, {"recyclable": 100})],
        end_empty=False,
    )
    s = solved(p)
    assert not s.unassigned
    by_vehicle = {r.vehicle: {v.index for v in r.client_visits} for r in s.routes}
    assert by_vehicle == {0: {0, 1}, 1: {2, 3}}


def test_no_vehicle_for_category_is_reported() -> None:
    p = line_problem([0, 100, 200], [Client(1, {"kitchen": 5}), Client(2, {"hazardous": 1})],
                     [Vehicle(0, 0, {"kitchen": 100})], end_empty=False)
    s = solved(p)
    assert [(u.client, u.reason) for u in s.unassigned] == [(1, Reason.NO_VEHICLE_FOR_CATEGORY)]
    assert s.unassigned[0].amount == {"hazardous": 1}


def test_route_unloads_twice_and_ends_empty() -> None:
    # three clients of 6 on a vehicle of 10: at least 3 unloads at the facility (loc 4)
    p = line_problem(
        [0, 100, 200, 300, 50],
        [Client(i, {"a": 6}, service_s=10) for i in (1, 2, 3)],
        [Vehicle(0, 0, {"a": 10})],
        [Facility(4, {"a"}, unload_s=20)],
    )
    s = solved(p)
    assert not s.unassigned
    (route,) = s.routes
    kinds = [v.kind for v in route.visits]
    assert kinds.count("facility") == 3
    assert kinds[-2] == "facility"  # the last trip ends at the facility
    assert all(q == 0 for q in route.visits[-1].load_after.values())
    assert max(v.load_after["a"] for v in route.visits) <= 10


def test_facility_closed_at_noon_forces_other_facility() -> None:
    # near facility (loc 2) closes at 10:00; the client can only start at 11:00
    noon = 12 * 3600
    p = line_problem(
        [0, 1000, 1100, 5000],
        [Client(1, {"a": 5}, tw_start_s=11 * 3600, tw_end_s=noon)],
        [Vehicle(0, 0, {"a": 10})],
        [Facility(2, {"a"}, close_s=10 * 3600), Facility(3, {"a"}, unload_s=60)],
    )
    s = solved(p)
    assert not s.unassigned
    used = [v.index for v in s.routes[0].visits if v.kind == "facility"]
    assert used == [1]


def test_all_facilities_closed_gives_reason() -> None:
    p = line_problem(
        [0, 1000, 1100],
        [Client(1, {"a": 5}, tw_start_s=13 * 3600)],
        [Vehicle(0, 0, {"a": 10})],
        [Facility(2, {"a"}, close_s=12 * 3600)],
    )
    s = solved(p)
    assert [(u.client, u.reason) for u in s.unassigned] == [(0, Reason.FACILITY_CLOSED)]
    assert s.routes == ()


def test_facility_unload_must_finish_before_closing() -> None:
    # arrival at the facility at t=100 s; unload 600 s; it closes at 650 -> unusable
    p = line_problem(
        [0, 500, 1000, 3000],
        [Client(1, {"a": 5})],
        [Vehicle(0, 0, {"a": 10})],
        [Facility(2, {"a"}, close_s=650, unload_s=600), Facility(3, {"a"}, unload_s=600)],
    )
    s = solved(p)
    assert [v.index for v in s.routes[0].visits if v.kind == "facility"] == [1]


def test_break_is_reported_inside_its_window() -> None:
    p = line_problem(
        [0, 1000, 2000, 3000],
        [Client(i, {"a": 1}, service_s=600) for i in (1, 2, 3)],
        [Vehicle(0, 0, {"a": 10}, shift_start_s=0, shift_end_s=20000, break_s=1800,
                 break_earliest_s=500, break_latest_s=700)],
        end_empty=False,
    )
    s = solved(p)
    (route,) = s.routes
    breaks = [v for v in route.visits if v.kind == "break"]
    assert len(breaks) == 1
    assert 500 <= breaks[0].start_s <= 700
    assert breaks[0].departure_s - breaks[0].start_s == 1800
    # the break sits in sequence: everything after it starts after it ends
    pos = route.visits.index(breaks[0])
    assert all(v.start_s >= breaks[0].departure_s for v in route.visits[pos + 1:])
    assert all(v.departure_s <= breaks[0].start_s for v in route.visits[:pos])


def test_oversized_point_is_split_in_three() -> None:
    p = line_problem(
        [0, 100, 50],
        [Client(1, {"a": 25}, service_s=90)],
        [Vehicle(0, 0, {"a": 10}), Vehicle(0, 0, {"a": 8})],
        [Facility(2, {"a"})],
    )
    s = solved(p)
    assert not s.unassigned
    visits = [v for r in s.routes for v in r.client_visits]
    assert len(visits) == 3
    assert all(v.index == 0 for v in visits)
    assert sum(v.amount["a"] for v in visits) == 25
    assert all(v.amount["a"] <= 10 for v in visits)


def test_unreachable_window_gets_reason() -> None:
    # 10 km away at 10 m/s = 1000 s, but the window closes at 500 s
    p = line_problem(
        [0, 10000, 100],
        [Client(1, {"a": 1}, tw_end_s=500), Client(2, {"a": 1})],
        [Vehicle(0, 0, {"a": 10})],
        end_empty=False,
    )
    s = solved(p)
    assert [(u.client, u.reason) for u in s.unassigned] == [(0, Reason.TIME_WINDOW_UNREACHABLE)]
    assert [v.index for v in s.routes[0].client_visits] == [1]


def test_time_windows_order_the_route() -> None:
    p = line_problem(
        [0, 100, 200, 300],
        [Client(1, {"a": 1}, tw_start_s=3000, tw_end_s=4000),
         Client(2, {"a": 1}, tw_start_s=1000, tw_end_s=2000),
         Client(3, {"a": 1}, tw_start_s=0, tw_end_s=500)],
        [Vehicle(0, 0, {"a": 10})],
        end_empty=False,
    )
    s = solved(p)
    assert [v.index for v in s.routes[0].client_visits] == [2, 1, 0]


def test_shift_limits_split_work_over_two_vehicles() -> None:
    # each client needs 2000 s of service; one shift of 3000 s holds only one
    p = line_problem(
        [0, 100, 200],
        [Client(1, {"a": 1}, service_s=2000), Client(2, {"a": 1}, service_s=2000)],
        [Vehicle(0, 0, {"a": 10}, shift_end_s=3000), Vehicle(0, 0, {"a": 10}, shift_end_s=3000)],
        end_empty=False,
    )
    s = solved(p)
    assert not s.unassigned
    assert s.vehicles_used == 2


def test_not_enough_vehicles_reason_after_solve() -> None:
    p = line_problem(
        [0, 100, 200],
        [Client(1, {"a": 1}, service_s=2000), Client(2, {"a": 1}, service_s=2000)],
        [Vehicle(0, 0, {"a": 10}, shift_end_s=3000)],
        end_empty=False,
    )
    s = solved(p)
    assert len(s.routes[0].client_visits) == 1
    assert [u.reason for u in s.unassigned] == [Reason.NOT_ENOUGH_VEHICLES]


def test_facility_daily_capacity_sends_rest_to_second_facility() -> None:
    # near facility takes 10 units a day; 3 clients of 6 -> one load must go far
    p = line_problem(
        [0, 100, 200, 300, 150, 2000],
        [Client(i, {"a": 6}) for i in (1, 2, 3)],
        [Vehicle(0, 0, {"a": 6})],
        [Facility(4, {"a"}, daily_capacity=10), Facility(5, {"a"})],
    )
    s = solved(p, FAST)
    assert not s.unassigned
    used = [v.index for v in s.routes[0].visits if v.kind == "facility"]
    assert used.count(0) == 1 and used.count(1) == 2


def test_facility_daily_capacity_forces_a_drop() -> None:
    p = line_problem(
        [0, 100, 200, 150],
        [Client(1, {"a": 6}), Client(2, {"a": 6})],
        [Vehicle(0, 0, {"a": 6})],
        [Facility(3, {"a"}, daily_capacity=10)],
    )
    s = solved(p, FAST)
    assert len(s.unassigned) == 1
    assert s.unassigned[0].reason == Reason.CAPACITY


def test_max_collected_and_max_stops() -> None:
    clients = [Client(i, {"a": 3}) for i in range(1, 7)]
    p = line_problem(
        [0, 10, 20, 30, 40, 50, 60, 5],
        clients,
        [Vehicle(0, 0, {"a": 100}, max_collected=9, max_stops=3) for _ in range(2)],
        [Facility(7, {"a"})],
    )
    s = solved(p)
    assert not s.unassigned
    assert sorted(len(r.client_visits) for r in s.routes) == [3, 3]


def test_plain_strategy_and_summary() -> None:
    p = line_problem(
        [0, 100, 200, 300],
        [Client(i, {"a": 1}) for i in (1, 2, 3)],
        [Vehicle(0, 0, {"a": 10}, fixed_cost=5)],
        end_empty=False,
    )
    s = solved(p, SolveParams(time_limit_s=60.0, solution_limit=50, strategy="plain"))
    assert s.stats["strategy"] == "plain"
    summ = s.summary()
    assert summ["distance_m"] == 600
    assert summ["vehicles_used"] == 1
    assert summ["clients_served"] == 3
    assert summ["routes"][0]["stops"] == 3  # type: ignore[index]


def test_progress_callback_gets_called() -> None:
    p = line_problem([0, 100, 200], [Client(i, {"a": 1}) for i in (1, 2)],
                     [Vehicle(0, 0, {"a": 10})], end_empty=False)
    seen: list[tuple[float, int | None]] = []
    solve(p, FAST, lambda f, obj: seen.append((f, obj)))
    assert seen and seen[-1][0] == pytest.approx(1.0)


def test_engine_auto_and_pyvrp_fall_back_to_ortools_for_breaks() -> None:
    p = line_problem(
        [0, 1000, 2000],
        [Client(1, {"a": 1}), Client(2, {"a": 1})],
        [Vehicle(0, 0, {"a": 10}, break_s=600, break_earliest_s=0, break_latest_s=5000)],
        end_empty=False,
    )
    for engine in ("auto", "pyvrp"):
        s = solved(p, SolveParams(time_limit_s=60.0, solution_limit=50, engine=engine))
        assert s.engine == "ortools"
        assert not s.unassigned


def test_engine_auto_gives_a_feasible_plan_when_pyvrp_supports_it() -> None:
    p = line_problem([0, 100, 200, 300], [Client(i, {"a": 1}) for i in (1, 2, 3)],
                     [Vehicle(0, 0, {"a": 10})], end_empty=False)
    s = solved(p, SolveParams(time_limit_s=60.0, solution_limit=50, engine="auto"))
    assert not s.unassigned
    assert s.distance_m == 600


def test_insertion_skips_positions_where_the_load_cannot_fit() -> None:
    """A left-out point next to a full truck: the cheap positions on that truck cannot
    take its kg, so the one try allowed goes to the truck with room (a new trip)."""
    import time

    from optimizer.group import insert_dropped
    from optimizer.jobs import prepare
    from optimizer.model import RoutingModel
    from optimizer.params import Budget

    # depot 0, facility at 1,000 m, the full truck's points at 100-300 m, the
    # other truck's point at 800 m, the left-out point at 200 m: cheapest is to
    # add it to the full truck's trip (+200 m), which its 100 kg cannot take
    xs = [0, 1000, 100, 300, 800, 200]
    clients = [Client(2, {"a": 50}), Client(3, {"a": 50}), Client(4, {"a": 10}),
               Client(5, {"a": 40})]
    trucks = [Vehicle(0, 0, {"a": 100}), Vehicle(0, 0, {"a": 100})]
    p = line_problem(xs, clients, trucks, [Facility(1, {"a"})])
    jobs = prepare(p).jobs
    model = RoutingModel(p, jobs, [0, 1], FAST)
    start = [[("client", 0), ("client", 1), ("facility", 0)], [("client", 2), ("facility", 0)]]
    raw = model.read_result(model.routes_as_indices(start), {})
    assert raw is not None and raw.dropped == [3]
    new = insert_dropped(p, jobs, [0, 1], model, raw,
                         Budget(time.monotonic() + 60.0, counted=True), tries=1)
    assert new is not None and new.dropped == []
    served_by = {rv.ref: rr.vehicle for rr in new.routes for rv in rr.visits
                 if rv.kind == "client"}
    assert served_by[3] == 1
    for rr in new.routes:  # a truck never carries more than 100 kg between unloads
        load = 0
        for rv in rr.visits:
            load = load + jobs[rv.ref].total if rv.kind == "client" else 0
            assert load <= 100
