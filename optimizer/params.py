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
    #: target number of visits per sub-problem when decomposing
    chunk_size: int = 500

    @classmethod
    def from_toml(cls, path: str | Path) -> SolveParams:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        data = data.get("solve", data)
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
