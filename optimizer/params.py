"""Solver parameters."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from pathlib import Path


@dataclass(frozen=True, slots=True)
class SolveParams:
    time_limit_s: float = 30.0
    seed: int = 0
    #: "auto" lets solve() choose; otherwise an OR-Tools first-solution strategy name
    strategy: str = "auto"
    #: "ortools" (every rule) or "pyvrp" (where its model covers the problem) or "auto"
    engine: str = "ortools"
    #: weight of route duration in the objective (per second), small by default
    duration_weight: float = 0.0
    #: workload balance: GlobalSpan coefficient on route duration (0 = off)
    balance_weight: int = 0
    num_workers: int = 1
    #: above this many visits the day is cut into sub-problems (clusters)
    decompose_above: int = 1200
    #: with breaks, a compartment group of more visits than this is decomposed too
    #: (generated 1,100-client day, group of 691, 60 s: one model 5,419 km and 17 left
    #: out; decomposed 4,928 km and 7)
    decompose_group_above: int = 600
    #: target number of visits per sub-problem when decomposing. Small on purpose:
    #: OR-Tools (9.15) fails to restore the greedy start of larger models with
    #: breaks (status FAIL in 0.2 s, even for routes a schedule shows feasible), and
    #: the part is then left with its greedy routes; at 1,500 clients (60 s) 500
    #: gave 6,699 km, 300 gave 6,202 km, 250 gave 6,105 km (docs/benchmarks.md)
    chunk_size: int = 250
    #: share of a decomposed day's budget spent re-planning neighbouring routes
    #: across part borders (decompose.improve_neighbourhoods); 1,500 clients at 60 s:
    #: 0 -> 6,105 km (13 left out), 0.3 -> 6,058 (6), 0.5 -> 6,063 (0), 0.7 -> 6,159 (0)
    neighbourhood_share: float = 0.5

    @classmethod
    def from_toml(cls, path: str | Path) -> SolveParams:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        data = data.get("solve", data)
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
