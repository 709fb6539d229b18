"""solve(problem, params) -> Solution. Never prints; logs through `logging`.

Strategies (``SolveParams.strategy``):

* ``"plain"``: the peer in benchmark tables: the same model, PATH_CHEAPEST_ARC +
  GUIDED_LOCAL_SEARCH, OR-Tools defaults otherwise, no decomposition, no greedy start.
* ``"auto"`` (default): one OR-Tools model per independent group of compartments
  (``group.solve_by_groups``; facility daily capacity handed on from group to
  group), the budget shared by jobs and by what the greedy start left out. For
  days that must end empty at facilities the first solution is the best of a few
  greedy multi-trip constructions (``construct.best_greedy``) with a spare unload
  at the end of each route; otherwise LOCAL_CHEAPEST_INSERTION, SAVINGS,
  PARALLEL_CHEAPEST_INSERTION and PATH_CHEAPEST_ARC are tried in turn within 30 %
  of the budget. Then GLS; after at most 80 % of the budget (less when the greedy
  start left many jobs out) the dropped jobs are inserted where the model reads
  the routes back feasible (``group.insert_dropped``), and GLS again. Above
  ``params.decompose_above`` visits, or for big groups with breaks
  (``partition.should_decompose``), the day is cut into sub-problems
  (``large.solve_large``) followed by repair rounds and neighbourhood re-planning.
* any OR-Tools first-solution strategy name: that one, then GLS.

Engines: ``"ortools"`` (default); ``"pyvrp"`` / ``"auto"`` use
``optimizer.pyvrp_engine`` when ``supports(problem)`` says its model covers every
rule, else OR-Tools.

Both cores (``SolveParams.engines``, ``optimizer.portfolio``): by default PyVRP's
search on the bureau's cost (``optimizer.hgs``) runs in a child process beside the
path above, its routes read back by OR-Tools; the plan that serves more jobs, then
costs less, is kept (``Solution.engine`` names it, ``stats`` holds both). Days
planned by regions run the OR-Tools path alone in each region.

The pass over the jobs the searches left out (``assemble``) comes out of the time
limit (``left_out_reserve_s``): ``solve()`` ends within ``time_limit_s``.

With ``params.solution_limit`` every search and loop is bounded by counts, not
by the clock, and the same problem and seed give the same Solution anywhere.
How a plan is read (arrival, start, departure, breaks): ``optimizer.assemble``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace

from optimizer import hgs, portfolio
from optimizer.assemble import assemble
from optimizer.city import CityProblem
from optimizer.eliminate import eliminate_routes
from optimizer.group import solve_by_groups
from optimizer.jobs import Prepared, prepare
from optimizer.large import solve_large
from optimizer.params import Budget, Progress, SolveParams
from optimizer.partition import should_decompose
from optimizer.problem import Problem
from optimizer.pyvrp_engine import solve_pyvrp, supports
from optimizer.regions import solve_city
from optimizer.routes import RawResult
from optimizer.solution import Solution

log = logging.getLogger(__name__)

#: share of the time limit kept for the pass over left-out jobs (``left_out_reserve_s``)
LEFT_OUT_SHARE = 0.04
LEFT_OUT_SHARE_ALONE = 0.1
LEFT_OUT_MIN_S = 0.3
LEFT_OUT_MAX_S = 30.0


def solve(problem: Problem, params: SolveParams | None = None,
          progress: Progress | None = None) -> Solution:
    """Plan routes for `problem` within `params.time_limit_s`.

    `progress(fraction_of_time_used, best_objective_or_None)` is called now and
    then (from the solver thread) so a caller can draw a progress bar.
    """
    params = params or SolveParams()
    if isinstance(problem, CityProblem):
        # no full matrix: regions on the planning cluster, each solved by this function
        # with the OR-Tools path alone (the cluster's workers are the cores)
        return solve_city(problem, replace(params, engines="ortools"), solve, progress)
    t0 = time.monotonic()
    if params.engine in ("pyvrp", "auto"):
        sol = _try_pyvrp(problem, params)
        if sol is not None:
            return sol
    prep = prepare(problem)
    # the pass over left-out jobs (assemble) comes out of the time limit: the searches
    # end that much earlier and the pass stops at the limit
    end = t0 + params.time_limit_s
    params = replace(params, time_limit_s=max(
        0.1, params.time_limit_s - left_out_reserve_s(params.time_limit_s, len(prep.jobs), params)))
    how = portfolio.mode(params, len(prep.jobs))
    engine = "ortools"
    if how == "ortools":
        raw = _ortools_path(problem, params, prep, t0, progress)
    else:
        deadline = t0 + params.time_limit_s
        if how == "parallel":
            child = portfolio.HgsProcess(problem, prep.jobs, params, deadline,
                                         wait_until=(deadline + end) / 2)
            raw = _ortools_path(problem, params, prep, t0, progress)
            ours = child.result()
        else:
            ours = hgs.plan(problem, prep.jobs, params, deadline)
            # nothing feasible from PyVRP: the OR-Tools path gets a short budget
            # rather than leaving the whole day out
            raw = RawResult([], list(range(len(prep.jobs))), 0, False, {}) \
                if ours is not None else _ortools_path(problem, replace(
                    params, time_limit_s=max(5.0, deadline - time.monotonic())),
                    prep, time.monotonic(), progress)
        if ours is not None:
            pick = portfolio.better(problem, prep.jobs, raw, ours)
            engine = "hgs" if pick is ours else "ortools"
            pick.stats.update({
                "engines": how, "dropped_ortools": len(raw.dropped), "dropped_hgs": len(ours.dropped),
                "cost_ortools": round(portfolio.day_cost(problem, prep.jobs, raw) / 1000, 1),
                "cost_hgs": round(portfolio.day_cost(problem, prep.jobs, ours) / 1000, 1),
                **{k: v for k, v in ours.stats.items() if k.startswith("hgs")}})
            if pick is raw and ours.dropped and portfolio.day_cost(
                    problem, prep.jobs, ours) < portfolio.day_cost(problem, prep.jobs, raw):
                # PyVRP's plan is cheaper but leaves more out: assembly puts left-out
                # jobs wherever they fit, so both are assembled (each in half the time
                # left) and compared
                alt = assemble(problem, prep.jobs, ours.routes, ours.dropped, prep.unassigned,
                               engine="hgs", wall_s=time.monotonic() - t0,
                               objective=ours.objective, stats={**raw.stats, **ours.stats},
                               deadline=(time.monotonic() + end) / 2)
                sol = assemble(problem, prep.jobs, raw.routes, raw.dropped, prep.unassigned,
                               engine=engine, wall_s=time.monotonic() - t0,
                               objective=raw.objective, stats=raw.stats, deadline=end)
                sol = portfolio.better_solution(problem, sol, alt)
                if progress is not None:
                    progress(1.0, sol.objective)
                return sol
            raw = pick
    sol = assemble(problem, prep.jobs, raw.routes, raw.dropped, prep.unassigned,
                   engine=engine, wall_s=time.monotonic() - t0, objective=raw.objective,
                   stats=raw.stats, deadline=end)
    if progress is not None:
        progress(1.0, sol.objective)
    return sol


def left_out_reserve_s(time_limit_s: float, n_jobs: int, params: SolveParams) -> float:
    """Seconds of ``time_limit_s`` kept after the searches for the pass over the jobs
    they left out (``assemble``: inserted where they fit, else explained).

    Days the OR-Tools path plans alone (``portfolio.mode``: the regions of a city day,
    days above ``params.eliminate_max_jobs`` visits, where the parts leave hundreds of
    jobs out) keep ``LEFT_OUT_SHARE_ALONE`` (the 3 s repair searches of a city day need
    their time: a floor of 2 s, half of it, left a point of the 10,000-point demo city
    out); the others, whose PyVRP read-back serves what it can, ``LEFT_OUT_SHARE``.
    Both at least ``LEFT_OUT_MIN_S``, never above half the limit nor ``LEFT_OUT_MAX_S``."""
    alone = portfolio.mode(params, n_jobs) == "ortools"
    share = LEFT_OUT_SHARE_ALONE if alone else LEFT_OUT_SHARE
    return min(LEFT_OUT_MAX_S, 0.5 * time_limit_s, max(LEFT_OUT_MIN_S, share * time_limit_s))


def _ortools_path(problem: Problem, params: SolveParams, prep: Prepared, t0: float,
                  progress: Progress | None) -> RawResult:
    """Groups or parts of the day in OR-Tools models, then route elimination."""
    jobs = prep.jobs
    decomposed = params.strategy != "plain" and should_decompose(problem, params, prep)
    share = elimination_share(problem, params, len(jobs))
    main = replace(params, time_limit_s=params.time_limit_s * (1.0 - share))
    if decomposed and share > 0:
        # the parts keep the time they had: elimination comes out of the re-planning
        # of neighbourhoods, which it ends with anyway
        parts = 1.0 - params.neighbourhood_share
        main = replace(main, neighbourhood_share=max(0.0, 1.0 - parts / (1.0 - share)))
    main_progress = progress
    if progress is not None and share > 0:
        def main_progress(fraction: float, best: int | None) -> None:
            progress(fraction * (1.0 - share), best)
    if decomposed:
        raw = solve_large(problem, main, jobs, t0, main_progress)
    else:
        raw = solve_by_groups(problem, main, jobs, t0, main_progress)
    if share > 0 and raw.routes:
        routes, dropped, stats = eliminate_routes(problem, params, jobs, raw.routes,
                                                  raw.dropped, Budget.of(params, t0))
        raw = RawResult(routes, dropped, raw.objective, raw.found, {**raw.stats, **stats})
    return raw


def elimination_share(problem: Problem, params: SolveParams, n_jobs: int) -> float:
    """The share of the budget kept for route elimination: none in plain mode, when
    no vehicle has a fixed cost (no route is worth emptying) or above
    ``params.eliminate_max_jobs`` visits (the parts need all the time to serve the day)."""
    if params.strategy == "plain" or n_jobs > params.eliminate_max_jobs \
            or not any(v.fixed_cost > 0 for v in problem.vehicles):
        return 0.0
    return min(0.9, max(0.0, params.eliminate_share))


def _try_pyvrp(problem: Problem, params: SolveParams) -> Solution | None:
    """PyVRP's plan where its model covers every rule of the problem, else None."""
    try:
        if not supports(problem):
            return None
        return solve_pyvrp(problem, params)
    except Exception:  # noqa: BLE001 - any failure of the optional engine falls back
        log.exception("pyvrp engine failed; using OR-Tools")
        return None
