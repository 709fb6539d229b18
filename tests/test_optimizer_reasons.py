"""Left-out points: served where an insertion fits, else the reason that holds.

Small days on a line (metres = positions, 10 m/s); the solver's part is played by
hand-made routes handed to ``assemble`` (the common exit of the OR-Tools paths).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from optimizer import Client, Facility, Problem, Reason, Solution, Unassigned, Vehicle
from optimizer.assemble import assemble
from optimizer.bench import check_problem_solution
from optimizer.construct import greedy_routes
from optimizer.generate import generate_county_day
from optimizer.jobs import prepare
from optimizer.reasons import explain_solution, insert_or_explain, merge_unassigned, plan_route
from optimizer.routes import RawRoute, RawVisit, Stop, walk


def line(xs: Sequence[int], clients: Sequence[Client], vehicles: Sequence[Vehicle],
         facilities: Sequence[Facility]) -> Problem:
    d = np.array([[abs(a - b) for b in xs] for a in xs], dtype=np.int64)
    return Problem(d, d // 10, tuple(clients), tuple(vehicles), tuple(facilities))


def plan(p: Problem, routes: Sequence[tuple[int, list[Stop]]] = ()) -> Solution:
    """assemble() of hand-made solver routes (earliest times); every other job dropped."""
    prep = prepare(p)
    raws = []
    for g, stops in routes:
        v = p.vehicles[g]
        steps = walk(p, prep.jobs, g, stops, depart_s=v.shift_start_s)
        end = steps[-1].departure_s + int(p.duration_s[steps[-1].location, v.end_location])
        raws.append(RawRoute(g, [RawVisit(s.kind, s.ref, s.start_s)  # type: ignore[arg-type]
                                 for s in steps], v.shift_start_s, end))
    planned = {ref for _, stops in routes for kind, ref in stops if kind == "client"}
    dropped = [ji for ji in range(len(prep.jobs)) if ji not in planned]
    sol = assemble(p, prep.jobs, raws, dropped, prep.unassigned, engine="test", wall_s=0.0,
                   objective=0, stats={})
    assert sol.check(p) == []
    assert check_problem_solution(p, sol).feasible, check_problem_solution(p, sol).errors
    return sol


def reasons(sol: Solution) -> dict[int, Reason]:
    return {u.client: u.reason for u in sol.unassigned}


def served(sol: Solution) -> list[list[int | None]]:
    return [[v.index for v in r.client_visits] for r in sol.routes]


def test_a_left_out_point_that_fits_between_two_stops_is_served() -> None:
    p = line([0, 100, 200, 300, 400], [Client(1, {"a": 3}, service_s=10),
                                       Client(2, {"a": 3}, service_s=10),
                                       Client(3, {"a": 3}, service_s=10)],
             [Vehicle(0, 0, {"a": 10}, shift_end_s=1000)], [Facility(4, {"a"}, unload_s=20)])
    sol = plan(p, [(0, [("client", 0), ("client", 2), ("facility", 0)])])
    assert sol.unassigned == ()
    assert served(sol) == [[0, 1, 2]]
    assert sol.stats["left_out_inserted"] == 1


def test_a_full_truck_serves_the_point_on_a_new_trip_after_an_unload() -> None:
    p = line([0, 100, 200, 300], [Client(1, {"a": 6}, service_s=10),
                                  Client(2, {"a": 6}, service_s=10)],
             [Vehicle(0, 0, {"a": 10}, shift_end_s=1000)], [Facility(3, {"a"}, unload_s=20)])
    sol = plan(p, [(0, [("client", 0), ("facility", 0)])])
    assert sol.unassigned == ()
    kinds = [(v.kind, v.index) for v in sol.routes[0].visits if v.kind in ("client", "facility")]
    assert kinds.count(("facility", 0)) == 2
    assert max(v.load_after["a"] for v in sol.routes[0].visits if v.load_after) == 6


def test_an_idle_truck_takes_what_no_route_has_room_for() -> None:
    p = line([0, 100, 200, 300], [Client(1, {"a": 6}, service_s=10, tw_end_s=30),
                                  Client(2, {"a": 6}, service_s=10, tw_end_s=30)],
             [Vehicle(0, 0, {"a": 10}, shift_end_s=1000)] * 2,
             [Facility(3, {"a"}, unload_s=20)])
    sol = plan(p, [(0, [("client", 0), ("facility", 0)])])
    assert sol.unassigned == ()
    assert sorted(r.vehicle for r in sol.routes) == [0, 1]


def test_no_truck_with_the_compartment() -> None:
    p = line([0, 100, 200, 300], [Client(1, {"a": 3}), Client(2, {"b": 3})],
             [Vehicle(0, 0, {"a": 10})], [Facility(3, {"a", "b"})])
    sol = plan(p)
    assert reasons(sol) == {1: Reason.NO_VEHICLE_FOR_CATEGORY}
    # the same for another engine's unproven answer
    other = Solution(sol.routes, (Unassigned(1, {"b": 3}, Reason.NOT_ENOUGH_VEHICLES),))
    assert reasons(explain_solution(p, other, deadline=1e18)) == {
        1: Reason.NO_VEHICLE_FOR_CATEGORY}


def test_a_window_that_only_a_shift_without_its_break_could_reach() -> None:
    # 100 s out; the break (200 s, starting by 50 s) must come first, so the
    # earliest arrival is 300 s, after the window closes at 150 s
    brk = {"break_s": 200, "break_earliest_s": 0, "break_latest_s": 50}
    p = line([0, 1000, 500, 600], [Client(1, {"a": 3}, service_s=10, tw_end_s=150),
                                   Client(2, {"a": 3}, service_s=10)],
             [Vehicle(0, 0, {"a": 10}, shift_end_s=2000, **brk)],
             [Facility(3, {"a"}, unload_s=20)])
    assert prepare(p).unassigned == []  # the pre-check does not see breaks
    sol = plan(p)
    assert reasons(sol) == {0: Reason.TIME_WINDOW_UNREACHABLE}
    assert served(sol) == [[1]]


def test_a_facility_that_closes_before_a_truck_with_its_break_gets_there() -> None:
    # client 100 s out, facility 100 s further, closing at 400 s; the break (200 s)
    # must start between 150 s and 160 s: before the unload it makes the truck late,
    # after the unload is too late for it
    brk = {"break_s": 200, "break_earliest_s": 150, "break_latest_s": 160}
    p = line([0, 1000, 2000], [Client(1, {"a": 3}, service_s=10)],
             [Vehicle(0, 0, {"a": 10}, shift_end_s=3000, **brk)],
             [Facility(2, {"a"}, unload_s=10, close_s=400)])
    assert prepare(p).unassigned == []
    sol = plan(p)
    assert reasons(sol) == {0: Reason.FACILITY_CLOSED}


def test_a_facility_full_for_the_day() -> None:
    p = line([0, 100, 200, 300], [Client(1, {"a": 8}, service_s=10),
                                  Client(2, {"a": 8}, service_s=10)],
             [Vehicle(0, 0, {"a": 10})] * 2, [Facility(3, {"a"}, daily_capacity=10)])
    sol = plan(p)
    assert len(sol.unassigned) == 1
    assert sol.unassigned[0].reason is Reason.CAPACITY
    assert sum(len(r.client_visits) for r in sol.routes) == 1


def test_not_enough_vehicles_when_no_route_and_no_idle_truck_has_room() -> None:
    # truck 0's shift holds two of the three points; truck 1 is idle, but its break
    # (500 s, starting by 50 s) leaves no time for any of them; each point alone fits
    # truck 0
    xs = [0, 1000, 1000, 1000, 1000]
    clients = [Client(1, {"a": 1}, service_s=300), Client(2, {"a": 1}, service_s=300),
               Client(3, {"a": 1}, service_s=300)]
    brk = {"break_s": 500, "break_earliest_s": 0, "break_latest_s": 50}
    p = line(xs, clients, [Vehicle(0, 0, {"a": 10}, shift_end_s=900),
                           Vehicle(0, 0, {"a": 10}, shift_end_s=900, **brk)],
             [Facility(4, {"a"})])
    assert prepare(p).jobs[2].vehicles == (0, 1)
    sol = plan(p, [(0, [("client", 0), ("client", 1), ("facility", 0)])])
    assert reasons(sol) == {2: Reason.NOT_ENOUGH_VEHICLES}
    assert sol.stats["left_out_bounded"] == 0
    # given the day again, the pass finds nothing more to insert
    again = insert_or_explain(p, sol.routes, prepare(p).jobs[2:], deadline=1e18)
    assert [r for _, r in again.left_out] == [Reason.NOT_ENOUGH_VEHICLES]


def test_a_point_of_three_compartments_is_served_when_one_order_of_unloads_empties_it() -> None:
    # the facility taking two of them is far; the one taking the third closes soon,
    # so the truck must unload there first
    p = line([0, 100, 200, 1000], [Client(1, {"x": 1, "y": 1, "z": 1})],
             [Vehicle(0, 0, {"x": 5, "y": 5, "z": 5})],
             [Facility(3, {"x", "y"}), Facility(2, {"z"}, close_s=40)])
    assert prepare(p).unassigned == []
    sol = plan(p)
    assert sol.unassigned == ()
    assert [v.index for v in sol.routes[0].visits if v.kind == "facility"] == [1, 0]


def test_past_its_time_bound_a_point_tried_in_the_nearest_routes_only_is_counted() -> None:
    # four trucks whose one allowed stop is beside the point, and one far away with room
    xs = [0, 5000, 5000, 5000, 5000, 5000, 100, 2500]
    clients = [Client(1, {"a": 1})] + [Client(i, {"a": 1}) for i in range(2, 7)]
    vehicles = [Vehicle(0, 0, {"a": 10}, max_stops=1)] * 4 + [Vehicle(0, 0, {"a": 10})]
    p = line(xs, clients, vehicles, [Facility(7, {"a"})])
    jobs = prepare(p).jobs
    routes = []
    for g, ji in enumerate([1, 2, 3, 4, 5]):
        got = plan_route(p, jobs, g, [("client", ji), ("facility", 0)])
        assert got is not None
        routes.append(got.route)
    late = insert_or_explain(p, routes, jobs[:1], deadline=0.0)
    assert [r for _, r in late.left_out] == [Reason.NOT_ENOUGH_VEHICLES]
    assert late.stats["left_out_bounded"] == 1
    in_time = insert_or_explain(p, routes, jobs[:1], deadline=1e18)
    assert in_time.left_out == []
    sol = Solution(tuple(in_time.routes), ())
    assert sol.check(p) == []
    assert check_problem_solution(p, sol).feasible
    assert [v.index for v in in_time.routes[4].client_visits] == [5, 0]


def test_another_engines_left_out_point_that_fits_is_served() -> None:
    p = line([0, 100, 200, 300], [Client(1, {"a": 3}, service_s=10),
                                  Client(2, {"a": 3}, service_s=10)],
             [Vehicle(0, 0, {"a": 10}, shift_end_s=1000)], [Facility(3, {"a"}, unload_s=20)])
    alone = plan_route(p, prepare(p).jobs, 0, [("client", 0), ("facility", 0)])
    assert alone is not None
    other = Solution((alone.route,), (Unassigned(1, {"a": 3}, Reason.NOT_ENOUGH_VEHICLES),))
    sol = explain_solution(p, other, deadline=1e18)
    assert sol.unassigned == ()
    assert served(sol) == [[0, 1]]
    assert sol.check(p) == []
    assert check_problem_solution(p, sol).feasible


def test_an_optional_point_is_served_only_where_it_costs_less_than_its_penalty() -> None:
    # the detour to the point at 5 km adds 9.6 km (cost 9.6 at 1 per km)
    def day(penalty: int) -> Problem:
        return line([0, 100, 5000, 200], [Client(1, {"a": 1}), Client(2, {"a": 1},
                                                                        penalty=penalty)],
                    [Vehicle(0, 0, {"a": 10})], [Facility(3, {"a"})])

    cheap = plan(day(9), [(0, [("client", 0), ("facility", 0)])])
    assert [u.client for u in cheap.unassigned] == [1]
    dear = plan(day(11), [(0, [("client", 0), ("facility", 0)])])
    assert dear.unassigned == ()


def test_a_generated_day_started_on_half_its_fleet_ends_with_nothing_that_still_fits() -> None:
    for seed in (0, 1):
        p = generate_county_day(80, seed, fleet_slack=0.8)
        prep = prepare(p)
        half = list(range(len(p.vehicles) // 2))
        seqs = greedy_routes(p, prep.jobs, half)
        routes = []
        for g, seq in zip(half, seqs, strict=True):
            if seq:
                got = plan_route(p, prep.jobs, g, seq)
                assert got is not None  # a feasible start is read back as it is
                routes.append(got.route)
        planned = {ref for seq in seqs for kind, ref in seq if kind == "client"}
        left = [j for ji, j in enumerate(prep.jobs) if ji not in planned]
        res = insert_or_explain(p, routes, left, deadline=1e18)
        assert res.stats["left_out_inserted"] > 0
        assert res.stats["left_out_bounded"] == 0
        sol = Solution(tuple(res.routes), tuple(sorted(
            [*prep.unassigned, *merge_unassigned(res.left_out)], key=lambda u: u.client)))
        assert sol.check(p) == []
        assert check_problem_solution(p, sol).feasible
        # what is still left out fits nowhere in the routes the pass ended with
        again = insert_or_explain(p, res.routes, [j for j, _ in res.left_out], deadline=1e18)
        assert again.stats["left_out_inserted"] == 0
